// Published design: ASI-Arch "delta_net_ahm_gate", paper name "AdaptiveMixGateNet", our
// stand-in for "AdaMultiPathGateNet" (no published design carries that name; this is the
// closest name_new, an adaptive gate over four paths). Source:
// /work/shared/reference/asi-arch-designs.jsonl line 53 (0-based), ASI-Arch index 1693,
// parent 965; GAIR-NLP/ASI-Arch data/106.json, Apache-2.0. Reported there: score 2.221,
// 439.13M parameters at verification scale, lm-eval average 0.3921.
// This file is our own C++ for the same computation, not a translation of their code.
//
// The mixer (per head h, per token t):
//   q, k, v = SiLU(ShortConv4(W x)); q, k L2-normalised; beta = max(sigmoid(W_beta x), 1e-6)
//   delta = chunkwise delta rule (q, k, v, beta)
//   short = causal depthwise FIR(v), kernel 5;  long = causal depthwise FIR(v), kernel 64
//   stats(y) = [mean, variance, mean |y|, ||y||_2] over the head's channels, for
//              y in [short, long, delta, v] -> 16 numbers per (token, head)
//   logits = MLP([x, stats]) (Linear(D+16, D) -> GELU -> Linear(D, 4)), shared by the heads,
//            output bias [-0.5, -0.5, 1, 3] for [short, long, delta, value]
//   w = softmax(logits / tau_h), then floored at [0.02, 0.02, 0, 0] and renormalised
//   o = w_0 short + w_1 long + w_2 delta + w_3 v
//     + sigmoid(gamma_h) (1 - w_0) short                         (residual short path, gamma = -2)
//     + lambda_h(t) * mean over heads of o                        (cross-head mixing)
//   lambda_h(t) = mix_floor_h if entropy(w) < 0.25 (a confident token), else mix_coeff_h
//   out = W_o merge_heads(RMSNorm_head(o))
//
// Kept from the published design: all four paths; the output-statistics-aware gate MLP with
// its hidden width (hidden_size * fusion_hidden_mult / 2 = d_model) and output bias; the
// probability floor on the two FIR paths; the per-head residual short-FIR path; the per-head
// cross-head mixing with confidence (entropy) suppression and its initial values
// (mix_coeff 0.03, mix_floor 0.005, threshold 0.25); FIR kernel sizes 5 and 64 (sequence-length
// hyper-parameters, unchanged at d_model 64) with their N(0, 0.02) initialisation; short conv 4
// with SiLU on q, k, v; ungated per-head RMSNorm (use_gate = False); q L2-normalised with no
// further 1/sqrt(head_dim) factor, as in the source's own delta kernel.
//
// Simplified / different:
// - Step schedules dropped. The source counts forward calls in a buffer and (a) blends a
//   per-group temperature into a per-head one over 4,000 steps and (b) decays lambda linearly
//   from mix_coeff to mix_floor over 4,000 steps. Our ABI gives a mixer no training step (and
//   the gates call forward in training mode, so a counter would make the mixer's output depend
//   on how often it had been called). Here tau_h = exp(logit_tau_h) is a learnable per-head
//   temperature (both source temperatures start at 1.0, so the initial gate is identical), and
//   lambda_h is the learnable mix_coeff_h itself (the source's value at step 0). The per-group
//   temperature is gone with the blend.
// - The delta rule is asiarch::ops::delta_rule_chunkwise (chunk 64 by default, option chunk=N;
//   the source uses 32, which changes only speed).
// - Dropped: padding/unpadding by attention_mask, the recurrent cache, dtype casts, the unused
//   qk_activation / qk_norm / allow_neg_eigval variants.
// - No auxiliary loss: the source has none (its entropy is used only to suppress mixing).
// - Linear layers keep LibTorch's default initialisation (as our baselines do); the gate MLP's
//   output bias is set as published after construction.
//
// options: chunk=64
#include <asiarch/plugin.h>

#include <vector>

namespace ops = asiarch::ops;

class AdaMixGateNet : public asiarch::TokenMixer {
 public:
  explicit AdaMixGateNet(const asiarch::MixerConfig& cfg)
      : d_(cfg.d_model),
        heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    auto lin = [&](const char* name, int64_t in, int64_t out, bool bias) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
    };
    q_proj_ = lin("q_proj", d_, d_, false);
    k_proj_ = lin("k_proj", d_, d_, false);
    v_proj_ = lin("v_proj", d_, d_, false);
    b_proj_ = lin("b_proj", d_, heads_, false);
    o_proj_ = lin("o_proj", d_, d_, false);
    const int64_t gate_hidden = d_ * kFusionHiddenMult / 2;
    gate_fc1_ = lin("fusion_gate_fc1", d_ + kStatDim, gate_hidden, true);
    gate_fc2_ = lin("fusion_gate_fc2", gate_hidden, 4, true);
    q_conv_ = register_module("q_conv", ops::ShortConv(d_));
    k_conv_ = register_module("k_conv", ops::ShortConv(d_));
    v_conv_ = register_module("v_conv", ops::ShortConv(d_));
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));

    torch::NoGradGuard no_grad;
    fir_short_ = register_parameter("fir_short", torch::randn({d_, 1, kShortKernel}) * 0.02);
    fir_long_ = register_parameter("fir_long", torch::randn({d_, 1, kLongKernel}) * 0.02);
    gate_fc2_->bias.copy_(torch::tensor({-0.5f, -0.5f, 1.0f, 3.0f}));  // [short, long, delta, value]
    logit_tau_ = register_parameter("logit_tau_head", torch::zeros({heads_}));  // tau = 1
    mix_coeff_ = register_parameter("mix_coeff", torch::full({heads_}, 0.03));
    mix_floor_ = register_parameter("mix_floor", torch::full({heads_}, 0.005));
    conv_residual_logit_ = register_parameter("conv_residual_logit", torch::full({heads_}, -2.0));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const int64_t B = x.size(0), L = x.size(1);
    auto q = ops::l2_normalize(ops::split_heads(q_conv_(q_proj_(x)), heads_));
    auto k = ops::l2_normalize(ops::split_heads(k_conv_(k_proj_(x)), heads_));
    auto v_flat = v_conv_(v_proj_(x));                                        // [B, L, H*V]
    auto v = ops::split_heads(v_flat, heads_);                                // [B, H, L, V]
    auto beta = torch::sigmoid(b_proj_(x)).clamp_min(1e-6).transpose(1, 2);  // [B, H, L]

    auto delta = ops::delta_rule_chunkwise(q, k, v, beta, {}, chunk_);
    auto local_short = ops::split_heads(causal_fir(v_flat, fir_short_), heads_);
    auto local_long = ops::split_heads(causal_fir(v_flat, fir_long_), heads_);

    // The gate sees the token and a summary of what every path says for it, per head.
    auto stats = torch::cat({head_stats(local_short), head_stats(local_long), head_stats(delta), head_stats(v)}, -1);
    auto gate_in = torch::cat({x.unsqueeze(1).expand({B, heads_, L, d_}), stats}, -1);  // [B, H, L, D+16]
    auto logits = gate_fc2_(torch::gelu(gate_fc1_(gate_in)));                            // [B, H, L, 4]
    auto tau = logit_tau_.exp().view({1, heads_, 1, 1});
    auto w = torch::softmax(logits / tau, -1);
    w = torch::maximum(w, torch::tensor({kFirFloor, kFirFloor, 0.0f, 0.0f}, w.options()));
    w = w / w.sum(-1, /*keepdim=*/true);

    auto o = w.narrow(-1, 0, 1) * local_short + w.narrow(-1, 1, 1) * local_long + w.narrow(-1, 2, 1) * delta +
             w.narrow(-1, 3, 1) * v;
    auto gamma = torch::sigmoid(conv_residual_logit_).view({1, heads_, 1, 1});
    o = o + gamma * (1 - w.narrow(-1, 0, 1)) * local_short;

    // Cross-head mixing, suppressed to the floor on tokens where the gate is confident.
    auto entropy = -(w * (w + 1e-8).log()).sum(-1, /*keepdim=*/true);  // [B, H, L, 1]
    auto confident = (entropy < kEntropyThreshold).to(o.scalar_type());
    auto lambda = mix_coeff_.view({1, heads_, 1, 1}) * (1 - confident) + mix_floor_.view({1, heads_, 1, 1}) * confident;
    o = o + lambda * o.mean(1, /*keepdim=*/true);

    return o_proj_(ops::merge_heads(norm_(o)));
  }

 private:
  static constexpr int64_t kShortKernel = 5;
  static constexpr int64_t kLongKernel = 64;
  static constexpr int64_t kFusionHiddenMult = 2;
  static constexpr int64_t kStatDim = 16;  // 4 statistics x 4 paths
  static constexpr float kFirFloor = 0.02f;
  static constexpr double kEntropyThreshold = 0.25;

  // [B, H, L, V] -> [B, H, L, 4]: mean, biased variance, mean absolute value, L2 norm.
  static torch::Tensor head_stats(const torch::Tensor& y) {
    auto mean = y.mean(-1, /*keepdim=*/true);
    auto var = (y - mean).pow(2).mean(-1, /*keepdim=*/true);
    auto abs_mean = y.abs().mean(-1, /*keepdim=*/true);
    auto l2 = y.norm(2, {-1}, /*keepdim=*/true);  // its backward is 0, not NaN, at y = 0
    return torch::cat({mean, var, abs_mean, l2}, -1);
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
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, b_proj_{nullptr}, o_proj_{nullptr},
      gate_fc1_{nullptr}, gate_fc2_{nullptr};
  ops::ShortConv q_conv_{nullptr}, k_conv_{nullptr}, v_conv_{nullptr};
  ops::RMSNorm norm_{nullptr};
  torch::Tensor fir_short_, fir_long_, logit_tau_, mix_coeff_, mix_floor_, conv_residual_logit_;
};

ASIARCH_REGISTER_MIXER(AdaMixGateNet, "delta_net_ahm_gate")
