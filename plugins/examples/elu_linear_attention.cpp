// Example plugin: causal linear attention with the elu+1 feature map and the
// usual normaliser, in its parallel (masked) form for short sequences:
//   o_t = sum_{i<=t} (phi(q_t).phi(k_i)) v_i / sum_{i<=t} phi(q_t).phi(k_i)
#include <asiarch/plugin.h>

class EluLinearAttention : public asiarch::TokenMixer {
 public:
  explicit EluLinearAttention(const asiarch::MixerConfig& cfg)
      : d_(cfg.d_model), heads_(cfg.num_heads), head_dim_(cfg.d_model / cfg.num_heads) {
    TORCH_CHECK(d_ % heads_ == 0, "d_model ", d_, " is not divisible by num_heads ", heads_);
    qkv_ = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(d_, 3 * d_).bias(false)));
    o_proj_ = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(d_, d_).bias(false)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const auto b = x.size(0), l = x.size(1);
    auto qkv = qkv_(x).view({b, l, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});  // [3,B,H,L,K]
    auto q = torch::elu(qkv[0]) + 1, k = torch::elu(qkv[1]) + 1, v = qkv[2];
    auto scores = torch::matmul(q, k.transpose(-1, -2)).tril();                   // causal
    auto out = torch::matmul(scores, v) / (scores.sum(-1, /*keepdim=*/true) + 1e-6);
    return o_proj_(out.transpose(1, 2).reshape({b, l, d_}));
  }

 private:
  int64_t d_, heads_, head_dim_;
  torch::nn::Linear qkv_{nullptr}, o_proj_{nullptr};
};

ASIARCH_REGISTER_MIXER(EluLinearAttention, "elu_linear_attention")
