// The trusted side of testing (lab/test_set.h): the rows a worker predicts,
// and the metric and probe verdict computed from logits it cannot check.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "lab/test_set.h"

using namespace asiarch::lab;

namespace {

TaskData recall() {
  auto t = make_task("in_context_recall", {{"vocab", 16}, {"seq_len", 32}, {"train_examples", 8}, {"test_examples", 40}}, 3);
  EXPECT_TRUE(t) << t.error().message;
  return std::move(*t);
}

// Logits that put all their weight on `token` at every position of every row.
torch::Tensor one_hot_rows(const TestPlan& plan, int64_t vocab, const std::function<int64_t(int64_t, int64_t)>& token) {
  auto out = torch::full({plan.rows, plan.length, vocab}, -10.0f);
  for (int64_t r = 0; r < plan.rows; ++r)
    for (int64_t t = 0; t < plan.length; ++t) out[r][t][token(r, t)] = 10.0f;
  return out;
}

}  // namespace

TEST(TestSet, ThePlanHoldsEveryTestRowOnceAndProbeRowsShareAPrefix) {
  const TaskData task = recall();
  const TestPlan plan = plan_test(task, 11, 6);
  ASSERT_EQ(plan.rows, 46);
  ASSERT_EQ(plan.probes.size(), 6u);
  std::set<int64_t> seen;
  for (int64_t r = 0; r < plan.rows; ++r) {
    const int64_t k = plan.test_row[r];
    if (k < 0) continue;
    EXPECT_TRUE(seen.insert(k).second);
    const auto& in = task.test[k].input;
    EXPECT_TRUE(std::equal(in.begin(), in.end(), plan.inputs.begin() + r * plan.length));
  }
  EXPECT_EQ(seen.size(), task.test.size());
  bool some_suffix_differs = false;
  for (const auto& p : plan.probes) {
    EXPECT_EQ(plan.test_row[p.row], -1);
    EXPECT_GE(plan.test_row[p.original], 0);
    auto a = plan.inputs.begin() + p.row * plan.length, b = plan.inputs.begin() + p.original * plan.length;
    EXPECT_TRUE(std::equal(a, a + p.cut + 1, b));
    some_suffix_differs |= !std::equal(a + p.cut + 1, a + plan.length, b + p.cut + 1);
  }
  EXPECT_TRUE(some_suffix_differs);
  // Another seed puts the rows elsewhere: the worker cannot know where the probes are.
  EXPECT_NE(plan_test(task, 12, 6).test_row, plan.test_row);
}

TEST(TestSet, AccuracyComesFromTheTargetsTheScorerKeeps) {
  const TaskData task = recall();
  const TestPlan plan = plan_test(task, 5, 4);
  auto target_at = [&](int64_t r, int64_t t) {
    const int64_t k = plan.test_row[r];
    const int64_t y = k < 0 ? kIgnore : task.test[k].target[t];
    return y == kIgnore ? int64_t{0} : y;
  };
  auto right = one_hot_rows(plan, task.vocab, target_at);
  auto wrong = one_hot_rows(plan, task.vocab, [&](int64_t r, int64_t t) { return (target_at(r, t) + 1) % task.vocab; });
  // Probe rows must agree with their originals on the shared prefix, or the probes fail.
  for (auto* l : {&right, &wrong})
    for (const auto& p : plan.probes) (*l)[p.row].copy_((*l)[p.original]);
  for (auto [logits, expected] : {std::pair{right, 1.0}, std::pair{wrong, 0.0}}) {
    TestScorer s(task, plan);
    // Blocks in any order.
    ASSERT_TRUE(s.add(30, logits.narrow(0, 30, plan.rows - 30)));
    EXPECT_FALSE(s.complete());
    ASSERT_TRUE(s.add(0, logits.narrow(0, 0, 30)));
    ASSERT_TRUE(s.complete());
    EXPECT_DOUBLE_EQ(s.metric(), expected);
    EXPECT_TRUE(s.probes().passed) << s.probes().reason;
  }
}

TEST(TestSet, UniformLogitsScoreEightBitsPerByte) {
  auto task = make_task("byte_lm", {{"seq_len", 16}, {"train_examples", 4}, {"test_examples", 6}}, 0,
                        std::string(4000, 'a') + std::string(4000, 'b'));
  ASSERT_TRUE(task) << task.error().message;
  const TestPlan plan = plan_test(*task, 1, 2);
  TestScorer s(*task, plan);
  ASSERT_TRUE(s.add(0, torch::zeros({plan.rows, plan.length, 256})));
  EXPECT_NEAR(s.metric(), 8.0, 1e-6);
}

TEST(TestSet, LogitsThatReadTheFutureFailTheProbes) {
  const TaskData task = recall();
  const TestPlan plan = plan_test(task, 9, 4);
  auto logits = torch::randn({plan.rows, plan.length, task.vocab});
  for (const auto& p : plan.probes) logits[p.row].copy_(logits[p.original]);
  {
    TestScorer s(task, plan);
    ASSERT_TRUE(s.add(0, logits));
    EXPECT_TRUE(s.probes().passed) << s.probes().reason;
  }
  const auto& p = plan.probes.front();
  logits[p.row][p.cut] += 0.5;  // an output at the cut moved when only later tokens changed
  TestScorer s(task, plan);
  ASSERT_TRUE(s.add(0, logits));
  EXPECT_FALSE(s.probes().passed);
  EXPECT_NE(s.probes().reason.find("reads the future"), std::string::npos) << s.probes().reason;
}

TEST(TestSet, MalformedBlocksAreErrorsAndChangeNothing) {
  const TaskData task = recall();
  const TestPlan plan = plan_test(task, 2, 2);
  TestScorer s(task, plan);
  auto good = torch::zeros({4, plan.length, task.vocab});
  EXPECT_FALSE(s.add(0, torch::zeros({4, plan.length, task.vocab + 1})));
  EXPECT_FALSE(s.add(0, torch::zeros({4, plan.length, task.vocab}, torch::kDouble)));
  EXPECT_FALSE(s.add(plan.rows - 2, good));
  EXPECT_FALSE(s.add(-1, good));
  EXPECT_FALSE(s.add(std::numeric_limits<int64_t>::max() - 1, good));
  EXPECT_EQ(s.rows_received(), 0);
  ASSERT_TRUE(s.add(0, good));
  EXPECT_FALSE(s.add(2, good));  // rows 2 and 3 came already
  EXPECT_EQ(s.rows_received(), 4);
}

TEST(TestSet, ANonFiniteScoredLogitMakesTheMetricNaN) {
  const TaskData task = recall();
  const TestPlan plan = plan_test(task, 4, 0);
  auto logits = torch::zeros({plan.rows, plan.length, task.vocab});
  for (int64_t r = 0; r < plan.rows; ++r) {
    const auto& target = task.test[plan.test_row[r]].target;
    for (int64_t t = 0; t < plan.length; ++t)
      if (target[t] != kIgnore) {
        logits[r][t][0] = std::nanf("");
        r = plan.rows;
        break;
      }
  }
  TestScorer s(task, plan);
  ASSERT_TRUE(s.add(0, logits));
  EXPECT_TRUE(std::isnan(s.metric()));
}
