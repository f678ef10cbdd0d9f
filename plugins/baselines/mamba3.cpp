// Baseline: Mamba-3 (2026), its SISO form. Two changes to Mamba-2's recurrence: an
// exponential-trapezoidal discretisation, which writes the previous input as well as the current
// one, and a complex (rotary) state whose angles depend on the data:
//   h_t = alpha_t h_{t-1} + beta_t B_{t-1} x_{t-1}^T + gamma_t B_t x_t^T,   y_t = h_t^T C_t + D x_t,
// alpha = exp(dt A), gamma = lambda dt, beta = (1 - lambda) dt alpha, lambda = sigmoid(.) per head.
// The complex state is kept real by rotating B and C by the cumulative angle phi_t = sum dt theta
// (the "RoPE trick": a rotation that commutes with the decay moves onto the keys and queries);
// B_{t-1} carries the rotation of step t-1. No short convolution; B and C are RMS-normalised and
// get a learned per-head bias, as Mamba-3 does. Fast form: two decayed linear attentions (current
// and previous input), exact. out = out_proj(RMSNorm(y) * silu(z)).
// options: form=chunk|recurrent (default chunk), chunk=64, state=32 (even).
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class Mamba3 : public asiarch::TokenMixer {
 public:
  explicit Mamba3(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        inner_(cfg.d_model),
        state_(asiarch::option_int(cfg, "state", 32)),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    TORCH_CHECK(state_ > 0 && state_ % 2 == 0, "mamba3: state must be even");
    // in_proj -> [z | x | B | C | dt | lambda | theta]
    in_proj_ = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(
                                              cfg.d_model, 2 * inner_ + 2 * state_ + 2 * heads_ + state_ / 2).bias(false)));
    b_norm_ = register_module("b_norm", ops::RMSNorm(state_));
    c_norm_ = register_module("c_norm", ops::RMSNorm(state_));
    norm_ = register_module("norm", ops::RMSNorm(inner_));
    out_proj_ = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, cfg.d_model).bias(false)));
    torch::NoGradGuard no_grad;
    A_log_ = register_parameter("A_log", torch::empty({heads_}).uniform_(1, 16).log());
    D_ = register_parameter("D", torch::ones({heads_}));
    auto dt = torch::exp(torch::rand({heads_}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    dt_bias_ = register_parameter("dt_bias", dt + torch::log(-torch::expm1(-dt)));
    B_bias_ = register_parameter("B_bias", torch::ones({heads_, 1, state_}));
    C_bias_ = register_parameter("C_bias", torch::ones({heads_, 1, state_}));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const int64_t N = state_, half = state_ / 2;
    auto p = in_proj_(x);
    int64_t at = 0;
    auto take = [&](int64_t n) { auto t = p.narrow(-1, at, n); at += n; return t; };
    auto z = take(inner_), xin = take(inner_), Braw = take(N), Craw = take(N);
    auto dt = torch::softplus(take(heads_) + dt_bias_).transpose(1, 2);  // [B, H, L]
    auto lambda = torch::sigmoid(take(heads_)).transpose(1, 2);           // [B, H, L]
    auto theta = take(half);                                             // [B, L, N/2]
    auto xs = ops::split_heads(xin, heads_);                             // [B, H, L, P]
    auto Bm = b_norm_(Braw).unsqueeze(1) + B_bias_;                      // [B, H, L, N]
    auto Cm = c_norm_(Craw).unsqueeze(1) + C_bias_;
    // Cumulative data-dependent angles, per head: phi_t = sum_{s<=t} dt_s theta_s.
    auto phi = (dt.unsqueeze(-1) * theta.unsqueeze(1)).cumsum(2);        // [B, H, L, N/2]
    auto rotate = [&](const torch::Tensor& y) {
      auto c = phi.cos(), s = phi.sin();
      auto y1 = y.narrow(-1, 0, half), y2 = y.narrow(-1, half, half);
      return torch::cat({y1 * c - y2 * s, y2 * c + y1 * s}, -1);
    };
    auto Bt = rotate(Bm), Ct = rotate(Cm);
    auto log_alpha = dt * -A_log_.exp().view({1, -1, 1});                // [B, H, L]
    auto gamma = (lambda * dt).unsqueeze(-1);
    auto beta = ((1 - lambda) * dt * log_alpha.exp()).unsqueeze(-1);
    auto prev = [](const torch::Tensor& y) { return torch::constant_pad_nd(y, {0, 0, 1, 0}).narrow(2, 0, y.size(2)); };
    auto B_prev = prev(Bt), x_prev = prev(xs);
    torch::Tensor y;
    if (recurrent_) {
      auto Cs = Ct.unbind(2), Bc = Bt.unbind(2), Bp = B_prev.unbind(2), xc = xs.unbind(2), xp = x_prev.unbind(2);
      auto al = log_alpha.exp().unbind(2), ga = gamma.unbind(2), be = beta.unbind(2);
      auto h = torch::zeros({x.size(0), heads_, N, xs.size(3)}, x.options());
      std::vector<torch::Tensor> out;
      for (int64_t t = 0; t < x.size(1); ++t) {
        h = h * al[t].view({-1, heads_, 1, 1}) + (be[t] * Bp[t]).unsqueeze(-1) * xp[t].unsqueeze(-2) +
            (ga[t] * Bc[t]).unsqueeze(-1) * xc[t].unsqueeze(-2);
        out.push_back((Cs[t].unsqueeze(-1) * h).sum(-2));
      }
      y = torch::stack(out, 2);
    } else {
      y = ops::linear_attention_chunkwise(Ct, gamma * Bt, xs, log_alpha, chunk_) +
          ops::linear_attention_chunkwise(Ct, beta * B_prev, x_prev, log_alpha, chunk_);
    }
    y = y + xs * D_.view({1, -1, 1, 1});
    return out_proj_(norm_->gated(ops::merge_heads(y), z));
  }

 private:
  int64_t heads_, inner_, state_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear in_proj_{nullptr}, out_proj_{nullptr};
  ops::RMSNorm b_norm_{nullptr}, c_norm_{nullptr}, norm_{nullptr};
  torch::Tensor A_log_, D_, dt_bias_, B_bias_, C_bias_;
};

ASIARCH_REGISTER_MIXER(Mamba3, "mamba3")
