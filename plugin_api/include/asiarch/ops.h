// Building blocks for token mixers, shared by the baseline plugins and the
// code the Researcher generates. Header-only: it is compiled into each plugin
// (and precompiled into the JIT's PCH with <asiarch/plugin.h>), except for the
// native kernels it calls, which the host defines (<asiarch/kernels.h>).
//
// Shapes: q, k [B, H, L, K]; v [B, H, L, V]; beta, g [B, H, L] (g is a log
// decay <= 0); state S [B, H, K, V]; read-out o_t = S_t^T q_t. Scaling of q
// is the caller's. Every chunkwise form has a plain recurrent form beside it
// as its reference.
#pragma once

#include <asiarch/kernels.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

namespace asiarch::ops {

using torch::Tensor;

namespace detail {

inline bool native_cpu_float(std::initializer_list<Tensor> ts) {
  for (const auto& t : ts)
    if (t.defined() && !(t.device().is_cpu() && t.scalar_type() == torch::kFloat)) return false;
  return true;
}

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct RmsNormFn : public torch::autograd::Function<RmsNormFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& w, double eps) {
    auto r = kernels::rms_norm_forward(x, w, eps);
    ctx->save_for_backward({r[1], w, r[2]});
    return r[0];
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto s = ctx->get_saved_variables();
    auto g = kernels::rms_norm_backward(grad[0], s[0], s[1], s[2]);
    return {g[0], g[1], Tensor()};
  }
};

struct L2NormalizeFn : public torch::autograd::Function<L2NormalizeFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, double eps) {
    auto r = kernels::l2_normalize_forward(x, eps);
    ctx->save_for_backward({r[0], r[1]});
    return r[0];
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto s = ctx->get_saved_variables();
    return {kernels::l2_normalize_backward(grad[0], s[0], s[1]), Tensor()};
  }
};

struct SwiGLUFn : public torch::autograd::Function<SwiGLUFn> {
  static Tensor forward(AutogradContext* ctx, const Tensor& gate_up) {
    auto gu = gate_up.contiguous();
    ctx->save_for_backward({gu});
    return kernels::swiglu_forward(gu);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    return {kernels::swiglu_backward(grad[0], ctx->get_saved_variables()[0])};
  }
};

struct ShortConvFn : public torch::autograd::Function<ShortConvFn> {
  // No bias is an empty tensor: autograd cannot take an undefined input.
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& weight, const Tensor& bias, bool silu) {
    const bool has_bias = bias.numel() > 0;
    auto r = kernels::short_conv_forward(x, weight, has_bias ? bias : Tensor(), silu);
    ctx->save_for_backward({r[1], r[2], r[3]});
    ctx->saved_data["silu"] = silu;
    ctx->saved_data["bias"] = has_bias;
    return r[0];
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto s = ctx->get_saved_variables();
    auto g = kernels::short_conv_backward(grad[0], s[0], s[1], s[2], ctx->saved_data["silu"].toBool(),
                                          ctx->saved_data["bias"].toBool());
    return {g[0], g[1], g[2], Tensor()};
  }
};

}  // namespace detail

// RMSNorm over the last dimension: x / sqrt(mean(x^2) + eps) * weight.
inline Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  if (detail::native_cpu_float({x, weight})) return detail::RmsNormFn::apply(x, weight, eps);
  return x * torch::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps) * weight;
}

// silu(a) * b for x = [a | b] split on the last dimension.
inline Tensor swiglu(const Tensor& gate_up) {
  if (detail::native_cpu_float({gate_up})) return detail::SwiGLUFn::apply(gate_up);
  auto gu = gate_up.chunk(2, -1);
  return torch::silu(gu[0]) * gu[1];
}

// [B, L, H*D] -> [B, H, L, D]
inline Tensor split_heads(const Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).transpose(1, 2);
}
// [B, H, L, D] -> [B, L, H*D]
inline Tensor merge_heads(const Tensor& x) {
  return x.transpose(1, 2).reshape({x.size(0), x.size(2), x.size(1) * x.size(3)});
}

inline Tensor l2_normalize(const Tensor& x, double eps = 1e-6) {
  if (detail::native_cpu_float({x})) return detail::L2NormalizeFn::apply(x, eps);
  return x * torch::rsqrt(x.pow(2).sum(-1, /*keepdim=*/true) + eps);
}

// RMSNorm over the last dimension with a learned scale.
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-5) : eps_(eps) {
    weight = register_parameter("weight", torch::ones({dim}));
  }
  Tensor forward(const Tensor& x) { return rms_norm(x, weight, eps_); }
  // Gated form: RMSNorm(x) * silu(gate).
  Tensor gated(const Tensor& x, const Tensor& gate) { return forward(x) * torch::silu(gate); }
  Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Depthwise causal Conv1d over [B, L, C] (left padding kernel-1), then SiLU.
class ShortConvImpl : public torch::nn::Module {
 public:
  ShortConvImpl(int64_t channels, int64_t kernel = 4, bool bias = false, bool silu = true)
      : kernel_(kernel), silu_(silu) {
    conv = register_module(
        "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, kernel).groups(channels).bias(bias)));
  }
  Tensor forward(const Tensor& x) {
    if (detail::native_cpu_float({x, conv->weight, conv->bias}))
      return detail::ShortConvFn::apply(x, conv->weight, conv->bias.defined() ? conv->bias : torch::empty({0}), silu_);
    auto y = torch::constant_pad_nd(x.transpose(1, 2), {kernel_ - 1, 0});
    y = conv(y).transpose(1, 2);
    return silu_ ? torch::silu(y) : y;
  }
  torch::nn::Conv1d conv{nullptr};

 private:
  int64_t kernel_;
  bool silu_;
};
TORCH_MODULE(ShortConv);

// Rotary position embedding on [B, H, L, D] (D even), positions 0..L-1.
inline Tensor rotary(const Tensor& x, double base = 10000.0) {
  const int64_t L = x.size(2), D = x.size(3), half = D / 2;
  auto opts = x.options();
  auto inv_freq = torch::pow(base, -torch::arange(0, half, opts) / static_cast<double>(half));
  auto angles = torch::arange(L, opts).unsqueeze(1) * inv_freq.unsqueeze(0);  // [L, half]
  auto cos = angles.cos(), sin = angles.sin();
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

// Causal softmax attention, scale 1/sqrt(K). Quadratic in L: the reference.
inline Tensor causal_softmax_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  const int64_t L = q.size(2);
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  auto future = torch::ones({L, L}, q.options().dtype(torch::kBool)).triu(1);
  return torch::matmul(torch::softmax(scores.masked_fill(future, -std::numeric_limits<float>::infinity()), -1), v);
}

namespace detail {

// Pads dimension 2 (L) of a [B, H, L, ...] tensor with zeros to a multiple of c.
inline Tensor pad_to_chunks(const Tensor& x, int64_t c) {
  const int64_t pad = (c - x.size(2) % c) % c;
  if (pad == 0) return x;
  std::vector<int64_t> p(2 * (x.dim() - 2), 0);
  p[p.size() - 1] = pad;  // constant_pad_nd pads the last dims first
  return torch::constant_pad_nd(x, p);
}

// [B, H, Lp, ...] -> [B, H, N, C, ...]
inline Tensor to_chunks(const Tensor& x, int64_t c) {
  std::vector<int64_t> shape = x.sizes().vec();
  shape[2] = x.size(2) / c;
  shape.insert(shape.begin() + 3, c);
  return x.reshape(shape);
}

// Within-chunk cumulative log decays G and the decay matrix Gamma_ij =
// exp(G_i - G_j) for i >= j, 0 above the diagonal. g undefined: no decay.
struct ChunkDecay {
  Tensor G;      // [B, H, N, C] or undefined
  Tensor Gamma;  // [B, H, N, C, C], lower triangular incl. diagonal
};

inline ChunkDecay chunk_decay(const Tensor& g_chunks, int64_t c, const torch::TensorOptions& opts) {
  auto upper = torch::ones({c, c}, opts.dtype(torch::kBool)).triu(1);
  if (!g_chunks.defined()) return {Tensor(), torch::ones({c, c}, opts).masked_fill(upper, 0)};
  auto G = g_chunks.cumsum(-1);
  // Mask before exp: above the diagonal G_i - G_j > 0 can overflow.
  auto diff = (G.unsqueeze(-1) - G.unsqueeze(-2)).masked_fill(upper, -std::numeric_limits<float>::infinity());
  return {G, diff.exp()};
}

}  // namespace detail

// S_t = exp(g_t) S_{t-1} + k_t v_t^T, o_t = S_t^T q_t. g undefined: plain
// linear attention. Step by step: the reference.
inline Tensor linear_attention_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g = {}) {
  // unbind once: select() per step would make backward O(L^2).
  auto qs = q.unbind(2), ks = k.unbind(2), vs = v.unbind(2);
  std::vector<Tensor> gs = g.defined() ? g.exp().unbind(2) : std::vector<Tensor>();
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
  std::vector<Tensor> out;
  for (int64_t t = 0; t < q.size(2); ++t) {
    if (g.defined()) S = S * gs[t].unsqueeze(-1).unsqueeze(-1);
    S = S + ks[t].unsqueeze(-1) * vs[t].unsqueeze(-2);
    out.push_back((qs[t].unsqueeze(-1) * S).sum(-2));
  }
  return torch::stack(out, 2);
}

// The same recurrence, chunkwise parallel: O(L C) within chunks, one state
// hand-over per chunk.
inline Tensor linear_attention_chunkwise(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& g = {},
                                         int64_t chunk = 64) {
  const int64_t L = q.size(2), c = std::min<int64_t>(chunk, L);
  auto qc = detail::to_chunks(detail::pad_to_chunks(q, c), c);
  auto kc = detail::to_chunks(detail::pad_to_chunks(k, c), c);
  auto vc = detail::to_chunks(detail::pad_to_chunks(v, c), c);
  Tensor gc = g.defined() ? detail::to_chunks(detail::pad_to_chunks(g, c), c) : Tensor();
  auto decay = detail::chunk_decay(gc, c, q.options());
  auto attn = torch::matmul(qc, kc.transpose(-1, -2)) * decay.Gamma;  // [B,H,N,C,C]
  auto intra = torch::matmul(attn, vc);
  Tensor q_in = qc, k_out = kc, chunk_decay_total;
  if (decay.G.defined()) {
    auto last = decay.G.narrow(-1, c - 1, 1);                       // [B,H,N,1]
    q_in = qc * decay.G.exp().unsqueeze(-1);
    k_out = kc * (last - decay.G).exp().unsqueeze(-1);
    chunk_decay_total = last.squeeze(-1).exp();                     // [B,H,N]
  }
  auto intra_n = intra.unbind(2), q_n = q_in.unbind(2), k_n = k_out.unbind(2), v_n = vc.unbind(2);
  std::vector<Tensor> decay_n = chunk_decay_total.defined() ? chunk_decay_total.unbind(2) : std::vector<Tensor>();
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
  std::vector<Tensor> out;
  for (int64_t n = 0; n < qc.size(2); ++n) {
    out.push_back(intra_n[n] + torch::matmul(q_n[n], S));
    if (!decay_n.empty()) S = S * decay_n[n].unsqueeze(-1).unsqueeze(-1);
    S = S + torch::matmul(k_n[n].transpose(-1, -2), v_n[n]);
  }
  return torch::stack(out, 2).flatten(2, 3).narrow(2, 0, L);
}

// Delta rule, with optional gate: S <- exp(g_t) S; u_t = beta_t (v_t - S^T k_t);
// S <- S + k_t u_t^T; o_t = S^T q_t. Step by step: the reference.
inline Tensor delta_rule_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& beta,
                                   const Tensor& g = {}) {
  auto qs = q.unbind(2), ks = k.unbind(2), vs = v.unbind(2), bs = beta.unbind(2);
  std::vector<Tensor> gs = g.defined() ? g.exp().unbind(2) : std::vector<Tensor>();
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
  std::vector<Tensor> out;
  for (int64_t t = 0; t < q.size(2); ++t) {
    if (g.defined()) S = S * gs[t].unsqueeze(-1).unsqueeze(-1);
    auto old = (ks[t].unsqueeze(-1) * S).sum(-2);  // S^T k
    auto u = bs[t].unsqueeze(-1) * (vs[t] - old);
    S = S + ks[t].unsqueeze(-1) * u.unsqueeze(-2);
    out.push_back((qs[t].unsqueeze(-1) * S).sum(-2));
  }
  return torch::stack(out, 2);
}

// Delta rule (optionally gated), chunkwise parallel via the WY/UT transform:
// T = (I + tril(diag(beta)(K K^T o Gamma), -1))^-1, U = T (beta V),
// W = T (beta K o exp(G)); per chunk V' = U - W S,
// O = (Q o exp(G)) S + (Q K^T o Gamma o M) V', S <- exp(G_C) S + (K o exp(G_C - G))^T V'.
// X = (I + tril(A, -1))^-1 R with its gradients; LibTorch's batched
// triangular solve loops over small matrices through LAPACK, which costs
// far more than the arithmetic, and its backward more again.
struct UnitLowerSolve : public torch::autograd::Function<UnitLowerSolve> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& A, const Tensor& R) {
    auto X = kernels::unit_lower_solve(A, R, false);
    ctx->save_for_backward({A, X});
    return X;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    auto saved = ctx->get_saved_variables();
    auto gR = kernels::unit_lower_solve(saved[0], grad[0].contiguous(), true);
    auto gA = -torch::matmul(gR, saved[1].transpose(-1, -2)).tril(-1);
    return {gA, gR};
  }
};

inline Tensor unit_lower_solve(const Tensor& A, const Tensor& R) {
  if (!A.device().is_cpu()) {
    auto eye = torch::eye(A.size(-1), A.options());
    return torch::linalg_solve_triangular(A.tril(-1) + eye, R, /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  }
  return UnitLowerSolve::apply(A, R);
}

struct DeltaRuleChunk : public torch::autograd::Function<DeltaRuleChunk> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& beta, int64_t chunk) {
    auto r = kernels::delta_rule_chunk_forward(q, k, v, beta, chunk);
    ctx->save_for_backward(std::vector<Tensor>(r.begin() + 1, r.end()));
    ctx->saved_data["chunk"] = chunk;
    return r[0];
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grad) {
    auto g = kernels::delta_rule_chunk_backward(grad[0], ctx->get_saved_variables(), ctx->saved_data["chunk"].toInt());
    return {g[0], g[1], g[2], g[3], Tensor()};
  }
};

namespace detail {

// The chunkwise delta rule as LibTorch ops: any device and dtype, and the gate.
inline Tensor delta_rule_chunkwise_composite(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& beta,
                                             const Tensor& g, int64_t chunk) {
  const int64_t L = q.size(2), c = std::min<int64_t>(chunk, L), V = v.size(3);
  auto qc = detail::to_chunks(detail::pad_to_chunks(q, c), c);
  auto kc = detail::to_chunks(detail::pad_to_chunks(k, c), c);
  auto vc = detail::to_chunks(detail::pad_to_chunks(v, c), c);
  auto bc = detail::to_chunks(detail::pad_to_chunks(beta, c), c).unsqueeze(-1);  // [B,H,N,C,1]
  Tensor gc = g.defined() ? detail::to_chunks(detail::pad_to_chunks(g, c), c) : Tensor();
  auto decay = detail::chunk_decay(gc, c, q.options());
  auto kb = kc * bc;
  // (β k) kᵀ and q kᵀ in one batched product: fewer, larger GEMMs.
  auto scores = torch::matmul(torch::cat({kb, qc}, -2), kc.transpose(-1, -2));
  // Without decay Gamma is the causal mask; the solve reads only A's strictly lower part anyway.
  scores = decay.G.defined() ? scores * torch::cat({decay.Gamma, decay.Gamma}, -2) : scores;
  auto halves = scores.split(c, -2);  // split, not narrow: its backward is one cat, not a zero-filled copy per slice
  auto A = halves[0];
  auto attn = decay.G.defined() ? halves[1] : halves[1].tril();
  auto kb_decayed = decay.G.defined() ? kb * decay.G.exp().unsqueeze(-1) : kb;
  // One unit-lower-triangular solve gives both U and W.
  auto X = unit_lower_solve(A, torch::cat({vc * bc, kb_decayed}, -1));
  auto UW = X.split({V, X.size(-1) - V}, -1);
  auto U = UW[0], W = UW[1];
  Tensor q_in = qc, k_out = kc, chunk_decay_total;
  if (decay.G.defined()) {
    auto last = decay.G.narrow(-1, c - 1, 1);
    q_in = qc * decay.G.exp().unsqueeze(-1);
    k_out = kc * (last - decay.G).exp().unsqueeze(-1);
    chunk_decay_total = last.squeeze(-1).exp();
  }
  // o_n = q_n S_n + attn_n (U_n - W_n S_n) = (q_n - attn_n W_n) S_n + attn_n U_n: everything but
  // the state recurrence is batched over all chunks at once.
  auto attn_x = torch::matmul(attn, X).split({V, X.size(-1) - V}, -1);  // [attn U | attn W]
  auto attn_u = attn_x[0];
  auto q_eff = q_in - attn_x[1];
  auto U_n = U.unbind(2), W_n = W.unbind(2), k_n = k_out.unbind(2);
  std::vector<Tensor> decay_n = chunk_decay_total.defined() ? chunk_decay_total.unbind(2) : std::vector<Tensor>();
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), V}, q.options());
  std::vector<Tensor> states;  // S before each chunk
  for (int64_t n = 0; n < qc.size(2); ++n) {
    states.push_back(S);
    auto v_new = U_n[n] - torch::matmul(W_n[n], S);
    if (!decay_n.empty()) S = S * decay_n[n].unsqueeze(-1).unsqueeze(-1);
    S = S + torch::matmul(k_n[n].transpose(-1, -2), v_new);
  }
  auto out = torch::matmul(q_eff, torch::stack(states, 2)) + attn_u;  // [B, H, N, C, V]
  return out.flatten(2, 3).narrow(2, 0, L);
}

}  // namespace detail

inline Tensor delta_rule_chunkwise(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& beta,
                                   const Tensor& g = {}, int64_t chunk = 64) {
  const bool native = !g.defined() && q.size(2) > 0 && detail::native_cpu_float({q, k, v, beta});
  return native ? DeltaRuleChunk::apply(q, k, v, beta, chunk) : detail::delta_rule_chunkwise_composite(q, k, v, beta, g, chunk);
}

// ---- Diagonal plus low rank (DPLR) transitions ----
// S_t = Diag(exp(g_t)) S_{t-1} + a_t (b_t^T S_{t-1}) + k_t v_t^T,  o_t = S_t^T q_t,
// q, k, a, b, g: [B, H, L, K]; v: [B, H, L, V]; g is a per-channel log decay (<= 0; undefined: none).
// The family the 2025-26 mixers share: the gated delta rule (a = -beta k, b = exp(g) k), Kimi Delta
// Attention and Gated DeltaNet-2 (a = -k, b = exp(g) (b o k), separate erase and write gates),
// RWKV-7 (a = -kappa, b = a o kappa), DeltaProduct (several such steps per token).
// Step by step: the reference.
inline Tensor dplr_recurrent(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& a, const Tensor& b,
                             const Tensor& g = {}) {
  auto qs = q.unbind(2), ks = k.unbind(2), vs = v.unbind(2), as = a.unbind(2), bs = b.unbind(2);
  std::vector<Tensor> gs = g.defined() ? g.exp().unbind(2) : std::vector<Tensor>();
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), v.size(3)}, q.options());
  std::vector<Tensor> out;
  for (int64_t t = 0; t < q.size(2); ++t) {
    auto erase = (bs[t].unsqueeze(-1) * S).sum(-2);  // b^T S_{t-1}: [B, H, V]
    if (g.defined()) S = S * gs[t].unsqueeze(-1);
    S = S + as[t].unsqueeze(-1) * erase.unsqueeze(-2) + ks[t].unsqueeze(-1) * vs[t].unsqueeze(-2);
    out.push_back((qs[t].unsqueeze(-1) * S).sum(-2));
  }
  return torch::stack(out, 2);
}

// The same recurrence, chunkwise parallel. Within a chunk, with G the inclusive cumulative log
// decay (per channel) and E_ts = exp(G_t - G_s) (s <= t, never above 1, so strong decays
// underflow instead of overflowing), the erase terms z_t = b_t^T S_{t-1} solve a unit lower
// triangular system (I - M_ba) Z = (b o exp(G_{t-1})) S_0 + M_bk V; outputs and the state handed on
// are then products with Z, V and the chunk's first state. The pairwise decays cost
// O(L C K) memory: chunks default to 16.
inline Tensor dplr_chunkwise(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& a, const Tensor& b,
                             const Tensor& g = {}, int64_t chunk = 16) {
  const int64_t L = q.size(2), c = std::max<int64_t>(1, std::min<int64_t>(chunk, L)), V = v.size(3);
  auto cut = [c](const Tensor& x) { return detail::to_chunks(detail::pad_to_chunks(x, c), c); };
  auto qc = cut(q), kc = cut(k), vc = cut(v), ac = cut(a), bc = cut(b);  // [B,H,N,C,K|V]
  auto G = g.defined() ? cut(g).cumsum(-2) : torch::zeros_like(kc);       // inclusive
  auto upper = torch::ones({c, c}, q.options().dtype(torch::kBool)).triu(1).unsqueeze(-1);
  // E[t, s, j] = exp(G_t[j] - G_s[j]) for s <= t, else 0; masked before exp (no overflow).
  auto E = (G.unsqueeze(-2) - G.unsqueeze(-3)).masked_fill(upper, -std::numeric_limits<float>::infinity()).exp();
  // E_prev[t, s] = exp(G_{t-1} - G_s) for s < t: E shifted down one row.
  auto E_prev = torch::constant_pad_nd(E.narrow(-3, 0, c - 1), {0, 0, 0, 0, 1, 0});
  auto pair = [](const Tensor& x, const Tensor& y, const Tensor& decay) {  // sum_j x_t[j] y_s[j] decay[t,s,j]
    return (x.unsqueeze(-2) * decay * y.unsqueeze(-3)).sum(-1);
  };
  auto M_ba = pair(bc, ac, E_prev), M_bk = pair(bc, kc, E_prev);  // strictly lower
  auto M_qa = pair(qc, ac, E), M_qk = pair(qc, kc, E);              // lower incl. diagonal
  auto G_prev = G - (g.defined() ? cut(g) : torch::zeros_like(kc));
  auto bd = bc * G_prev.exp();                                      // z_t's share of S_0
  // Z = Zc + W S_0 from one solve.
  auto X = unit_lower_solve(-M_ba, torch::cat({torch::matmul(M_bk, vc), bd}, -1));
  auto ZW = X.split({V, X.size(-1) - V}, -1);
  auto Zc = ZW[0], W = ZW[1];
  // o = (q o exp(G) + M_qa W) S_0 + (M_qa Zc + M_qk V)
  auto q_eff = qc * G.exp() + torch::matmul(M_qa, W);
  auto o_local = torch::matmul(M_qa, Zc) + torch::matmul(M_qk, vc);
  // S_C = (Diag(exp(G_C)) + a_end^T W) S_0 + a_end^T Zc + k_end^T V, a_end = a o exp(G_C - G).
  auto last = G.narrow(-2, c - 1, 1);
  auto to_end = (last - G).exp();
  auto a_end = (ac * to_end).transpose(-1, -2), k_end = (kc * to_end).transpose(-1, -2);
  auto P = torch::diag_embed(last.squeeze(-2).exp()) + torch::matmul(a_end, W);  // [B,H,N,K,K]
  auto R = torch::matmul(a_end, Zc) + torch::matmul(k_end, vc);                  // [B,H,N,K,V]
  auto P_n = P.unbind(2), R_n = R.unbind(2);
  auto S = torch::zeros({q.size(0), q.size(1), q.size(3), V}, q.options());
  std::vector<Tensor> states;  // S before each chunk
  for (size_t n = 0; n < P_n.size(); ++n) {
    states.push_back(S);
    S = torch::matmul(P_n[n], S) + R_n[n];
  }
  auto out = torch::matmul(q_eff, torch::stack(states, 2)) + o_local;  // [B, H, N, C, V]
  return out.flatten(2, 3).narrow(2, 0, L);
}

// ---- For custom chunkwise rules (ABI 2) ----

// The [C, C] causal mask of a chunk: true where position i may see position j (j <= i, or j < i
// without the diagonal).
inline Tensor causal_chunk_mask(int64_t c, const torch::TensorOptions& opts, bool include_diagonal = true) {
  return torch::ones({c, c}, opts.dtype(torch::kBool)).tril(include_diagonal ? 0 : -1);
}

// What one chunk's step returns: its output rows and the state handed to the next chunk.
struct ChunkStep {
  Tensor out;    // [B, H, C, ...]
  Tensor state;  // anything; given to the next chunk's step
};

// A chunkwise rule written as its per-chunk math: the inputs ([B, H, L, ...] each, the same L)
// are padded with zeros to a multiple of `chunk` and cut into chunks; step(n, chunks, state) is
// called for n = 0, 1, ... in order with chunk n of every input ([B, H, C, ...]) and the state the
// previous step returned (`initial` first); the outputs are joined back to [B, H, L, ...]. Work
// inside a step is O(C^2) at most, so the whole is O(L C). `final_state`, when given, gets the last
// state (padded positions included: pad with values that leave the state unchanged, e.g. zero
// keys, or ignore it).
inline Tensor chunkwise_scan(const std::vector<Tensor>& inputs, int64_t chunk, const Tensor& initial,
                             const std::function<ChunkStep(int64_t n, const std::vector<Tensor>& chunks,
                                                           const Tensor& state)>& step,
                             Tensor* final_state = nullptr) {
  TORCH_CHECK(!inputs.empty(), "chunkwise_scan: no inputs");
  TORCH_CHECK(chunk > 0, "chunkwise_scan: chunk must be positive");
  const int64_t L = inputs.front().size(2);
  TORCH_CHECK(L > 0, "chunkwise_scan: empty sequence");
  for (const auto& x : inputs)
    TORCH_CHECK(x.dim() >= 3 && x.size(2) == L, "chunkwise_scan: every input must be [B, H, L, ...] with the same L");
  const int64_t c = std::max<int64_t>(1, std::min<int64_t>(chunk, L));
  std::vector<std::vector<Tensor>> split;  // per input, its chunks
  for (const auto& x : inputs) split.push_back(detail::to_chunks(detail::pad_to_chunks(x, c), c).unbind(2));
  const size_t n_chunks = split.front().size();
  Tensor state = initial;
  std::vector<Tensor> outs;
  for (size_t n = 0; n < n_chunks; ++n) {
    std::vector<Tensor> chunks;
    for (const auto& s : split) chunks.push_back(s[n]);
    ChunkStep r = step(static_cast<int64_t>(n), chunks, state);
    TORCH_CHECK(r.out.defined() && r.out.dim() >= 3 && r.out.size(2) == c,
                "chunkwise_scan: a step must return [B, H, C, ...] with C = ", c);
    outs.push_back(r.out);
    state = r.state;
  }
  if (final_state) *final_state = state;
  return torch::cat(outs, 2).narrow(2, 0, L);
}

// A long depthwise causal filter over [B, L, C] (a FIR filter as long as `kernel` positions), as
// the published designs' long convolutions use: O(L kernel). Initialised as the identity (tap 0,
// the current position, is 1) plus taps at lag j drawn from N(0, init_scale) times a decay
// exp(-4 j / kernel), so a fresh filter passes its input on and learns its reach. No activation.
class LongCausalConvImpl : public torch::nn::Module {
 public:
  LongCausalConvImpl(int64_t channels, int64_t kernel = 64, double init_scale = 0.02) : kernel_(kernel) {
    TORCH_CHECK(channels > 0 && kernel > 0, "LongCausalConv: channels and kernel must be positive");
    weight = register_parameter("weight", torch::empty({channels, 1, kernel}));
    torch::NoGradGuard no_grad;
    // Conv1d correlates: weight[..., kernel - 1] meets the current position, [..., kernel - 1 - j] lag j.
    auto lag = torch::arange(kernel, torch::kFloat).flip(0);
    weight.copy_((torch::randn({channels, 1, kernel}) * init_scale * torch::exp(-4.0 * lag / static_cast<double>(kernel))));
    weight.select(2, kernel - 1).fill_(1.0);
  }
  Tensor forward(const Tensor& x) {
    auto y = torch::constant_pad_nd(x.transpose(1, 2), {kernel_ - 1, 0});
    return torch::nn::functional::conv1d(y, weight, torch::nn::functional::Conv1dFuncOptions().groups(weight.size(0)))
        .transpose(1, 2);
  }
  Tensor weight;

 private:
  int64_t kernel_;
};
TORCH_MODULE(LongCausalConv);

}  // namespace asiarch::ops
