// Training and evaluation of a LanguageModel on one task, with a quality
// monitor that stops runs that diverge, are clearly behind the reference's
// loss at the same step (early stopping), or run far longer than it did.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lab/model.h"
#include "lab/probes.h"
#include "lab/tasks.h"

namespace asiarch::lab {

struct TrainConfig {
  int64_t steps = 200;
  int64_t batch_size = 32;
  double lr = 3e-3;
  double weight_decay = 0.1;
  double warmup_frac = 0.1;
  double min_lr_frac = 0.1;   // cosine decays to lr * min_lr_frac
  double grad_clip = 1.0;
  // The threads this run may use: the preset's, which the program set as
  // LibTorch's count (lab/threads.h; the trainer does not set it). With
  // threads > 1, each step's batch is split into `threads` shards whose
  // forward and backward run side by side, one thread each (ops single-
  // threaded); otherwise each op is parallelised. At the lab's sizes most ops
  // are too small to split well, so shards are faster (docs/performance.md).
  int threads = 2;
  bool shard_batch = true;
  std::uint64_t seed = 0;
  int64_t log_points = 20;    // loss-curve points recorded over the run
};

using Curve = std::vector<std::pair<int64_t, double>>;  // (step, mean training loss)

// What the reference design did on the same task and preset: its loss curve (the mean over its
// seeds), and, from two seeds on, the standard deviation over seeds at each of its points.
struct Reference {
  Curve curve;
  Curve spread;  // empty with one seed
  int seeds = 1;
  double seconds = 0;
};

// The quality monitor. Early stopping: at the first curve point at or past each fraction in
// `stop_at` of the steps, a run whose mean training loss exceeds the reference's at that step by
// more than max(stop_sigmas * the reference's spread over seeds, stop_min_gap * its loss) stops.
// Only against a reference measured on two seeds or more: the spread is the noise. The defaults
// stop none of the 24 designs of a `first` campaign (and clear losers, such as a mixer without
// token mixing); 4 spreads stopped 5, three of them in the top ten (docs/performance.md).
struct MonitorConfig {
  bool early_stop = true;  // off: only divergence and time stop a run
  std::vector<double> stop_at = {0.25, 0.5};
  double stop_sigmas = 6.0;
  double stop_min_gap = 0.2;
  double time_factor = 4.0;  // stop if training takes > factor * the reference's time
};

// The reference over several seeds' curves of one task (at least two, logged at the same steps):
// the mean curve and the sample standard deviation at each point. nullopt where the steps differ.
std::optional<Reference> reference_over_seeds(const std::vector<Curve>& curves);

// The loss above which a run at `step` is stopped early; nullopt where the reference has no point
// there or was measured on one seed.
std::optional<double> early_stop_bound(const Reference& reference, const MonitorConfig& monitor, int64_t step);

struct TaskResult {
  std::string task;
  std::string metric_name;  // "accuracy" or "bits_per_byte"
  double metric = 0;        // on the test set; accuracy is class-macro-averaged
  double final_loss = 0;
  int64_t steps = 0;        // steps actually taken
  double tokens_per_second = 0;
  double train_seconds = 0;
  double eval_seconds = 0;
  // The most bytes of LibTorch CPU allocations live at once while training, above the level at its
  // start (lab/memory.h): what the model, its activations and the optimizer's state took.
  std::int64_t peak_bytes = 0;
  std::string stop_reason;  // "completed", or why the monitor stopped it (lab/names.h)
  bool completed() const { return stop_reason == "completed"; }
  Curve curve;
  std::optional<ProbeResult> causality_probe;  // on the trained model (lab/probes.h)
  // Whether the model learns only in its registered parameters and buffers: put back as they were
  // before a training step, the model must compute what it computed before it (weights kept
  // elsewhere and updated by the mixer itself would change it). Made once, during training.
  std::optional<ProbeResult> parameters_probe;
  // The probe rows mixed into the test rows, checked by the process that holds the targets
  // (lab/test_set.h); absent when the test was scored where the model ran.
  std::optional<ProbeResult> test_probe;
  bool scored_by_host = false;  // the metric was computed outside the process that ran the mixer
};

// Trains `model` on `task` (its training rows only). With a reference, the
// quality monitor is active. `on_log(step, mean loss)` is called at each
// loss-curve point. The result's metric is left for the test (lab/test_set.h).
using CurveCallback = std::function<void(int64_t step, double loss)>;
TaskResult train(LanguageModel& model, const TaskData& task, const TrainConfig& config,
                 const std::optional<Reference>& reference = std::nullopt, const MonitorConfig& monitor = {},
                 const CurveCallback& on_log = nullptr);

// train(), then the test set's metric scored in this process (lab/test_set.h);
// a diverged run gets the worst metric.
TaskResult train_and_evaluate(LanguageModel& model, const TaskData& task, const TrainConfig& config,
                              const std::optional<Reference>& reference = std::nullopt,
                              const MonitorConfig& monitor = {}, const CurveCallback& on_log = nullptr);

// The examples' inputs or targets (`&Example::input`, `&Example::target`) as an [N, L] int64 tensor.
torch::Tensor token_tensor(const std::vector<Example>& examples, std::vector<int64_t> Example::*field);

// The worst value of a task's metric: what a run that cannot be scored gets.
double worst_metric(const TaskData& task);
// Whether a run's model is tested: its loss is finite and it was not stopped early nor for its
// time. Any other run keeps worst_metric(): a metric from part of the budget is not the design's.
bool testable(const TaskResult& r);

// Baseline loss at `step`, linearly interpolated; nullopt before the first point.
std::optional<double> loss_at(const Curve& curve, int64_t step);

}  // namespace asiarch::lab
