#include "results/metrics.h"

#include <algorithm>
#include <cmath>

namespace asiarch::host {

Metrics metrics_of(const std::vector<archive::TrainingRun>& runs) {
  Metrics m;
  for (const auto& r : runs) {
    if (r.metric_name == "bits_per_byte" && std::isfinite(r.metric)) m.loss = r.metric;
    if (r.metric_name == "accuracy") m.accuracy[r.task] = r.metric;
  }
  return m;
}

Metrics best_of(const Metrics& a, const Metrics& b) {
  Metrics m = a;
  if (b.loss && (!m.loss || *b.loss < *m.loss)) m.loss = b.loss;
  for (const auto& [task, acc] : b.accuracy) {
    auto [it, fresh] = m.accuracy.emplace(task, acc);
    if (!fresh) it->second = std::max(it->second, acc);
  }
  return m;
}

}  // namespace asiarch::host
