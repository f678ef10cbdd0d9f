// From an evaluation to what the archive records: training runs, gate
// records, the failure reason when there is one, and the score (the Judge's
// part and ASI-Arch's fitness against DeltaNet on the same preset).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agents/roles.h"
#include "archive/archive.h"
#include "host/worker_job.h"

namespace asiarch::host {

// Loss (bits per byte on byte_lm) and accuracy per task.
struct Metrics {
  std::optional<double> loss;
  std::map<std::string, double> accuracy;
};

Metrics metrics_of(const std::vector<archive::TrainingRun>& runs);
std::vector<archive::TrainingRun> training_runs(const lab::EvalReport& report, const WorkerJob& job);

// A failure at run time that the Engineer may answer: the worker died, a
// gate failed, the plugin threw in training, or a loss became non-finite.
struct RuntimeProblem {
  std::string stage;    // "worker", "gates", "training"
  std::string failure;  // the reason, as measured
};
std::optional<RuntimeProblem> runtime_problem(const WorkerOutcome& o);

// Gates, runs, status and fail reason of an evaluate job's outcome. Compile
// and runtime attempts, score, analysis and timing are added by the caller.
archive::Outcome interpret_evaluation(const WorkerOutcome& o, const WorkerJob& job);

// Signs that a score was gamed rather than earned, each as a sentence (empty: none): a loss more
// than 10% below the reference's; a task's accuracy more than `kAccuracyJump` above the
// reference's at the same preset and budget; a byte-LM test loss far below its own final
// training loss (the test set leaked into training). A flagged design is never a parent and
// never promoted.
constexpr double kAccuracyJump = 0.3;
std::vector<std::string> reward_hacking_flags(const std::vector<archive::TrainingRun>& runs, const Metrics& base);

// The Judge's score and the fitness against `base` (DeltaNet's metrics), with the flags.
archive::Score score(agents::Judge& judge, const agents::JudgeInput& input, const std::vector<archive::TrainingRun>& runs,
                     const Metrics& base);

}  // namespace asiarch::host
