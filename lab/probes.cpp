#include "lab/probes.h"
#include "lab/device.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>

#include "util/format.h"

namespace asiarch::lab {
namespace {

std::string fmt(double v) { return format_number(v, "%.3g"); }

}  // namespace

ProbeResult probe_causality(LanguageModel& model, const TaskData& task, int64_t batch_size, std::uint64_t seed,
                            double tolerance, bool eval_without_grad) {
  const auto start = std::chrono::steady_clock::now();
  ProbeResult r;
  const int64_t n_test = static_cast<int64_t>(task.test.size());
  const int64_t L = n_test ? static_cast<int64_t>(task.test.front().input.size()) : 0;
  const int64_t pairs = std::max<int64_t>(1, std::min(batch_size / 2, n_test));
  if (L < 2 || n_test == 0) {
    r.reason = "nothing to probe";
    return r;
  }
  std::mt19937_64 rng(seed ^ 0x70726f6265ULL);
  auto tokens = torch::empty({2 * pairs, L}, torch::kLong);
  std::vector<int64_t> cut(static_cast<size_t>(pairs));
  auto* pt = tokens.data_ptr<int64_t>();
  std::uniform_int_distribution<int64_t> any_token(0, task.vocab - 1);
  for (int64_t p = 0; p < pairs; ++p) {
    const auto& in = task.test[static_cast<size_t>(p)].input;
    std::copy(in.begin(), in.end(), pt + 2 * p * L);
    std::copy(in.begin(), in.end(), pt + (2 * p + 1) * L);
    cut[static_cast<size_t>(p)] = std::uniform_int_distribution<int64_t>(0, L - 2)(rng);
    for (int64_t t = cut[static_cast<size_t>(p)] + 1; t < L; ++t) pt[(2 * p + 1) * L + t] = any_token(rng);
  }
  // Rows in random order: row `order[k]` of the batch holds pair k / 2's original (k even) or probe.
  std::vector<int64_t> order(static_cast<size_t>(2 * pairs));
  for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int64_t>(k);
  std::shuffle(order.begin(), order.end(), rng);
  auto placed = torch::empty_like(tokens);
  for (size_t k = 0; k < order.size(); ++k) placed[order[k]].copy_(tokens[static_cast<int64_t>(k)]);

  struct Pass {
    bool train, grad;
    const char* name;
  };
  const Pass passes[] = {{false, false, "eval mode, no grad"}, {true, true, "train mode, grad"},
                         {true, false, "train mode, no grad"}, {false, true, "eval mode, grad"}};
  int modes = 0;
  for (const Pass& pass : passes) {
    if (!pass.train && !pass.grad && !eval_without_grad) continue;
    ++modes;
    model->train(pass.train);
    std::optional<torch::NoGradGuard> no_grad;
    if (!pass.grad) no_grad.emplace();
    auto h = model->states(placed.to(device_of(*model))).detach();
    if (!torch::isfinite(h).all().item<bool>()) {
      r.passed = false;
      r.reason = std::string("non-finite state in a probe batch (") + pass.name + ")";
      break;
    }
    const double scale = std::max(1.0, h.abs().max().item<double>());
    for (int64_t p = 0; p < pairs && r.passed; ++p) {
      const int64_t t = cut[static_cast<size_t>(p)];
      auto a = h[order[static_cast<size_t>(2 * p)]].narrow(0, 0, t + 1);
      auto b = h[order[static_cast<size_t>(2 * p + 1)]].narrow(0, 0, t + 1);
      const double change = (a - b).abs().max().item<double>() / scale;
      r.max_change = std::max(r.max_change, change);
      if (!(change <= tolerance)) {
        r.passed = false;
        r.reason = "the trained model reads the future: states at positions <= " + std::to_string(t) +
                   " changed by " + fmt(change) + " (relative) when only later tokens changed (" + pass.name +
                   ", length " + std::to_string(L) + ", batch " + std::to_string(2 * pairs) + ")";
      }
    }
    if (!r.passed) break;
  }
  model->train();
  if (r.passed)
    r.reason = std::to_string(pairs) + " probes in a batch of " + std::to_string(2 * pairs) +
               ", " + std::to_string(modes) + " modes: earlier states unchanged (max change " + fmt(r.max_change) + ")";
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

void to_json(nlohmann::json& j, const ProbeResult& p) {
  j = {{"passed", p.passed}, {"reason", p.reason}, {"max_change", std::isfinite(p.max_change) ? p.max_change : -1.0},
       {"seconds", p.seconds}};
}

void from_json(const nlohmann::json& j, ProbeResult& p) {
  p.passed = j.at("passed").get<bool>();
  p.reason = j.at("reason").get<std::string>();
  p.max_change = j.at("max_change").get<double>();
  p.seconds = j.at("seconds").get<double>();
}

}  // namespace asiarch::lab
