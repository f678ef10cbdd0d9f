// Baseline: RWKV-7 "Goose" (Peng et al., 2025). A vector decay w_t and an in-context learning rate
// a_t: S_t = (Diag(w_t) - kappa_t (a_t o kappa_t)^T) S_{t-1} + k~_t v_t^T, o_t = S_t^T r_t, with
// kappa the normalised removal key and k~ = k o (1 + (a - 1) o k_a) the replacement key. As a
// diagonal-plus-low-rank transition (ops::dplr_*): a = -kappa, b = a o kappa, log decay log w.
// Token shift: each branch reads x + mu (x_{t-1} - x). w = exp(-e^{-1/2} sigmoid(w0 + lora_w)), in
// (0.545, 1); a = sigmoid(a0 + lora_a); the output adds the bonus (r o k~ o r_k summed per head) v,
// is normalised per head, gated by a low-rank gate and projected. Our rendering of the published
// block: one layer, no value residual across layers (a mixer sees only its own input).
// options: form=chunk|recurrent (default chunk), chunk=16, rank (default head size / 2, at least 8).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class Rwkv7 : public asiarch::TokenMixer {
 public:
  explicit Rwkv7(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 16)) {
    const int64_t d = cfg.d_model, rank = asiarch::option_int(cfg, "rank", std::max<int64_t>(8, head_dim_ / 2));
    auto lin = [&](const std::string& name, int64_t in, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false)));
    };
    r_proj_ = lin("r_proj", d, d);
    k_proj_ = lin("k_proj", d, d);
    v_proj_ = lin("v_proj", d, d);
    o_proj_ = lin("o_proj", d, d);
    w_down_ = lin("w_down", d, rank);
    w_up_ = lin("w_up", rank, d);
    a_down_ = lin("a_down", d, rank);
    a_up_ = lin("a_up", rank, d);
    g_down_ = lin("g_down", d, rank);
    g_up_ = lin("g_up", rank, d);
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
    torch::NoGradGuard no_grad;
    mu_ = register_parameter("mu", torch::full({6, d}, 0.5));  // token shift of r, w, k, v, a, g
    // Decays spread over channels, slowest last: w0 from -6 to -1 (w from ~0.999 to ~0.82 at init).
    w0_ = register_parameter("w0", torch::linspace(-6, -1, head_dim_).repeat({heads_}));
    a0_ = register_parameter("a0", torch::zeros({d}));
    k_k_ = register_parameter("k_k", torch::full({d}, 0.85));
    k_a_ = register_parameter("k_a", torch::ones({d}));
    r_k_ = register_parameter("r_k", torch::zeros({d}));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto shifted = torch::constant_pad_nd(x, {0, 0, 1, 0}).narrow(1, 0, x.size(1));  // x_{t-1}, zero at t = 0
    auto xx = shifted - x;
    auto mix = [&](int64_t i) { return x + xx * mu_[i]; };
    auto r = r_proj_(mix(0));
    auto log_w = -std::exp(-0.5) * torch::sigmoid(w0_ + w_up_(torch::tanh(w_down_(mix(1)))));
    auto k = k_proj_(mix(2));
    auto v = v_proj_(mix(3));
    auto a = torch::sigmoid(a0_ + a_up_(a_down_(mix(4))));
    auto gate = g_up_(torch::sigmoid(g_down_(mix(5))));
    auto kappa = ops::l2_normalize(ops::split_heads(k * k_k_, heads_));
    auto k_rep = k * (1 + (a - 1) * k_a_);
    auto rh = ops::split_heads(r, heads_), kh = ops::split_heads(k_rep, heads_), vh = ops::split_heads(v, heads_);
    auto ah = ops::split_heads(a, heads_), g = ops::split_heads(log_w, heads_);
    auto o = recurrent_ ? ops::dplr_recurrent(rh, kh, vh, -kappa, ah * kappa, g)
                        : ops::dplr_chunkwise(rh, kh, vh, -kappa, ah * kappa, g, chunk_);
    auto bonus = (rh * kh * ops::split_heads(r_k_.expand_as(r), heads_)).sum(-1, /*keepdim=*/true) * vh;
    o = norm_(o) + bonus;
    return o_proj_(ops::merge_heads(o) * gate);
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear r_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, o_proj_{nullptr}, w_down_{nullptr},
      w_up_{nullptr}, a_down_{nullptr}, a_up_{nullptr}, g_down_{nullptr}, g_up_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor mu_, w0_, a0_, k_k_, k_a_, r_k_;
};

ASIARCH_REGISTER_MIXER(Rwkv7, "rwkv7")
