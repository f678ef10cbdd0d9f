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

// What fitness measures a design against: a baseline's metrics (mean over seeds) and the relative
// gain at which each measured part saturates (docs/fitness.md, "At the frontier").
struct FitnessBase {
  std::string name;  // the baseline's
  Metrics metrics;
  double loss_scale = 0.1, accuracy_scale = 0.1;
};

// The settings' two choices: fitness_reference ("strongest", or a baseline's name) and
// fitness_scale ("spread" or "asi-arch").
inline constexpr const char* kStrongestBaseline = "strongest";

// The base among the run's measured baselines (name -> mean metrics; the reference design,
// DeltaNet, among them): the named one, or the strongest, the one whose measured fitness parts
// against DeltaNet (ASI-Arch's formula) sum highest. With fitness_scale "spread", each part
// saturates at the relative distance between DeltaNet and the base (at most ASI-Arch's 10%, at
// least 1%): a design as far beyond the strongest baseline as it is beyond DeltaNet scores ~1.
// An error names the setting when the named baseline was not measured.
Result<FitnessBase> choose_fitness_base(const std::map<std::string, Metrics>& baselines, const std::string& reference,
                                        const std::string& scale);

// The fitness against `base` with the Judge's `judgement` as its qualitative part, and the flags
// against `bound` (the best baseline's metrics).
archive::Score score(const agents::Judgement& judgement, const std::vector<archive::TrainingRun>& runs,
                     const FitnessBase& base, const Metrics& bound);

// `old` with its measured parts scored again against `base` (the Judge's part and the flags kept):
// every score of a run is against the same base once the base is known.
archive::Score rescore(archive::Score old, const Metrics& own, const FitnessBase& base);

}  // namespace asiarch::host
