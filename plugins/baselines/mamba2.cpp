// Baseline: Mamba2 (SSD). in_proj -> [z | xBC | dt]; depthwise conv (4, bias)
// + SiLU on xBC; dt = softplus(dt + dt_bias), A = -exp(A_log) (A ~ U(1,16));
// h_t = exp(dt_t A) h_{t-1} + dt_t x_t B_t^T, y_t = h_t C_t + D x_t;
// out = out_proj(RMSNorm(y * silu(z))). Scaled to the DeltaNet parameter
// budget: expand 1, state 64, head dim d_model / num_heads.
// options: form=chunk|recurrent (default chunk), chunk=64, state=64.
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class Mamba2 : public asiarch::TokenMixer {
 public:
  explicit Mamba2(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        inner_(cfg.d_model),
        state_(asiarch::option_int(cfg, "state", 64)),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    in_proj_ = register_module(
        "in_proj", torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, 2 * inner_ + 2 * state_ + heads_).bias(false)));
    conv_ = register_module("conv", ops::ShortConv(inner_ + 2 * state_, 4, /*bias=*/true));
    norm_ = register_module("norm", ops::RMSNorm(inner_));
    out_proj_ = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, cfg.d_model).bias(false)));
    torch::NoGradGuard no_grad;
    A_log_ = register_parameter("A_log", torch::empty({heads_}).uniform_(1, 16).log());
    D_ = register_parameter("D", torch::ones({heads_}));
    auto dt = torch::exp(torch::rand({heads_}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3)).clamp_min(1e-4);
    dt_bias_ = register_parameter("dt_bias", dt + torch::log(-torch::expm1(-dt)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto zxbcdt = in_proj_(x);
    auto z = zxbcdt.narrow(-1, 0, inner_);
    auto xbc = conv_(zxbcdt.narrow(-1, inner_, inner_ + 2 * state_));
    auto dt = torch::softplus(zxbcdt.narrow(-1, 2 * inner_ + 2 * state_, heads_) + dt_bias_).transpose(1, 2);  // [B,H,L]
    auto xs = ops::split_heads(xbc.narrow(-1, 0, inner_), heads_);                   // [B,H,L,P]
    auto Bm = xbc.narrow(-1, inner_, state_).unsqueeze(1).expand({-1, heads_, -1, -1});  // [B,H,L,N]
    auto Cm = xbc.narrow(-1, inner_ + state_, state_).unsqueeze(1).expand({-1, heads_, -1, -1});
    auto g = dt * -A_log_.exp().view({1, -1, 1});                                    // log decay
    auto v = xs * dt.unsqueeze(-1);
    auto y = recurrent_ ? ops::linear_attention_recurrent(Cm, Bm, v, g)
                        : ops::linear_attention_chunkwise(Cm, Bm, v, g, chunk_);
    y = y + xs * D_.view({1, -1, 1, 1});
    return out_proj_(norm_->gated(ops::merge_heads(y), z));
  }

 private:
  int64_t heads_, inner_, state_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear in_proj_{nullptr}, out_proj_{nullptr};
  ops::ShortConv conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor A_log_, D_, dt_bias_;
};

ASIARCH_REGISTER_MIXER(Mamba2, "mamba2")
