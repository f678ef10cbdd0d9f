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
#include "results/metrics.h"
#include "worker/worker_job.h"

namespace asiarch::host {

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
// than 10% below `bound`'s; a task's accuracy more than `kAccuracyJump` above `bound`'s at the
// same preset and budget; a byte-LM test loss far below its own final training loss (the test
// set leaked into training). `bound` is the best of the run's baselines (`best_of`), not
// DeltaNet alone: a design as good as Gated DeltaNet is not a leak. A flagged design is never a
// parent and never promoted.
constexpr double kAccuracyJump = 0.3;
std::vector<std::string> reward_hacking_flags(const std::vector<archive::TrainingRun>& runs, const Metrics& bound);

// What the Judge is given: `input` with the reference's parameter count defaulting to the design's.
agents::JudgeInput judge_input(agents::JudgeInput input);

// The fitness against `base` (DeltaNet's metrics) with the Judge's `judgement` as its qualitative
// part, and the flags against `bound` (the best baseline's metrics).
archive::Score score(const agents::Judgement& judgement, const std::vector<archive::TrainingRun>& runs,
                     const Metrics& base, const Metrics& bound);

}  // namespace asiarch::host
