// Baseline: Kimi Delta Attention (Kimi Linear, Moonshot AI, 2025). Gated DeltaNet with a
// per-channel (fine-grained) decay instead of one per head:
// S_t = (I - beta_t k_t k_t^T) Diag(exp(g_t)) S_{t-1} + beta_t k_t v_t^T, o_t = S_t^T q_t.
// Gated DeltaNet-2 (gated_delta_net_2.cpp) with its erase and write gates both beta; as a
// diagonal-plus-low-rank transition (ops::dplr_*): a = -k, b = beta exp(g) o k, write k (beta v)^T.
// g = -exp(A_log[h]) * softplus(f(x) + dt_bias), f low rank (d -> rank -> d), A ~ U(1,16), dt_bias
// per channel; beta = sigmoid(b_proj(x)) per head; short convolutions; gated RMSNorm output.
// options: form=chunk|recurrent (default chunk), chunk=16, rank (default head size / 2, at least 8).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class KimiDeltaAttention : public asiarch::TokenMixer {
 public:
  explicit KimiDeltaAttention(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 16)) {
    const int64_t d = cfg.d_model, rank = asiarch::option_int(cfg, "rank", std::max<int64_t>(8, head_dim_ / 2));
    auto lin = [&](const std::string& name, int64_t in, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    q_proj_ = lin("q_proj", d, d);
    k_proj_ = lin("k_proj", d, d);
    v_proj_ = lin("v_proj", d, d);
    g_proj_ = lin("g_proj", d, d);
    o_proj_ = lin("o_proj", d, d);
    f_down_ = lin("f_down", d, rank);
    f_up_ = lin("f_up", rank, d);
    b_proj_ = lin("b_proj", d, heads_);
    q_conv_ = register_module("q_conv", ops::ShortConv(d));
    k_conv_ = register_module("k_conv", ops::ShortConv(d));
    v_conv_ = register_module("v_conv", ops::ShortConv(d));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
    torch::NoGradGuard no_grad;
    A_log_ = register_parameter("A_log", torch::empty({heads_}).uniform_(1, 16).log());
    auto dt = torch::exp(torch::rand({d}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    dt_bias_ = register_parameter("dt_bias", dt + torch::log(-torch::expm1(-dt)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_)) /
             std::sqrt(static_cast<double>(head_dim_));
    auto k = ops::l2_normalize(ops::split_heads(k_conv_(k_proj_(x)), heads_));
    auto v = ops::split_heads(v_conv_(v_proj_(x)), heads_);
    auto g = -A_log_.exp().view({1, -1, 1, 1}) * ops::split_heads(torch::softplus(f_up_(f_down_(x)) + dt_bias_), heads_);
    auto beta = torch::sigmoid(b_proj_(x)).transpose(1, 2).unsqueeze(-1);  // [B, H, L, 1]
    auto b = beta * k * g.exp();
    auto vb = beta * v;
    auto o = recurrent_ ? ops::dplr_recurrent(q, k, vb, -k, b, g) : ops::dplr_chunkwise(q, k, vb, -k, b, g, chunk_);
    auto gate = ops::split_heads(g_proj_(x), heads_);
    return o_proj_(ops::merge_heads(norm_->gated(o, gate)));
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, g_proj_{nullptr}, o_proj_{nullptr},
      f_down_{nullptr}, f_up_{nullptr}, b_proj_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor A_log_, dt_bias_;
};

ASIARCH_REGISTER_MIXER(KimiDeltaAttention, "kimi_delta_attention")
