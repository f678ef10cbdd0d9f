// Baseline: Gated DeltaNet. S <- exp(g_t) S, then the delta update;
// g = -exp(A_log) * softplus(a_proj(x) + dt_bias); gated RMSNorm output
// (RMSNorm(o) * silu(g_proj(x))). A_log = log U(0,16); dt ~ logU(1e-3, 0.1)
// floored at 1e-4, dt_bias = dt + log(-expm1(-dt)).
// options: form=chunk|recurrent (default chunk), chunk=64.
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class GatedDeltaNet : public asiarch::TokenMixer {
 public:
  explicit GatedDeltaNet(const asiarch::MixerConfig& cfg)
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
    g_proj_ = lin("g_proj", cfg.d_model);
    a_proj_ = lin("a_proj", heads_);
    b_proj_ = lin("b_proj", heads_);
    o_proj_ = lin("o_proj", cfg.d_model);
    q_conv_ = register_module("q_conv", ops::ShortConv(cfg.d_model));
    k_conv_ = register_module("k_conv", ops::ShortConv(cfg.d_model));
    v_conv_ = register_module("v_conv", ops::ShortConv(cfg.d_model));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
    torch::NoGradGuard no_grad;
    A_log_ = register_parameter("A_log", torch::empty({heads_}).uniform_(1e-4, 16).log());
    auto dt = torch::exp(torch::rand({heads_}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    dt_bias_ = register_parameter("dt_bias", dt + torch::log(-torch::expm1(-dt)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_)) /
             std::sqrt(static_cast<double>(head_dim_));
    auto k = ops::l2_normalize(ops::split_heads(k_conv_(k_proj_(x)), heads_));
    auto v = ops::split_heads(v_conv_(v_proj_(x)), heads_);
    auto beta = torch::sigmoid(b_proj_(x)).transpose(1, 2);                            // [B, H, L]
    auto g = (-A_log_.exp() * torch::softplus(a_proj_(x) + dt_bias_)).transpose(1, 2);  // [B, H, L]
    auto o = recurrent_ ? ops::delta_rule_recurrent(q, k, v, beta, g)
                        : ops::delta_rule_chunkwise(q, k, v, beta, g, chunk_);
    auto gate = ops::split_heads(g_proj_(x), heads_);
    return o_proj_(ops::merge_heads(norm_->gated(o, gate)));
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, g_proj_{nullptr}, a_proj_{nullptr},
      b_proj_{nullptr}, o_proj_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor A_log_, dt_bias_;
};

ASIARCH_REGISTER_MIXER(GatedDeltaNet, "gated_delta_net")
