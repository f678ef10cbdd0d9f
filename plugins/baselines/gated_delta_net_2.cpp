// Baseline: Gated DeltaNet-2 (NVIDIA, 2026). The gated delta rule with its three scalars made
// vectors: a per-channel decay g (Kimi Delta Attention's), a key-side erase gate b and a
// value-side write gate w:  S_t = (I - k_t (b_t o k_t)^T) Diag(exp(g_t)) S_{t-1} + k_t (w_t o v_t)^T,
// o_t = S_t^T q_t. With b = w = beta it is Kimi Delta Attention (kimi_delta_attention.cpp); with a
// scalar g as well, Gated DeltaNet (gated_delta_net.cpp). As a diagonal-plus-low-rank transition
// (ops::dplr_*): a = -k, b' = exp(g) o b o k, write k (w o v)^T.
// g = -exp(A_log[h]) * softplus(f(x) + dt_bias), f, b and w low rank (d -> rank -> d), A ~ U(1,16),
// dt_bias per channel as in Gated DeltaNet; short convolutions on q, k, v; gated RMSNorm output.
// options: form=chunk|recurrent (default chunk), chunk=16, rank (default head size / 2, at least 8).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class GatedDeltaNet2 : public asiarch::TokenMixer {
 public:
  explicit GatedDeltaNet2(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 16)) {
    const int64_t d = cfg.d_model, rank = asiarch::option_int(cfg, "rank", std::max<int64_t>(8, head_dim_ / 2));
    auto lin = [&](const std::string& name, int64_t in, int64_t out, bool bias = false) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
    };
    q_proj_ = lin("q_proj", d, d);
    k_proj_ = lin("k_proj", d, d);
    v_proj_ = lin("v_proj", d, d);
    g_proj_ = lin("g_proj", d, d);
    o_proj_ = lin("o_proj", d, d);
    f_down_ = lin("f_down", d, rank);
    f_up_ = lin("f_up", rank, d);
    b_down_ = lin("b_down", d, rank);
    b_up_ = lin("b_up", rank, d, true);
    w_down_ = lin("w_down", d, rank);
    w_up_ = lin("w_up", rank, d, true);
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
    auto decay = torch::softplus(f_up_(f_down_(x)) + dt_bias_);                     // [B, L, d]
    auto g = -A_log_.exp().view({1, -1, 1, 1}) * ops::split_heads(decay, heads_);   // [B, H, L, K]
    auto erase = ops::split_heads(torch::sigmoid(b_up_(b_down_(x))), heads_);        // key side
    auto write = ops::split_heads(torch::sigmoid(w_up_(w_down_(x))), heads_);        // value side
    auto b = erase * k * g.exp();
    auto vw = write * v;
    auto o = recurrent_ ? ops::dplr_recurrent(q, k, vw, -k, b, g) : ops::dplr_chunkwise(q, k, vw, -k, b, g, chunk_);
    auto gate = ops::split_heads(g_proj_(x), heads_);
    return o_proj_(ops::merge_heads(norm_->gated(o, gate)));
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, g_proj_{nullptr}, o_proj_{nullptr},
      f_down_{nullptr}, f_up_{nullptr}, b_down_{nullptr}, b_up_{nullptr}, w_down_{nullptr}, w_up_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor A_log_, dt_bias_;
};

ASIARCH_REGISTER_MIXER(GatedDeltaNet2, "gated_delta_net_2")
