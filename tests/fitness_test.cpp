// Fitness arithmetic (ASI-Arch's formula).
#include <gtest/gtest.h>

#include <cmath>

#include "agents/fitness.h"

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
