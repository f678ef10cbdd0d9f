// A plugin source for tests that need one whose parameter count passes the budget gate.
#pragma once

#include <string>

namespace asiarch::testing {

// The source of a plugin `cls`: a causal running mean, padded to the parameter count given as the
// option "params" (so the budget gate lets it train). Its forward computes `causal` and then runs
// `tail`, which returns; `members` are more data members.
inline std::string padded_mixer(const std::string& cls, const std::string& tail, const std::string& members = "") {
  return R"cpp(
#include <asiarch/plugin.h>
class )cpp" + cls + R"cpp( : public asiarch::TokenMixer {
 public:
  explicit )cpp" + cls + R"cpp((const asiarch::MixerConfig& cfg) {
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, cfg.d_model));
    const int64_t want = std::stoll(asiarch::option(cfg, "params", "1"));
    pad_ = register_parameter("pad", torch::zeros({std::max<int64_t>(1, want - cfg.d_model * cfg.d_model - cfg.d_model)}));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
    auto causal = proj_(x).cumsum(1) / steps + pad_.sum() * 0;
    )cpp" + tail + R"cpp(
  }
  torch::nn::Linear proj_{nullptr};
  torch::Tensor pad_;
  )cpp" + members + R"cpp(
};
ASIARCH_REGISTER_MIXER()cpp" + cls + ", \"" + cls + R"cpp(")
)cpp";
}

}  // namespace asiarch::testing
