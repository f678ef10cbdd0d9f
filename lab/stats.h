// The statistics a researcher needs to believe a comparison: a mean with its 95%
// confidence interval (Student's t, since seeds are few), a paired difference
// (the same seeds on both sides), and Spearman's rank correlation between the
// rankings of two scales. Plain functions on vectors of doubles; no LibTorch.
#pragma once

#include <optional>
#include <vector>

namespace asiarch::lab {

struct Interval {
  double mean = 0;
  std::optional<double> half_width;  // none with fewer than two values: nothing is known of the spread
  int n = 0;
  double low() const { return half_width ? mean - *half_width : mean; }
  double high() const { return half_width ? mean + *half_width : mean; }
  // The interval lies wholly above (or below) zero: a difference that is not noise at this level.
  bool excludes_zero() const { return half_width && (low() > 0 || high() < 0); }
};

// The two-sided quantile of Student's t: t such that P(|T| <= t) = level, df degrees of freedom.
double student_t(double level, int df);

// Mean and the `level` confidence interval of the mean (t with n - 1 degrees of freedom).
Interval mean_interval(const std::vector<double>& xs, double level = 0.95);

// The interval of the mean of a[i] - b[i]: the two measured on the same seed i. Sizes must match.
Interval paired_difference(const std::vector<double>& a, const std::vector<double>& b, double level = 0.95);

// Spearman's rank correlation (ties get their average rank); none with fewer than two pairs
// or when one side is constant.
std::optional<double> spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace asiarch::lab
