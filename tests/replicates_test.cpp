// Replicated scores: per-seed metrics, their means, and comparisons with the reference paired by
// seed (results/replicates.h), against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include <unistd.h>

#include <filesystem>

#include "results/ladder.h"
#include "results/replicates.h"
#include "results/report.h"
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

// The ladder is read from what the archive stores: the run's order of rungs, not the order the
// stages happened to be recorded in; each rung's Spearman is with the rung below it.
// A run that diverged is marked wherever its figures go: per seed, in the replicated row, in the
// paired comparison and in the verdict's words.
TEST(Replicates, ADivergedRunIsCountedAndTheVerdictSaysSo) {
  std::vector<archive::Measurement> cand, ref;
  for (std::uint64_t seed : {0, 1, 2}) {
    cand.push_back(row(seed, "byte_lm", "bits_per_byte", 2.0 + 0.01 * seed));
    cand.push_back(row(seed, "noisy_in_context_recall", "accuracy", seed == 1 ? 0.0 : 0.9));
    ref.push_back(row(seed, "byte_lm", "bits_per_byte", 2.5));
    ref.push_back(row(seed, "noisy_in_context_recall", "accuracy", 0.8));
  }
  cand[3].stop_reason = "loss became NaN at step 285";  // seed 1's recall
  for (auto& r : cand) if (r.stop_reason.empty()) r.stop_reason = "completed";
  const auto by = host::metrics_by_seed(cand, "first");
  ASSERT_EQ(by.size(), 3u);
  EXPECT_EQ(by.at(1).diverged, std::set<std::string>{"noisy_in_context_recall"});
  EXPECT_TRUE(by.at(0).diverged.empty());
  const auto rep = host::replicated(by);
  EXPECT_EQ(rep.diverged_seeds, 1);
  EXPECT_EQ(rep.diverged_runs, 1);
  const auto c = host::compare_paired(by, host::metrics_by_seed(ref, "first"));
  EXPECT_EQ(c.pairs, 3);
  EXPECT_EQ(c.diverged_seeds, 1);
  EXPECT_EQ(c.reference_diverged_seeds, 0);
  const std::string text = host::verdict_text(c);
  EXPECT_NE(text.find("its training diverged on 1 of 3 seeds"), std::string::npos) << text;
  EXPECT_EQ(host::to_json(c)["diverged_seeds"], 1);
  // Without the divergence, nothing is said of it.
  for (auto& r : cand) r.stop_reason = "completed";
  const std::string clean = host::verdict_text(host::compare_paired(host::metrics_by_seed(cand, "first"),
                                                                    host::metrics_by_seed(ref, "first")));
  EXPECT_EQ(clean.find("diverged"), std::string::npos) << clean;
}

TEST(Ladder, RungsFollowTheStoredOrderWithSpearmanAgainstTheRungBelow) {
  const auto path = std::filesystem::temp_directory_path() / ("asiarch-ladder-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  auto opened = archive::Archive::open(path);
  ASSERT_TRUE(opened) << opened.error().message;
  auto& a = **opened;
  std::vector<int64_t> ids;
  // Fitness on smoke 1, 2, 3; on rung b (the upper rung) 30, 10, 20; on rung a 3, 2, 1.
  const double own[] = {1, 2, 3}, on_b[] = {30, 10, 20}, on_a[] = {3, 2, 1};
  for (int i = 0; i < 3; ++i) {
    archive::Experiment e;
    e.name = "d" + std::to_string(i);
    e.source = "// " + e.name;
    e.canonical = e.name;
    e.source_hash = e.name;
    ids.push_back(a.add_experiment(e).value());
    archive::Outcome o;
    o.status = asiarch::archive::ExperimentStatus::scored;
    o.score = archive::Score{0, 0, 0, own[i], nlohmann::json::object()};
    ASSERT_TRUE(a.record_outcome(ids.back(), o));
  }
  // Rung b is recorded first, but the run climbs a, then b.
  for (int i = 0; i < 3; ++i)
    for (const auto& [preset, f] : {std::pair<std::string, double>{"b", on_b[i]}, {"a", on_a[i]}}) {
      archive::StageResult st;
      st.preset = preset;
      st.status = asiarch::archive::ExperimentStatus::scored;
      st.score = archive::Score{0, 0, 0, f, nlohmann::json::object()};
      ASSERT_TRUE(a.record_stage(ids[i], st));
    }
  archive::StageResult failed;
  failed.preset = "smoke/held-out";
  failed.status = asiarch::archive::ExperimentStatus::failed;
  failed.fail_reason = "no";
  ASSERT_TRUE(a.record_stage(ids[0], failed));
  ASSERT_TRUE(a.set_ladder({"smoke", "a", "b"}));
  const auto ladder = host::ladder_of(a);
  ASSERT_EQ(ladder.size(), 4u);
  EXPECT_EQ(ladder[0].preset, "smoke");
  EXPECT_EQ(ladder[0].scored, (std::vector<int64_t>{ids[2], ids[1], ids[0]}));
  EXPECT_EQ(ladder[1].preset, "a");
  EXPECT_EQ(ladder[1].below, "smoke");
  ASSERT_TRUE(ladder[1].agreement.spearman);
  EXPECT_DOUBLE_EQ(*ladder[1].agreement.spearman, -1.0);  // a reverses smoke's order
  EXPECT_EQ(ladder[2].preset, "b");
  EXPECT_EQ(ladder[2].below, "a");
  EXPECT_EQ(ladder[2].scored, (std::vector<int64_t>{ids[0], ids[2], ids[1]}));
  ASSERT_TRUE(ladder[2].agreement.spearman);
  EXPECT_DOUBLE_EQ(*ladder[2].agreement.spearman, 0.5);  // ranks (1,2,3) against (3,1,2)
  EXPECT_EQ(ladder[2].agreement.pairs, 3u);
  EXPECT_TRUE(ladder[3].held_out);
  EXPECT_TRUE(ladder[3].scored.empty());
  EXPECT_EQ(ladder[3].failed, std::vector<int64_t>{ids[0]});
  EXPECT_TRUE(ladder[3].below.empty());
  std::filesystem::remove(path);
}
