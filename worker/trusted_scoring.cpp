#include "worker/trusted_scoring.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "lab/corpus.h"
#include "lab/names.h"
#include "lab/tasks.h"
#include "util/format.h"
#include "worker/lab_setup.h"

namespace asiarch::host {
namespace {

std::vector<int64_t> rows_of(const std::vector<lab::Example>& examples, bool targets) {
  std::vector<int64_t> out;
  for (const auto& e : examples) {
    const auto& v = targets ? e.target : e.input;
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace

// An evaluate job's tasks, made here: the worker gets their training rows and the test rows of a
// TestPlan (probe rows mixed in), never a test target; the host keeps a scorer per task.
// Appends the tasks' headers to `message` and their data to `blobs`.
Status plan_tests(RunningJob& worker, const WorkerJob& job, nlohmann::json& message,
                  std::vector<std::shared_ptr<const std::string>>& blobs) {
  auto preset = load_preset_arg(job.preset, job.presets_file);
  if (!preset) return preset.error();
  auto tasks = lab::select_tasks(*preset, job.tasks);
  if (!tasks) return tasks.error();
  std::map<std::string, std::string> corpora;  // by name, loaded when a byte_lm task names it
  TaskCache fresh;  // when the job's owner keeps none
  TaskCache& cache = worker.task_cache ? *worker.task_cache : fresh;
  std::random_device secret;  // where the probe rows sit: nothing the worker can derive
  worker.tests.clear();
  worker.gate_lengths = preset->gate_lengths;
  worker.next_mark = 0;
  worker.clock_marks.clear();
  message["tasks"] = nlohmann::json::array();
  for (const auto& [name, settings] : *tasks) {
    const std::string key = job.presets_file + "|" + job.preset + "|" + name + "|" + std::to_string(job.seed);
    auto& entry = cache.entries[key];
    if (!entry) {
      std::string corpus_name;
      if (lab::task_reads_corpus(name)) {
        corpus_name = settings.value("corpus", "kjv");
        if (!corpora.count(corpus_name)) {
          auto c = lab::load_corpus(job.cache_dir, corpus_name);
          if (!c) {
            cache.entries.erase(key);
            return c.error();
          }
          corpora[corpus_name] = std::move(*c);
        }
      }
      auto data = lab::make_task(name, settings, job.seed, corpus_name.empty() ? "" : corpora[corpus_name]);
      if (!data) {
        cache.entries.erase(key);
        return data.error();
      }
      auto e = std::make_shared<TaskCache::Entry>();
      e->train_rows = static_cast<int64_t>(data->train.size());
      e->train_inputs = std::make_shared<const std::string>(int32_bytes(rows_of(data->train, false)));
      e->train_targets = std::make_shared<const std::string>(int32_bytes(rows_of(data->train, true)));
      data->train.clear();  // the host keeps only what scoring needs
      e->task = std::move(*data);
      entry = std::move(e);
    }
    const lab::TaskData& data = entry->task;
    const int64_t n_test = static_cast<int64_t>(data.test.size());
    lab::TestPlan plan = lab::plan_test(data, (std::uint64_t{secret()} << 32) ^ secret(),
                                        std::clamp<int64_t>(n_test / 8, 2, 16));
    message["tasks"].push_back({{"name", name},
                                {"vocab", data.vocab},
                                {"seq_len", data.seq_len},
                                {"metric", data.metric == lab::Metric::accuracy ? "accuracy" : "bits_per_byte"},
                                {"decode_from_last", data.decode_from_last},
                                {"train_rows", entry->train_rows},
                                {"test_rows", plan.rows},
                                {"length", plan.length}});
    blobs.push_back(entry->train_inputs);
    blobs.push_back(entry->train_targets);
    blobs.push_back(std::make_shared<const std::string>(int32_bytes(plan.inputs)));
    HostTest t{lab::TestScorer(data, std::move(plan)), data.metric == lab::Metric::accuracy ? "accuracy" : "bits_per_byte",
               lab::worst_metric(data)};
    worker.tests.emplace(name, std::move(t));
  }
  return Ok{};
}

// The metric and the probes of one task, from the host's own scorer: what the worker said of
// them is never used. A task trained without its test predictions gets the worst metric.
void score_task(RunningJob& job, lab::TaskResult& r) {
  auto it = job.tests.find(r.task);
  if (it == job.tests.end()) return;
  HostTest& t = it->second;
  r.metric_name = t.metric_name;
  r.metric = t.worst;
  r.scored_by_host = true;
  r.test_probe.reset();
  if (!t.scorer.complete()) {
    if (r.completed())
      r.stop_reason = "no test predictions from the worker (" + std::to_string(t.scorer.rows_received()) + " rows came)";
    return;
  }
  if (r.causality_probe && !r.causality_probe->passed) return;
  if (r.parameters_probe && !r.parameters_probe->passed) return;
  // A diverged run keeps the worst metric, as one scored in-process does (lab/train.h): its test
  // predictions come from the last state before the loss went non-finite, and a design whose
  // training diverges on some seeds must not be averaged as if it had trained on them.
  if (lab::diverged(r.stop_reason)) return;
  if (lab::too_slow(r.stop_reason)) return;  // trained on part of its budget: not a measurement
  r.test_probe = t.scorer.probes();
  // The probe rows' share of the test's predictions: what they cost the worker.
  r.test_probe->seconds = r.eval_seconds * static_cast<double>(t.scorer.probe_rows()) / static_cast<double>(t.scorer.rows());
  if (!r.test_probe->passed) {
    r.stop_reason = r.test_probe->reason;
    return;
  }
  const double m = t.scorer.metric();
  if (!std::isfinite(m)) {
    r.stop_reason = "non-finite test logits";
    return;
  }
  r.metric = m;
}

// The complexity gate as the host measured it: per length, the fastest of its runs by the
// kernel's count of the whole worker's CPU time, between the marks the worker waited on. The
// worker's own measure can only fail the gate, never pass it.
void judge_complexity(const RunningJob& job, lab::GateResult& g) {
  if (g.name != "complexity" || g.reason.rfind("not run", 0) == 0 || g.reason.rfind("plugin threw", 0) == 0) return;
  if (!g.details.is_object()) g.details = nlohmann::json::object();
  std::map<double, double> best;  // length -> seconds
  for (size_t i = 1; i < job.clock_marks.size(); ++i) {
    const auto& m = job.clock_marks[i];
    if (m.label == "start") continue;
    const double length = std::atof(m.label.c_str()), d = m.cpu - job.clock_marks[i - 1].cpu;
    if (length <= 0 || !std::isfinite(d)) continue;
    auto [it, fresh] = best.emplace(length, d);
    if (!fresh) it->second = std::min(it->second, d);
  }
  const double limit = lab::GateConfig{}.max_exponent;
  g.details["host_clock"] = job.process.confinement.cpu_clock;
  if (best.size() < 2) {
    if (job.quadratic_reference) return;
    g.passed = false;
    g.reason = "the worker's runs could not be timed: it sent no timing marks";
    return;
  }
  std::vector<double> lengths, seconds;
  for (const auto& [l, t] : best) {
    lengths.push_back(l);
    seconds.push_back(t);
  }
  const double e = lab::time_exponent(lengths, seconds);
  g.details["host_seconds"] = seconds;
  g.details["host_time_exponent"] = e;
  // A clock of 10 ms ticks cannot time runs of a few ms: then the worker's measure stands alone.
  if (*std::min_element(seconds.begin(), seconds.end()) < 20 * job.clock_resolution) {
    g.details["host_clock"] = job.process.confinement.cpu_clock + " (too coarse for these runs)";
    return;
  }
  if (job.quadratic_reference || e < limit || !g.passed) return;
  g.passed = false;
  g.reason = "time ~ L^" + format_number(e, "%.3g") +
             " by the kernel's count of the whole worker's CPU time: not sub-quadratic (limit " +
             format_number(limit, "%.3g") + ")";
}

// A result's tasks as the host scored them; tasks the host did not plan are dropped.
void score_report(RunningJob& job, WorkerResult& result) {
  if (!result.report || job.tests.empty()) return;
  auto& tasks = result.report->tasks;
  tasks.erase(std::remove_if(tasks.begin(), tasks.end(), [&](const lab::TaskResult& t) { return !job.tests.count(t.task); }),
              tasks.end());
  for (auto& t : tasks) score_task(job, t);
  if (!result.report->gates_passed) return;  // untrained: no task is due
  // An evaluation the monitor stopped early trains no further task; the claim can only cost the
  // worker its score (the experiment is then never scored), so it is taken as said.
  std::string stopped_on;
  for (const auto& t : tasks)
    if (lab::stopped_early(t.stop_reason)) stopped_on = t.task;
  for (const auto& [name, test] : job.tests)
    if (std::none_of(tasks.begin(), tasks.end(), [&](const lab::TaskResult& t) { return t.task == name; })) {
      lab::TaskResult missing;
      missing.task = name;
      missing.metric_name = test.metric_name;
      missing.metric = test.worst;
      missing.final_loss = std::nan("");
      missing.stop_reason = stopped_on.empty() ? "the worker reported nothing for this task"
                                               : "not trained: the evaluation stopped early on " + stopped_on;
      missing.scored_by_host = true;
      tasks.push_back(std::move(missing));
    }
}

// One block of test logits for the host's scorer.
Status take_logits(RunningJob& job, std::string bytes) {
  auto it = job.tests.find(job.logits_task);
  if (it == job.tests.end()) return make_error("test logits for an unknown task");
  const auto& shape = job.logits_shape;
  const auto values = static_cast<int64_t>(bytes.size() / sizeof(float));
  const bool sized = bytes.size() % sizeof(float) == 0 && shape.size() == 3 &&
                     std::all_of(shape.begin(), shape.end(), [&](int64_t d) { return d >= 1 && d <= values; }) &&
                     shape[0] * shape[1] <= values && shape[0] * shape[1] * shape[2] == values;
  if (!sized) return make_error("test logits of the wrong size");
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = torch::from_blob(bytes.data(), shape, torch::kFloat);
  auto st = it->second.scorer.add(job.logits_first, logits);
  job.trusted_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st) return make_error("test logits for " + job.logits_task + ": " + st.error().message);
  return Ok{};
}

}  // namespace asiarch::host
