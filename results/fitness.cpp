#include "results/fitness.h"

#include <algorithm>
#include <cmath>

namespace asiarch::agents {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// sigma(6 * clamp(gain / (scale * base), -1, 1)): a gain of +-scale of the baseline (ASI-Arch: 10%)
// saturates the score near 0.0025 or 0.9975.
double relative_gain_score(double gain, double base, double scale) {
  return sigmoid(6.0 * std::clamp(gain / (scale * base), -1.0, 1.0));
}

}  // namespace

Fitness fitness(const FitnessInputs& in) {
  Fitness f;
  if (in.loss && in.baseline_loss && *in.baseline_loss > 0 && std::isfinite(*in.loss)) {
    f.loss_score = relative_gain_score(*in.baseline_loss - *in.loss, *in.baseline_loss, in.loss_scale);
    f.suspicious = *in.loss < 0.9 * *in.baseline_loss;
  }
  if (in.accuracy && in.baseline_accuracy && *in.baseline_accuracy > 0)
    f.bench_score = relative_gain_score(*in.accuracy - *in.baseline_accuracy, *in.baseline_accuracy, in.accuracy_scale);
  if (in.judge) f.judge_score = std::clamp((*in.judge - 1.0) / 9.0, 0.0, 1.0);
  f.total = f.loss_score + f.bench_score + f.judge_score;
  return f;
}

nlohmann::json to_json(const Fitness& f) {
  return {{"loss_score", f.loss_score}, {"bench_score", f.bench_score}, {"judge_score", f.judge_score},
          {"total", f.total}, {"suspicious", f.suspicious}};
}

}  // namespace asiarch::agents
