// Replicated scores: an experiment's metrics per seed, their means, and comparisons with the
// reference paired by seed (seed k of both saw the same data, initialisation and batches). A
// difference counts only when its 95% interval excludes zero.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "results/metrics.h"
#include "lab/stats.h"

namespace asiarch::host {

using SeedMetrics = std::map<std::uint64_t, Metrics>;

// One row per task of a run on `seed`.
std::vector<archive::Measurement> measurements_of(const std::vector<archive::TrainingRun>& runs, std::uint64_t seed);

// Per seed, the metrics measured on `preset`.
SeedMetrics metrics_by_seed(const std::vector<archive::Measurement>& ms, const std::string& preset);

// The mean over seeds of each metric: a design's headline numbers on a preset.
Metrics mean_metrics(const SeedMetrics& by_seed);

// `runs` with each task's metric replaced by its mean over the seeds in `ms` (for scoring).
std::vector<archive::TrainingRun> with_mean_metrics(std::vector<archive::TrainingRun> runs,
                                                    const std::vector<archive::Measurement>& ms);

struct Comparison {
  int pairs = 0;  // seeds measured on both sides
  // Per seed: ASI-Arch's measured fitness (loss part + benchmark part, each a sigmoid of the relative
  // gain, 0..2) against the reference on the same seed, minus the reference's own (1.0).
  lab::Interval fitness;
  std::optional<lab::Interval> loss;      // bits per byte, candidate - reference: negative is better
  std::optional<lab::Interval> accuracy;  // mean accuracy over shared tasks, candidate - reference
  std::map<std::string, lab::Interval> tasks;  // each task's metric, candidate - reference
  // "better" or "worse" (the fitness interval excludes zero), "no significant difference",
  // or "too few seeds" (fewer than two pairs: no interval).
  std::string verdict;
  // Paired seeds on which some task's training diverged, on the candidate's side and the reference's.
  int diverged_seeds = 0;
  int reference_diverged_seeds = 0;
};

Comparison compare_paired(const SeedMetrics& candidate, const SeedMetrics& reference);

// Per task and for the mean accuracy and fitness: the mean and 95% interval over seeds.
struct Replicated {
  int seeds = 0;
  int diverged_seeds = 0;  // seeds on which some task's training diverged
  int diverged_runs = 0;   // (seed, task) runs that diverged
  std::optional<lab::Interval> loss;
  std::optional<lab::Interval> accuracy;
  std::map<std::string, lab::Interval> tasks;
};
Replicated replicated(const SeedMetrics& by_seed);

// "0.123 ± 0.045" (or "0.123" without an interval).
std::string format_interval(const lab::Interval& i, int decimals = 3);
nlohmann::json to_json(const lab::Interval& i);
nlohmann::json to_json(const Comparison& c);
nlohmann::json to_json(const Replicated& r);

}  // namespace asiarch::host
