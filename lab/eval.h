// Evaluating one mixer: sanity gates, then training and testing on each task
// of a preset. What `asiarch eval` runs, and what a worker runs per candidate.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/gates.h"
#include "lab/presets.h"
#include "lab/test_set.h"
#include "lab/train.h"

namespace asiarch::lab {

struct EvalOptions {
  std::vector<std::string> tasks;  // empty: every task of the preset
  std::uint64_t seed = 0;
  bool run_gates = true;  // false: a further seed of a mixer whose gates passed; train and test only
  std::string mixer_options;
  bool declared_quadratic = false;
  int64_t reference_parameters = 0;         // DeltaNet's, for the budget gate
  std::map<std::string, Reference> references;  // per task, for the quality monitor
  // Stop a run clearly behind its reference (MonitorConfig), and then the evaluation: its later
  // tasks are not trained. Off for further seeds, rungs and held-out runs of a design already scored.
  bool early_stop = false;
  std::string corpus;                       // for byte_lm
  // Tasks handed over by a trusted process, by name: their training rows, and as test rows the
  // rows of its TestPlan without targets (lab/test_set.h). Tasks not here are generated.
  std::map<std::string, TaskData> given_tasks;
  // When set, each trained model's test logits go here (the test rows in blocks) and the metric
  // is left to whoever holds the targets: the results' metrics are NaN.
  std::function<void(const std::string& task, int64_t first_row, const torch::Tensor& logits)> test_sink;
  // Where the model trains: the CPU, or the worker's GPU (lab/device.h). Test logits come back to
  // the CPU whatever it is.
  torch::Device device = torch::kCPU;
  // The complexity gate's timing marks (GateConfig::mark).
  std::function<void(const std::string& label)> timing_mark;
  // Optional structured progress: {"kind": "gates_started"}, {"kind": "gate", "name", "passed", "reason"},
  // {"kind": "task_started", "task", "steps"}, {"kind": "training_progress", "task", "step", "steps",
  // "loss"}, {"kind": "task_finished", "task", "metric_name", "metric", "steps", "stop_reason"}.
  std::function<void(const nlohmann::json&)> progress;
};

struct EvalReport {
  std::string mixer;
  std::string preset;
  int64_t mixer_parameters = 0;  // one mixer at the preset's d_model
  std::vector<GateResult> gates;
  bool gates_passed = false;
  std::vector<TaskResult> tasks;
  double seconds = 0;
  double gates_seconds = 0;  // of `seconds`: the gates (a share of an experiment's time, bench/discovery_throughput)
};

// The preset's tasks named in `names` (all when empty); an unknown name is an
// error listing the valid ones.
Result<std::vector<std::pair<std::string, nlohmann::json>>> select_tasks(const Preset& preset,
                                                                         const std::vector<std::string>& names);

// Runs the gates; if they pass, trains and tests on every selected task.
// Plugin exceptions never escape: they become failed gates or stop reasons.
Result<EvalReport> evaluate_mixer(const std::string& mixer_name, const MixerFactory& make_mixer,
                                  const Preset& preset, const EvalOptions& options);

Reference reference_from(const TaskResult& r);

// Why the trained model failed a probe (learning outside its parameters, the causality probe on
// the trained model, or the probe rows of its test, on any task): "task: reason"; empty when
// every probe that ran passed. An evaluation
// with such a failure is not sound whatever its gates said.
std::string trained_probe_failure(const EvalReport& r);

void to_json(nlohmann::json& j, const TaskResult& r);
void from_json(const nlohmann::json& j, TaskResult& r);
void to_json(nlohmann::json& j, const EvalReport& r);
void from_json(const nlohmann::json& j, EvalReport& r);

// One progress message as a line for a person ("task byte_lm: step 20/40, loss 3.21").
std::string describe_progress(const nlohmann::json& message);

// A plain-text table: gates, then per task metric, steps, tokens/s and time.
std::string format_report(const EvalReport& r);

}  // namespace asiarch::lab
