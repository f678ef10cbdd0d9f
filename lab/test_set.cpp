#include "lab/test_set.h"
#include "lab/device.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "util/format.h"

namespace asiarch::lab {

TestPlan plan_test(const TaskData& task, std::uint64_t seed, int64_t probes) {
  TestPlan plan;
  const int64_t n = static_cast<int64_t>(task.test.size());
  plan.length = n ? static_cast<int64_t>(task.test.front().input.size()) : 0;
  if (task.decode_from_last || plan.length < 2 || n == 0) probes = 0;
  plan.rows = n + probes;
  std::mt19937_64 rng(seed ^ 0x7465737470726f62ULL);
  // Row k of the unshuffled list: test example k, then the probes.
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(static_cast<size_t>(plan.rows));
  for (const auto& e : task.test) rows.push_back(e.input);
  std::uniform_int_distribution<int64_t> any_token(0, task.vocab - 1), any_cut(0, plan.length - 2),
      any_row(0, std::max<int64_t>(0, n - 1));
  std::vector<std::pair<int64_t, int64_t>> copies;  // (original, cut) per probe, unshuffled
  for (int64_t p = 0; p < probes; ++p) {
    const int64_t original = any_row(rng), cut = any_cut(rng);
    auto row = rows[static_cast<size_t>(original)];
    for (int64_t t = cut + 1; t < plan.length; ++t) row[static_cast<size_t>(t)] = any_token(rng);
    rows.push_back(std::move(row));
    copies.emplace_back(original, cut);
  }
  std::vector<int64_t> place(static_cast<size_t>(plan.rows));  // unshuffled index -> plan row
  std::iota(place.begin(), place.end(), 0);
  std::shuffle(place.begin(), place.end(), rng);
  plan.inputs.resize(static_cast<size_t>(plan.rows * plan.length));
  plan.test_row.assign(static_cast<size_t>(plan.rows), -1);
  for (int64_t k = 0; k < plan.rows; ++k) {
    const int64_t at = place[static_cast<size_t>(k)];
    std::copy(rows[static_cast<size_t>(k)].begin(), rows[static_cast<size_t>(k)].end(),
              plan.inputs.begin() + at * plan.length);
    if (k < n) plan.test_row[static_cast<size_t>(at)] = k;
  }
  for (int64_t p = 0; p < probes; ++p) {
    const auto [original, cut] = copies[static_cast<size_t>(p)];
    plan.probes.push_back({place[static_cast<size_t>(n + p)], place[static_cast<size_t>(original)], cut});
  }
  return plan;
}

int64_t prediction_rows(int64_t length, int64_t vocab) {
  const int64_t per_row = std::max<int64_t>(1, length * vocab * 4);
  return std::clamp<int64_t>((int64_t{32} << 20) / per_row, 1, 64);
}

void predict(LanguageModel& model, const torch::Tensor& inputs, const LogitSink& sink) {
  torch::NoGradGuard no_grad;
  model->eval();
  const int64_t n = inputs.size(0), rows = prediction_rows(inputs.size(1), model->config().vocab);
  const auto device = device_of(*model);
  // Logits leave the device in blocks: they go to whoever scores them, as float32 on the CPU.
  for (int64_t i = 0; i < n; i += rows) {
    const int64_t b = std::min(rows, n - i);
    sink(i, model->forward(inputs.narrow(0, i, b).to(device)).to(torch::kCPU, torch::kFloat).contiguous());
  }
  model->train();
}

TestScorer::TestScorer(const TaskData& task, TestPlan plan, double probe_tolerance)
    : kind_(task.metric), vocab_(task.vocab), plan_(std::move(plan)), tolerance_(probe_tolerance) {
  targets_.resize(static_cast<size_t>(plan_.rows));
  for (int64_t r = 0; r < plan_.rows; ++r)
    if (const int64_t t = plan_.test_row[static_cast<size_t>(r)]; t >= 0)
      targets_[static_cast<size_t>(r)] = task.test[static_cast<size_t>(t)].target;
  seen_.assign(static_cast<size_t>(plan_.rows), false);
  compared_.assign(plan_.probes.size(), false);
  correct_.assign(static_cast<size_t>(vocab_), 0);
  total_.assign(static_cast<size_t>(vocab_), 0);
  for (const auto& p : plan_.probes) in_probe_.insert({p.row, p.original});
  probe_.reason = plan_.probes.empty() ? "no probe rows (outputs decoded from the last position)" : "";
}

Status TestScorer::add(int64_t first, const torch::Tensor& logits) {
  const int64_t length = static_cast<int64_t>(targets_.empty() ? 0 : plan_.length);
  if (logits.dim() != 3 || logits.scalar_type() != torch::kFloat || logits.size(1) != length ||
      logits.size(2) != vocab_)
    return make_error("logits of shape " + c10::str(logits.sizes()) + " (" + c10::toString(logits.scalar_type()) +
                      "); expected [rows, " + std::to_string(length) + ", " + std::to_string(vocab_) + "] float");
  const int64_t n = logits.size(0);
  if (first < 0 || n < 1 || first > plan_.rows - n)
    return make_error("logits for rows " + std::to_string(first) + ".." + std::to_string(first + n - 1) + " of " +
                      std::to_string(plan_.rows));
  for (int64_t r = first; r < first + n; ++r)
    if (seen_[static_cast<size_t>(r)]) return make_error("logits for row " + std::to_string(r) + " came twice");
  auto lg = logits.contiguous();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = first + i;
    seen_[static_cast<size_t>(r)] = true;
    ++received_;
    if (in_probe_.count(r)) prefixes_[r] = lg[i].clone();
    const auto& target = targets_[static_cast<size_t>(r)];
    if (target.empty()) continue;  // a probe row: compared below, never scored
    auto row = lg[i];
    auto log_probs = torch::log_softmax(row, -1);
    const float* lp = log_probs.data_ptr<float>();
    const float* raw = row.data_ptr<float>();
    for (int64_t t = 0; t < length; ++t) {
      const int64_t y = target[static_cast<size_t>(t)];
      if (y == kIgnore) continue;
      const float* at = raw + t * vocab_;
      if (!std::all_of(at, at + vocab_, [](float v) { return std::isfinite(v); })) non_finite_ = true;
      if (kind_ == Metric::bits_per_byte) {
        nll_sum_ -= lp[t * vocab_ + y];
        ++nll_count_;
      } else {
        const int64_t best = std::max_element(at, at + vocab_) - at;
        ++total_[static_cast<size_t>(y)];
        correct_[static_cast<size_t>(y)] += best == y ? 1 : 0;
      }
    }
  }
  // Probe pairs whose two rows have both come, each compared once.
  for (size_t p = 0; p < plan_.probes.size() && probe_.passed; ++p) {
    const auto& pr = plan_.probes[p];
    if (compared_[p] || !prefixes_.count(pr.row) || !prefixes_.count(pr.original)) continue;
    compared_[p] = true;
    auto pa = prefixes_[pr.row].narrow(0, 0, pr.cut + 1), pb = prefixes_[pr.original].narrow(0, 0, pr.cut + 1);
    const std::string rows = "rows " + std::to_string(pr.original) + " and " + std::to_string(pr.row) + " of " +
                             std::to_string(plan_.rows);
    if (!torch::isfinite(pa).all().item<bool>() || !torch::isfinite(pb).all().item<bool>()) {
      probe_.passed = false;
      probe_.reason = "non-finite test logits in a probe pair (" + rows + ")";
      break;
    }
    const double scale = std::max(1.0, std::max(pa.abs().max().item<double>(), pb.abs().max().item<double>()));
    const double change = (pa - pb).abs().max().item<double>() / scale;
    probe_.max_change = std::max(probe_.max_change, change);
    if (!(change <= tolerance_)) {
      probe_.passed = false;
      probe_.reason = "the trained model reads the future: test logits at positions <= " + std::to_string(pr.cut) +
                      " changed by " + format_number(change, "%.3g") +
                      " (relative) when only later tokens changed (eval mode, length " + std::to_string(length) +
                      ", " + rows + ")";
    }
  }
  return Ok{};
}

double TestScorer::metric() const {
  if (non_finite_) return std::nan("");
  if (kind_ == Metric::bits_per_byte)
    return nll_count_ ? nll_sum_ / static_cast<double>(nll_count_) / std::log(2.0) : 0;
  double acc = 0;
  int classes = 0;
  for (int64_t c = 0; c < vocab_; ++c)
    if (total_[static_cast<size_t>(c)] > 0) {
      acc += static_cast<double>(correct_[static_cast<size_t>(c)]) / static_cast<double>(total_[static_cast<size_t>(c)]);
      ++classes;
    }
  return classes ? acc / classes : 0;
}

ProbeResult TestScorer::probes() const {
  ProbeResult r = probe_;
  if (r.passed && !plan_.probes.empty())
    r.reason = std::to_string(plan_.probes.size()) + " probe rows among " + std::to_string(plan_.rows) +
               " test rows, scored by the trusted side: earlier logits unchanged (max change " +
               format_number(r.max_change, "%.3g") + ")";
  return r;
}

double evaluate(LanguageModel& model, const TaskData& task) {
  TestPlan plan = plan_test(task, 0, 0);
  auto inputs = torch::from_blob(plan.inputs.data(), {plan.rows, plan.length}, torch::kLong).clone();
  TestScorer scorer(task, std::move(plan));
  predict(model, inputs, [&](int64_t first, const torch::Tensor& logits) {
    if (auto st = scorer.add(first, logits); !st) throw std::runtime_error(st.error().message);
  });
  return scorer.metric();
}

}  // namespace asiarch::lab
