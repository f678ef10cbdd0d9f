// Replicated scores: per-seed metrics, their means, and comparisons with the reference paired by
// seed (results/replicates.h), against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "results/replicates.h"
#include "lab/stats.h"

using namespace asiarch;
using host::Metrics;
using host::SeedMetrics;

namespace {

Metrics m(double bpb, double recall) {
  Metrics x;
  x.loss = bpb;
  x.accuracy["noisy_in_context_recall"] = recall;
  return x;
}

archive::Measurement row(std::uint64_t seed, const std::string& task, const std::string& metric_name, double v,
                         const std::string& preset = "first") {
  archive::Measurement r;
  r.preset = preset;
  r.seed = seed;
  r.task = task;
  r.metric_name = metric_name;
  r.metric = v;
  return r;
}

}  // namespace

TEST(Replicates, MetricsBySeedKeepOnePresetAndMeanAveragesSeeds) {
  std::vector<archive::Measurement> ms = {row(0, "byte_lm", "bits_per_byte", 2.0), row(0, "mqar", "accuracy", 0.2),
                                          row(1, "byte_lm", "bits_per_byte", 3.0), row(1, "mqar", "accuracy", 0.4),
                                          row(0, "mqar", "accuracy", 0.9, "verify")};
  const auto by = host::metrics_by_seed(ms, "first");
  ASSERT_EQ(by.size(), 2u);
  EXPECT_DOUBLE_EQ(*by.at(1).loss, 3.0);
  const auto mean = host::mean_metrics(by);
  EXPECT_DOUBLE_EQ(*mean.loss, 2.5);
  EXPECT_DOUBLE_EQ(mean.accuracy.at("mqar"), 0.3);
  // A run's metric replaced by its mean over seeds (what fitness is measured on).
  archive::TrainingRun run;
  run.preset = "first";
  run.task = "mqar";
  run.metric_name = "accuracy";
  run.metric = 0.2;
  EXPECT_DOUBLE_EQ(host::with_mean_metrics({run}, ms)[0].metric, 0.3);
}

TEST(Replicates, AConsistentGainOnEverySeedIsBetter) {
  SeedMetrics ref = {{0, m(2.70, 0.60)}, {1, m(2.60, 0.50)}, {2, m(2.80, 0.70)}};
  // Large seed-to-seed spread, but on every seed the candidate beats the same seed's reference.
  SeedMetrics cand = {{0, m(2.50, 0.65)}, {1, m(2.41, 0.56)}, {2, m(2.59, 0.74)}};
  const auto c = host::compare_paired(cand, ref);
  EXPECT_EQ(c.pairs, 3);
  EXPECT_EQ(c.verdict, "better");
  EXPECT_TRUE(c.fitness.excludes_zero());
  EXPECT_GT(c.fitness.mean, 0);
  ASSERT_TRUE(c.loss);
  // bits per byte: differences -0.20, -0.19, -0.21.
  EXPECT_NEAR(c.loss->mean, -0.20, 1e-12);
  EXPECT_NEAR(*c.loss->half_width, lab::student_t(0.95, 2) * 0.01 / std::sqrt(3.0), 1e-9);
  ASSERT_TRUE(c.accuracy);
  EXPECT_NEAR(c.accuracy->mean, (0.05 + 0.06 + 0.04) / 3, 1e-12);
  // Unpaired, the same numbers would not separate: the seeds' spread (0.1) is larger than the gain.
  const auto a = lab::mean_interval({2.50, 2.41, 2.59}), b = lab::mean_interval({2.70, 2.60, 2.80});
  EXPECT_GT(a.high(), b.low());
}

TEST(Replicates, AGainThatChangesSignAcrossSeedsIsNotSignificant) {
  SeedMetrics ref = {{0, m(2.70, 0.60)}, {1, m(2.60, 0.50)}, {2, m(2.80, 0.70)}};
  SeedMetrics cand = {{0, m(2.60, 0.66)}, {1, m(2.70, 0.44)}, {2, m(2.78, 0.71)}};
  const auto c = host::compare_paired(cand, ref);
  EXPECT_EQ(c.verdict, "no significant difference");
  EXPECT_FALSE(c.fitness.excludes_zero());
  // Worse on every seed is "worse".
  SeedMetrics bad = {{0, m(3.0, 0.30)}, {1, m(2.9, 0.25)}, {2, m(3.1, 0.33)}};
  EXPECT_EQ(host::compare_paired(bad, ref).verdict, "worse");
}

TEST(Replicates, OnlySeedsMeasuredOnBothSidesArePaired) {
  SeedMetrics ref = {{0, m(2.7, 0.6)}, {1, m(2.6, 0.5)}};
  SeedMetrics cand = {{1, m(2.5, 0.6)}, {7, m(2.0, 0.9)}};
  const auto c = host::compare_paired(cand, ref);
  EXPECT_EQ(c.pairs, 1);
  EXPECT_EQ(c.verdict, "too few seeds");  // one pair: no interval, no claim
  EXPECT_FALSE(c.fitness.half_width);
  EXPECT_NEAR(c.loss->mean, -0.1, 1e-12);
}

TEST(Replicates, ReplicatedGivesMeanAndIntervalPerTask) {
  SeedMetrics s = {{0, m(2.0, 0.5)}, {1, m(2.2, 0.7)}, {2, m(2.4, 0.6)}};
  const auto r = host::replicated(s);
  EXPECT_EQ(r.seeds, 3);
  EXPECT_NEAR(r.loss->mean, 2.2, 1e-12);
  EXPECT_NEAR(*r.loss->half_width, lab::student_t(0.95, 2) * 0.2 / std::sqrt(3.0), 1e-9);
  EXPECT_NEAR(r.tasks.at("noisy_in_context_recall").mean, 0.6, 1e-12);
  EXPECT_EQ(host::format_interval(*r.loss), "2.200 ± 0.497");
}
