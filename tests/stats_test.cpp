// lab/stats.h against values from tables and from hand computation.
#include <gtest/gtest.h>

#include <cmath>

#include "lab/stats.h"

using namespace asiarch::lab;

TEST(Stats, StudentTQuantilesMatchTheTables) {
  // Two-sided 95%: the familiar table row; 99% for two of them; large df tends to the normal's 1.96.
  EXPECT_NEAR(student_t(0.95, 1), 12.7062, 1e-3);
  EXPECT_NEAR(student_t(0.95, 2), 4.3027, 1e-4);
  EXPECT_NEAR(student_t(0.95, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t(0.95, 9), 2.2622, 1e-4);
  EXPECT_NEAR(student_t(0.95, 30), 2.0423, 1e-4);
  EXPECT_NEAR(student_t(0.99, 5), 4.0321, 1e-4);
  EXPECT_NEAR(student_t(0.99, 10), 3.1693, 1e-4);
  EXPECT_NEAR(student_t(0.95, 100000), 1.95996, 1e-4);
  EXPECT_THROW(student_t(0.95, 0), std::invalid_argument);
}

TEST(Stats, TheMeanIntervalOfThreeSeeds) {
  // mean 2, sample sd 1, n 3: half width 4.3027 / sqrt(3) = 2.4841.
  auto i = mean_interval({1, 2, 3});
  EXPECT_DOUBLE_EQ(i.mean, 2);
  ASSERT_TRUE(i.half_width);
  EXPECT_NEAR(*i.half_width, 2.4841, 1e-4);
  EXPECT_FALSE(i.excludes_zero());  // [-0.48, 4.48]
  EXPECT_TRUE(mean_interval({10, 11, 12}).excludes_zero());
  // One seed says nothing of the spread.
  auto one = mean_interval({0.7});
  EXPECT_FALSE(one.half_width);
  EXPECT_FALSE(one.excludes_zero());
  EXPECT_EQ(mean_interval({}).n, 0);
}

TEST(Stats, APairedDifferenceSeesWhatTheUnpairedIntervalsHide) {
  // Seeds move both designs together (0.50, 0.60, 0.70); B is always 0.02 above A.
  const std::vector<double> a = {0.50, 0.60, 0.70}, b = {0.52, 0.62, 0.72};
  EXPECT_FALSE(paired_difference(b, a).half_width.value() > 1e-9);  // the same gain each seed
  EXPECT_NEAR(paired_difference(b, a).mean, 0.02, 1e-12);
  const std::vector<double> b2 = {0.52, 0.63, 0.725};  // gains 0.02, 0.03, 0.025: sd 0.005
  auto d = paired_difference(b2, a);
  EXPECT_NEAR(d.mean, 0.025, 1e-12);
  EXPECT_NEAR(*d.half_width, 4.3027 * 0.005 / std::sqrt(3.0), 1e-5);  // [0.0126, 0.0374]
  EXPECT_TRUE(d.excludes_zero());
  // Gains of 0.03, 0.01, 0.03 (mean 0.023) are not enough with three seeds: [-0.005, 0.052].
  EXPECT_FALSE(paired_difference({0.53, 0.61, 0.73}, a).excludes_zero());
  // Unpaired, the seed-to-seed spread swamps the gain: both intervals overlap widely.
  auto ia = mean_interval(a), ib = mean_interval(b2);
  EXPECT_LT(ib.low(), ia.high());
  EXPECT_THROW(paired_difference({1, 2}, {1}), std::invalid_argument);
}

TEST(Stats, SpearmanRanksWithTies) {
  EXPECT_DOUBLE_EQ(*spearman({1, 2, 3, 4}, {10, 20, 30, 400}), 1.0);  // monotone, not linear
  EXPECT_DOUBLE_EQ(*spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // Ranks x: 1 2 3 4 5; y = (1, 3, 2, 5, 4): d^2 sum 4, rho = 1 - 6*4/(5*24) = 0.8.
  EXPECT_NEAR(*spearman({1, 2, 3, 4, 5}, {1, 3, 2, 5, 4}), 0.8, 1e-12);
  // Ties get the average rank: y ranks (1.5, 1.5, 3, 4): Pearson on ranks = 0.9487.
  EXPECT_NEAR(*spearman({1, 2, 3, 4}, {5, 5, 6, 7}), 0.948683, 1e-6);
  EXPECT_FALSE(spearman({1, 2, 3}, {2, 2, 2}));
  EXPECT_FALSE(spearman({1}, {1}));
}
