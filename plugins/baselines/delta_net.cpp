// Baseline: DeltaNet. u_t = beta_t (v_t - S^T k_t), S_t = S_{t-1} + k_t u_t^T,
// o_t = S_t^T q_t; q, k, v through a short causal conv (4) + SiLU, q and k
// L2-normalised, beta = sigmoid(W_beta x) per head, per-head RMSNorm output.
// options: form=chunk|recurrent (default chunk: the WY/UT chunkwise form), chunk=64.
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class DeltaNet : public asiarch::TokenMixer {
 public:
  explicit DeltaNet(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    auto lin = [&](const char* name, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, out).bias(false)));
    };
    q_proj_ = lin("q_proj", cfg.d_model);
    k_proj_ = lin("k_proj", cfg.d_model);
    v_proj_ = lin("v_proj", cfg.d_model);
    b_proj_ = lin("b_proj", heads_);
    o_proj_ = lin("o_proj", cfg.d_model);
    q_conv_ = register_module("q_conv", ops::ShortConv(cfg.d_model));
    k_conv_ = register_module("k_conv", ops::ShortConv(cfg.d_model));
    v_conv_ = register_module("v_conv", ops::ShortConv(cfg.d_model));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_)) /
             std::sqrt(static_cast<double>(head_dim_));
    auto k = ops::l2_normalize(ops::split_heads(k_conv_(k_proj_(x)), heads_));
    auto v = ops::split_heads(v_conv_(v_proj_(x)), heads_);
    auto beta = torch::sigmoid(b_proj_(x)).transpose(1, 2);  // [B, H, L]
    auto o = recurrent_ ? ops::delta_rule_recurrent(q, k, v, beta)
                        : ops::delta_rule_chunkwise(q, k, v, beta, {}, chunk_);
    return o_proj_(ops::merge_heads(norm_(o)));
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, b_proj_{nullptr}, o_proj_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
};

ASIARCH_REGISTER_MIXER(DeltaNet, "delta_net")
