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

// At the frontier (issue 28): the base is the strongest measured baseline, and each part saturates
// at the distance between DeltaNet and it; worked out by hand.
namespace {
asiarch::host::Metrics mx(double bpb, double acc) {
  asiarch::host::Metrics m;
  m.loss = bpb;
  m.accuracy["noisy_in_context_recall"] = acc;
  return m;
}
}  // namespace

TEST(FitnessBase, TheStrongestBaselineIsTheBaseAndTheSpreadItsScale) {
  using asiarch::host::choose_fitness_base;
  // Gated DeltaNet: 10% lower loss than DeltaNet (2.4 vs 2.667), 2% lower accuracy; Mamba2 worse on both.
  std::map<std::string, asiarch::host::Metrics> b = {
      {"delta_net", mx(8.0 / 3.0, 0.98)}, {"gated_delta_net", mx(2.4, 0.96)}, {"mamba2", mx(2.9, 0.5)}};
  auto base = choose_fitness_base(b, "strongest", "spread");
  ASSERT_TRUE(base) << base.error().message;
  EXPECT_EQ(base->name, "gated_delta_net");
  EXPECT_DOUBLE_EQ(base->loss_scale, 0.1);  // 11.1% apart: at most ASI-Arch's 10%
  EXPECT_NEAR(base->accuracy_scale, 0.02 / 0.96, 1e-12);          // 2.08%
  // A design 1% better than Gated DeltaNet on accuracy scores well above one that only matches it:
  // at ASI-Arch's 10% of DeltaNet both would sit within a few hundredths of each other.
  auto score_of = [&](double acc) {
    asiarch::agents::FitnessInputs in;
    in.accuracy = acc;
    in.baseline_accuracy = 0.96;
    in.accuracy_scale = base->accuracy_scale;
    return asiarch::agents::fitness(in).bench_score;
  };
  EXPECT_NEAR(score_of(0.96), 0.5, 1e-12);
  EXPECT_GT(score_of(0.9696) - score_of(0.96), 0.2);
  // ASI-Arch's form, kept: DeltaNet at 10%.
  auto asi = choose_fitness_base(b, "delta_net", "asi-arch");
  ASSERT_TRUE(asi);
  EXPECT_EQ(asi->name, "delta_net");
  EXPECT_DOUBLE_EQ(asi->loss_scale, 0.1);
  EXPECT_DOUBLE_EQ(asi->accuracy_scale, 0.1);
  // A named base, spread scale; a name not measured is an error naming the setting.
  auto m2 = choose_fitness_base(b, "mamba2", "spread");
  ASSERT_TRUE(m2);
  EXPECT_EQ(m2->name, "mamba2");
  auto missing = choose_fitness_base(b, "rwkv7", "spread");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("fitness_reference: \"rwkv7\" is not among the measured baselines"),
            std::string::npos) << missing.error().message;
  // DeltaNet strongest: it is the base, at ASI-Arch's scale.
  auto alone = choose_fitness_base({{"delta_net", mx(2.5, 0.9)}, {"mamba2", mx(2.9, 0.5)}}, "strongest", "spread");
  ASSERT_TRUE(alone);
  EXPECT_EQ(alone->name, "delta_net");
  EXPECT_DOUBLE_EQ(alone->accuracy_scale, 0.1);
}

// Rescoring keeps the Judge's part and measures the rest against the new base.
TEST(FitnessBase, RescoreKeepsTheJudgesPart) {
  asiarch::archive::Score old{0.99, 0.9, 0.6, 2.49, nlohmann::json::object()};
  asiarch::host::FitnessBase base{"gated_delta_net", mx(2.4, 0.96), 0.1, 0.02};
  auto s = asiarch::host::rescore(old, mx(2.4, 0.96), base);
  EXPECT_DOUBLE_EQ(s.loss_score, 0.5);
  EXPECT_DOUBLE_EQ(s.bench_score, 0.5);
  EXPECT_DOUBLE_EQ(s.judge_score, 0.6);
  EXPECT_DOUBLE_EQ(s.total, 1.6);
  EXPECT_EQ(s.details["fitness_reference"], "gated_delta_net");
}
