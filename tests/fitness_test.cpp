// Fitness arithmetic (ASI-Arch's formula).
#include <gtest/gtest.h>

#include <cmath>

#include "results/fitness.h"
#include "engine/scoring.h"

using namespace asiarch::agents;

static double sigma(double x) { return 1 / (1 + std::exp(-x)); }

TEST(Fitness, EqualToTheBaselineIsOneHalfEach) {
  auto f = fitness({2.0, 2.0, 0.5, 0.5, 5.5});
  EXPECT_DOUBLE_EQ(f.loss_score, 0.5);
  EXPECT_DOUBLE_EQ(f.bench_score, 0.5);
  EXPECT_DOUBLE_EQ(f.judge_score, 0.5);
  EXPECT_DOUBLE_EQ(f.total, 1.5);
  EXPECT_FALSE(f.suspicious);
}

TEST(Fitness, GainsAreScaledByTenPercentOfTheBaseline) {
  // Loss 5% below a baseline of 2.0: (2.0 - 1.9) / 0.2 = 0.5 -> sigma(3).
  auto f = fitness({1.9, 2.0, 0.55, 0.5, 10.0});
  EXPECT_NEAR(f.loss_score, sigma(3.0), 1e-12);
  // Accuracy 10% above: clamp(1) -> sigma(6).
  EXPECT_NEAR(f.bench_score, sigma(6.0), 1e-12);
  EXPECT_DOUBLE_EQ(f.judge_score, 1.0);
  EXPECT_NEAR(f.total, sigma(3.0) + sigma(6.0) + 1.0, 1e-12);
}

TEST(Fitness, LossesAreClampedAndWorseIsLower) {
  auto f = fitness({3.0, 2.0, 0.1, 0.5, 1.0});
  EXPECT_NEAR(f.loss_score, sigma(-6.0), 1e-12);
  EXPECT_NEAR(f.bench_score, sigma(-6.0), 1e-12);
  EXPECT_DOUBLE_EQ(f.judge_score, 0.0);
}

TEST(Fitness, MissingComponentsScoreOneHalf) {
  auto f = fitness({});
  EXPECT_DOUBLE_EQ(f.total, 1.5);
  auto g = fitness({std::nan(""), 2.0, std::nullopt, std::nullopt, std::nullopt});
  EXPECT_DOUBLE_EQ(g.loss_score, 0.5);
  auto h = fitness({1.0, 0.0, 0.5, 0.0, std::nullopt});  // zero baselines
  EXPECT_DOUBLE_EQ(h.total, 1.5);
}

TEST(Fitness, FarLowerLossIsSuspicious) {
  EXPECT_TRUE(fitness({1.7, 2.0, std::nullopt, std::nullopt, std::nullopt}).suspicious);
  EXPECT_FALSE(fitness({1.85, 2.0, std::nullopt, std::nullopt, std::nullopt}).suspicious);
}

// Reward-hacking flags: each sign alone, with its reason; an honest result has none.
TEST(RewardHacking, EachSignIsFlaggedWithItsReason) {
  using asiarch::archive::TrainingRun;
  auto run = [](const std::string& task, const std::string& metric_name, double metric, std::optional<double> final_loss) {
    TrainingRun r;
    r.task = task;
    r.metric_name = metric_name;
    r.metric = metric;
    r.final_loss = final_loss;
    return r;
  };
  asiarch::host::Metrics base;
  base.loss = 2.0;
  base.accuracy = {{"mqar", 0.40}, {"selective_copying", 0.90}};
  // Honest: near the reference, test loss a little above training loss (1.9 bpb = 1.32 nats).
  EXPECT_TRUE(asiarch::host::reward_hacking_flags(
                  {run("byte_lm", "bits_per_byte", 1.9, 1.25), run("mqar", "accuracy", 0.55, 1.0)}, base)
                  .empty());
  auto flags = asiarch::host::reward_hacking_flags({run("mqar", "accuracy", 0.95, 1.0)}, base);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NE(flags[0].find("accuracy on mqar 0.950 jumps beyond the best baseline's 0.400"), std::string::npos) << flags[0];
  flags = asiarch::host::reward_hacking_flags({run("byte_lm", "bits_per_byte", 1.7, 1.2)}, base);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NE(flags[0].find("more than 10% below the best baseline's 2.000"), std::string::npos) << flags[0];
  // 1.9 bpb is 1.317 nats, far below a final training loss of 2.0 nats.
  flags = asiarch::host::reward_hacking_flags({run("byte_lm", "bits_per_byte", 1.9, 2.0)}, base);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NE(flags[0].find("far below its final training loss"), std::string::npos) << flags[0];
}

// The flags' bound is the best of the baselines, metric by metric: a design as good as Gated
// DeltaNet is not a leak, though it is more than 10% below DeltaNet (the explore campaign's case).
TEST(RewardHacking, TheBoundIsTheBestBaselineMetricByMetric) {
  using asiarch::archive::TrainingRun;
  using asiarch::host::Metrics;
  auto run = [](const std::string& task, const std::string& metric_name, double metric) {
    TrainingRun r;
    r.task = task;
    r.metric_name = metric_name;
    r.metric = metric;
    r.final_loss = 1.6;
    return r;
  };
  Metrics delta_net, gated;
  delta_net.loss = 2.666;
  delta_net.accuracy = {{"mqar", 0.40}, {"selective_copying", 0.90}};
  gated.loss = 2.375;
  gated.accuracy = {{"mqar", 0.80}, {"selective_copying", 0.85}, {"byte_count", 0.5}};
  const Metrics bound = asiarch::host::best_of(delta_net, gated);
  EXPECT_DOUBLE_EQ(*bound.loss, 2.375);
  EXPECT_DOUBLE_EQ(bound.accuracy.at("mqar"), 0.80);
  EXPECT_DOUBLE_EQ(bound.accuracy.at("selective_copying"), 0.90);
  EXPECT_DOUBLE_EQ(bound.accuracy.at("byte_count"), 0.5);
  EXPECT_EQ(asiarch::host::best_of(gated, delta_net).accuracy, bound.accuracy);
  EXPECT_FALSE(asiarch::host::best_of(Metrics{}, Metrics{}).loss.has_value());

  const std::vector<TrainingRun> like_gated = {run("byte_lm", "bits_per_byte", 2.34), run("mqar", "accuracy", 0.85)};
  EXPECT_EQ(asiarch::host::reward_hacking_flags(like_gated, delta_net).size(), 2u);
  EXPECT_TRUE(asiarch::host::reward_hacking_flags(like_gated, bound).empty());
  auto flags = asiarch::host::reward_hacking_flags({run("byte_lm", "bits_per_byte", 2.0)}, bound);
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NE(flags[0].find("below the best baseline's 2.375"), std::string::npos) << flags[0];
}
