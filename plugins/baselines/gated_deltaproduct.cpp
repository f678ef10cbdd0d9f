// Baseline: Gated DeltaProduct (Siems et al., 2025). Per token a decay, then n_h delta-rule steps
// with their own keys, values and step sizes, so each token's transition is diagonal plus rank n_h
// (a product of n_h generalised Householder matrices) instead of rank one:
// S <- exp(g_t) S; for j = 1..n_h: S <- (I - beta_tj k_tj k_tj^T) S + beta_tj k_tj v_tj^T; o_t = S^T q_t.
// Written as a sequence n_h times as long (step j of token t at position n_h t + j) through the
// diagonal-plus-low-rank ops (ops::dplr_*): the decay on each token's first step, the query on its
// last. g = -exp(A_log) * softplus(a_proj(x) + dt_bias) per head as in Gated DeltaNet; short
// convolutions on q, k, v; gated RMSNorm output.
// options: form=chunk|recurrent (default chunk), chunk=16, steps=2 (n_h).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class GatedDeltaProduct : public asiarch::TokenMixer {
 public:
  explicit GatedDeltaProduct(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        steps_(asiarch::option_int(cfg, "steps", 2)),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 16)) {
    TORCH_CHECK(steps_ >= 1, "gated_deltaproduct: steps must be at least 1");
    const int64_t d = cfg.d_model;
    auto lin = [&](const std::string& name, int64_t in, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    q_proj_ = lin("q_proj", d, d);
    k_proj_ = lin("k_proj", d, steps_ * d);
    v_proj_ = lin("v_proj", d, steps_ * d);
    g_proj_ = lin("g_proj", d, d);
    o_proj_ = lin("o_proj", d, d);
    a_proj_ = lin("a_proj", d, heads_);
    b_proj_ = lin("b_proj", d, steps_ * heads_);
    q_conv_ = register_module("q_conv", ops::ShortConv(d));
    k_conv_ = register_module("k_conv", ops::ShortConv(steps_ * d));
    v_conv_ = register_module("v_conv", ops::ShortConv(steps_ * d));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
    torch::NoGradGuard no_grad;
    A_log_ = register_parameter("A_log", torch::empty({heads_}).uniform_(1e-4, 16).log());
    auto dt = torch::exp(torch::rand({heads_}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    dt_bias_ = register_parameter("dt_bias", dt + torch::log(-torch::expm1(-dt)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const int64_t B = x.size(0), L = x.size(1), n = steps_, K = head_dim_;
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_)) / std::sqrt(static_cast<double>(K));
    // [B, L, n*d] -> [B, H, L*n, K]: step j of token t at position n t + j.
    auto steps = [&](const torch::Tensor& y) {
      return y.view({B, L, n, heads_, K}).permute({0, 3, 1, 2, 4}).reshape({B, heads_, L * n, K});
    };
    auto k = ops::l2_normalize(steps(k_conv_(k_proj_(x))));
    auto v = steps(v_conv_(v_proj_(x)));
    auto beta = torch::sigmoid(b_proj_(x)).view({B, L, n, heads_}).permute({0, 3, 1, 2}).reshape({B, heads_, L * n, 1});
    auto g_tok = (-A_log_.exp() * torch::softplus(a_proj_(x) + dt_bias_)).transpose(1, 2);  // [B, H, L]
    // The decay on each token's first step, none on the others; per channel for the ops.
    auto g = torch::constant_pad_nd(g_tok.unsqueeze(-1), {0, n - 1}).reshape({B, heads_, L * n, 1}).expand({-1, -1, -1, K});
    // The query on each token's last step.
    auto q_steps = torch::constant_pad_nd(q.unsqueeze(3), {0, 0, n - 1, 0}).reshape({B, heads_, L * n, K});
    auto a = -beta * k, b = k * g.exp(), vb = beta * v;
    auto o = recurrent_ ? ops::dplr_recurrent(q_steps, k, vb, a, b, g)
                        : ops::dplr_chunkwise(q_steps, k, vb, a, b, g, chunk_);
    o = o.view({B, heads_, L, n, K}).select(3, n - 1);
    auto gate = ops::split_heads(g_proj_(x), heads_);
    return o_proj_(ops::merge_heads(norm_->gated(o, gate)));
  }

 private:
  int64_t heads_, head_dim_, steps_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, g_proj_{nullptr}, o_proj_{nullptr},
      a_proj_{nullptr}, b_proj_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor A_log_, dt_bias_;
};

ASIARCH_REGISTER_MIXER(GatedDeltaProduct, "gated_deltaproduct")
