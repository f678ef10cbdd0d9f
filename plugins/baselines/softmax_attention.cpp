// Baseline: causal multi-head softmax attention with rotary positions.
// The quadratic reference (complexity gate: declared quadratic).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class SoftmaxAttention : public asiarch::TokenMixer {
 public:
  explicit SoftmaxAttention(const asiarch::MixerConfig& cfg) : heads_(cfg.num_heads) {
    TORCH_CHECK(cfg.d_model % (2 * heads_) == 0, "d_model must be divisible by 2 * num_heads");
    auto lin = [&](const char* name, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, out).bias(false)));
    };
    qkv_ = lin("qkv_proj", 3 * cfg.d_model);
    o_proj_ = lin("o_proj", cfg.d_model);
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto parts = qkv_(x).chunk(3, -1);
    auto q = ops::rotary(ops::split_heads(parts[0], heads_));
    auto k = ops::rotary(ops::split_heads(parts[1], heads_));
    auto v = ops::split_heads(parts[2], heads_);
    return o_proj_(ops::merge_heads(ops::causal_softmax_attention(q, k, v)));
  }

 private:
  int64_t heads_;
  torch::nn::Linear qkv_{nullptr}, o_proj_{nullptr};
};

ASIARCH_REGISTER_MIXER(SoftmaxAttention, "softmax_attention")
ASIARCH_DECLARE_QUADRATIC()
