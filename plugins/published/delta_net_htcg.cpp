// Published design: ASI-Arch "delta_net_htcg", paper name "AdaptiveHierGateNet"
// (HierGateNet). Source: /work/shared/reference/asi-arch-designs.jsonl line 79 (0-based),
// ASI-Arch index 645, parent 403; GAIR-NLP/ASI-Arch data/106.json, Apache-2.0.
// Reported there: score 1.957, 413.38M parameters at verification scale, lm-eval average 0.3943.
// This file is our own C++ for the same computation, not a translation of their code.
//
// The mixer (per head h, per token t):
//   q, k, v = SiLU(ShortConv4(W x)); q, k L2-normalised; beta = sigmoid(W_beta x)
//   delta   = chunkwise delta rule (q, k, v, beta)                   -- global path
//   short   = causal depthwise FIR(v), kernel 3                       -- local paths
//   long    = causal depthwise FIR(v), kernel 31
//   Stage 1: w_g = sigmoid(W_g x + b_g), b_g = +0.5 (~62% on delta at init)
//   Stage 2: p = softmax((W_l x + b_l) / tau_h) over [value, short, long],
//            b_l = [2, 0, 0] (value path favoured), tau_h = softplus(log_temp_h) > 0
//   o = w_g * delta + (1 - w_g) * (p_0 v + p_1 short + p_2 long)
//   out = W_o merge_heads(RMSNorm_head(o))
//
// Kept from the published design: both delta-rule and three local paths; the two-stage
// (sigmoid, then temperature softmax) gate with its bias initialisation; per-head learnable
// temperature initialised as in the source (log_temp = log(e * 1.0) = 1, so tau = softplus(1));
// identity-initialised FIR filters (last tap 1) plus N(0, 1e-3) noise; FIR kernel sizes 3 and 31
// (sequence-length hyper-parameters, not width ones, so unchanged at d_model 64); short conv 4
// with SiLU on q, k and v; ungated per-head RMSNorm (use_gate = False in the source);
// q is L2-normalised without a further 1/sqrt(head_dim) factor, as in the source's own
// delta kernel: scaling q down would shrink the delta path against the value/FIR paths it is
// mixed with before the norm.
//
// Simplified / different:
// - Width follows the host (d_model, num_heads from MixerConfig; head_dim = d_model/heads),
//   expand_k = expand_v = 1 as published.
// - The delta rule is asiarch::ops::delta_rule_chunkwise (chunk 64 by default, option chunk=N;
//   the source uses 32, which changes only speed, not the result).
// - Dropped: padding/unpadding by attention_mask, the recurrent cache, the unused
//   qk_activation / qk_norm / allow_neg_eigval variants (only the published defaults are built).
// - No auxiliary loss: the source has none.
// - Linear layers keep LibTorch's default initialisation (as our baselines do); the gate biases
//   are set as published after construction.
//
// options: chunk=64
#include <asiarch/plugin.h>

#include <cmath>
#include <vector>

namespace ops = asiarch::ops;

class HierGateNet : public asiarch::TokenMixer {
 public:
  explicit HierGateNet(const asiarch::MixerConfig& cfg)
      : d_(cfg.d_model),
        heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    auto lin = [&](const char* name, int64_t out, bool bias) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(d_, out).bias(bias)));
    };
    q_proj_ = lin("q_proj", d_, false);
    k_proj_ = lin("k_proj", d_, false);
    v_proj_ = lin("v_proj", d_, false);
    b_proj_ = lin("b_proj", heads_, false);
    global_gate_ = lin("global_gate_proj", heads_, true);
    local_gate_ = lin("local_gate_proj", heads_ * 3, true);
    o_proj_ = lin("o_proj", d_, false);
    q_conv_ = register_module("q_conv", ops::ShortConv(d_));
    k_conv_ = register_module("k_conv", ops::ShortConv(d_));
    v_conv_ = register_module("v_conv", ops::ShortConv(d_));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));

    torch::NoGradGuard no_grad;
    fir_short_ = register_parameter("fir_short", identity_fir(d_, kShortKernel));
    fir_long_ = register_parameter("fir_long", identity_fir(d_, kLongKernel));
    global_gate_->bias.fill_(kGlobalGateBias);
    // local_gate bias laid out [h0: value, short, long | h1: ...].
    local_gate_->bias.view({heads_, 3}).select(1, 0).fill_(kValuePathBias);
    local_gate_->bias.view({heads_, 3}).narrow(1, 1, 2).zero_();
    log_temp_ = register_parameter("log_temp", torch::full({heads_}, std::log(std::exp(1.0) * kTempInit)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    // [B, H, L, K]; q and k unit length, as in the source's kernel.
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_));
    auto k = ops::l2_normalize(ops::split_heads(k_conv_(k_proj_(x)), heads_));
    auto v_flat = v_conv_(v_proj_(x));                       // [B, L, H*V]
    auto v = ops::split_heads(v_flat, heads_);               // [B, H, L, V]
    auto beta = torch::sigmoid(b_proj_(x)).transpose(1, 2);  // [B, H, L]

    auto delta = ops::delta_rule_chunkwise(q, k, v, beta, {}, chunk_);
    auto local_short = ops::split_heads(causal_fir(v_flat, fir_short_), heads_);
    auto local_long = ops::split_heads(causal_fir(v_flat, fir_long_), heads_);

    // Stage 1: global (delta) against the local pool, one sigmoid per (token, head).
    auto w_global = torch::sigmoid(global_gate_(x)).transpose(1, 2).unsqueeze(-1);  // [B, H, L, 1]
    // Stage 2: the local pool's three branches, temperature per head.
    const int64_t B = x.size(0), L = x.size(1);
    auto logits = local_gate_(x).view({B, L, heads_, 3}).permute({0, 2, 1, 3});  // [B, H, L, 3]
    auto tau = torch::softplus(log_temp_).view({1, heads_, 1, 1});
    auto p = torch::softmax(logits / tau, -1);
    auto local = p.narrow(-1, 0, 1) * v + p.narrow(-1, 1, 1) * local_short + p.narrow(-1, 2, 1) * local_long;

    auto o = w_global * delta + (1 - w_global) * local;
    return o_proj_(ops::merge_heads(norm_(o)));
  }

 private:
  static constexpr int64_t kShortKernel = 3;
  static constexpr int64_t kLongKernel = 31;
  static constexpr double kGlobalGateBias = 0.5;
  static constexpr double kValuePathBias = 2.0;
  static constexpr double kTempInit = 1.0;
  static constexpr double kFirNoise = 1e-3;

  // Depthwise filter [C, 1, K]: passes the current token through (last tap 1), plus small noise.
  static torch::Tensor identity_fir(int64_t channels, int64_t kernel) {
    auto w = torch::zeros({channels, 1, kernel});
    w.select(2, kernel - 1).fill_(1.0);
    return w + kFirNoise * torch::randn_like(w);
  }

  // Causal depthwise convolution over [B, L, C]: left padding K-1, groups = C.
  static torch::Tensor causal_fir(const torch::Tensor& x, const torch::Tensor& w) {
    const int64_t C = w.size(0), K = w.size(2);
    auto xt = torch::constant_pad_nd(x.transpose(1, 2), {K - 1, 0});  // [B, C, L + K - 1]
    const std::vector<int64_t> one{1}, none{0};
    return torch::conv1d(xt, w, /*bias=*/torch::Tensor(), /*stride=*/one, /*padding=*/none, /*dilation=*/one,
                         /*groups=*/C)
        .transpose(1, 2);
  }

  int64_t d_, heads_, head_dim_, chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, b_proj_{nullptr}, global_gate_{nullptr},
      local_gate_{nullptr}, o_proj_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor fir_short_, fir_long_, log_temp_;
};

ASIARCH_REGISTER_MIXER(HierGateNet, "delta_net_htcg")
