// The metrics a design is judged on, read from its training runs: bits per byte on byte LM and
// accuracy per task. Torch-free, so the HTTP API and the reports share it with the loop.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace asiarch::host {

// Loss (bits per byte on byte_lm) and accuracy per task.
struct Metrics {
  std::optional<double> loss;
  std::map<std::string, double> accuracy;
  // Tasks whose training diverged (lab::diverged): their figures above are the worst the task
  // allows, or, in archives written before that rule, the last state's; either way they are marked.
  std::set<std::string> diverged;
};

Metrics metrics_of(const std::vector<archive::TrainingRun>& runs);

// Metric by metric, the better of the two: the lower loss, each task's higher accuracy.
Metrics best_of(const Metrics& a, const Metrics& b);

}  // namespace asiarch::host
