// Testing split in two: the process that runs a mixer only predicts, and a
// trusted one scores. The trusted side turns a task's test set into the rows
// the mixer predicts (test rows, with probe rows mixed in among them in an
// order only it knows), keeps the targets, and computes the metric and the
// probes' verdict from the logits that come back. A plugin that forges its
// logits can do no better than predictions it could compute; it never sees a
// target.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "lab/model.h"
#include "lab/probes.h"
#include "lab/tasks.h"
#include "util/result.h"

namespace asiarch::lab {

struct TestPlan {
  int64_t rows = 0, length = 0;
  std::vector<int64_t> inputs;    // rows x length, row-major: all the predicting side gets
  std::vector<int64_t> test_row;  // per row: its example in task.test, or -1 for a probe row
  struct Probe {
    int64_t row = 0;       // the probe row
    int64_t original = 0;  // the row it copies up to `cut`
    int64_t cut = 0;       // last position shared; later tokens are replaced at random
  };
  std::vector<Probe> probes;
};

// The task's test rows and `probes` probe rows (each a copy of a random test
// row whose tokens after a random position are replaced at random), shuffled
// with `seed`. Tasks decoded from the last position get no probe rows: each of
// their outputs reads the whole sequence by design.
TestPlan plan_test(const TaskData& task, std::uint64_t seed, int64_t probes);

// Rows per block of logits: at most 64, and at most 32 MiB of float32 logits.
int64_t prediction_rows(int64_t length, int64_t vocab);

// The predicting side: logits of `inputs` ([N, L] int64) in eval mode without
// grad, prediction_rows() rows at a time, each block given to `sink` with its
// first row. The model is back in train mode afterwards.
using LogitSink = std::function<void(int64_t first_row, const torch::Tensor& logits)>;
void predict(LanguageModel& model, const torch::Tensor& inputs, const LogitSink& sink);

// The trusted side: scores blocks of logits as they come, in any order.
class TestScorer {
 public:
  TestScorer(const TaskData& task, TestPlan plan, double probe_tolerance = 1e-4);
  // Logits [n, L or decode length, vocab] float32 of rows [first, first + n).
  // A block of the wrong shape or type, out of range, or for rows already
  // scored is an error and changes nothing.
  Status add(int64_t first, const torch::Tensor& logits);
  bool complete() const { return received_ == plan_.rows; }
  int64_t rows_received() const { return received_; }
  int64_t rows() const { return plan_.rows; }
  int64_t probe_rows() const { return static_cast<int64_t>(plan_.probes.size()); }
  // Accuracy (class-macro-averaged) or bits per byte over the test rows; NaN
  // when a scored logit was not finite. Only meaningful once complete().
  double metric() const;
  // The probe rows' verdict: outputs at or before each cut must match the
  // original's. Only meaningful once complete().
  ProbeResult probes() const;

 private:
  Metric kind_;
  int64_t vocab_;
  std::vector<std::vector<int64_t>> targets_;  // per plan row; empty for probe rows
  TestPlan plan_;
  double tolerance_;
  std::vector<bool> seen_;
  int64_t received_ = 0;
  double nll_sum_ = 0;
  int64_t nll_count_ = 0;
  bool non_finite_ = false;
  std::vector<int64_t> correct_, total_;
  std::set<int64_t> in_probe_;                 // rows that are a probe or a probe's original
  std::map<int64_t, torch::Tensor> prefixes_;  // their logits
  std::vector<bool> compared_;                 // per probe
  ProbeResult probe_;
  double probe_scale_ = 1;
};

// A test set scored in one process (for `asiarch eval` without a worker, the
// baselines and the tests): plan without probes, predict, score.
double evaluate(LanguageModel& model, const TaskData& task);

}  // namespace asiarch::lab
