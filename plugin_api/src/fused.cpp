// Fused native forward and backward for the small ops every layer runs:
// RMSNorm, L2 normalisation, SwiGLU and the short causal convolution (+SiLU).
// As LibTorch ops each is 4 to 8 kernels and as many autograd nodes, each a
// full pass over memory; at the widths the lab trains (d_model 32 to 128)
// those passes, not the GEMMs, were most of a training step.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <asiarch/ops.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "clones.h"

namespace asiarch::ops::kernels {
namespace {

using torch::Tensor;

// Rows per task: enough work per thread that tiny tensors stay on one.
int64_t grain(int64_t row) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, row)); }

void check_float_cpu(const Tensor& t, const char* op) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat, op, ": CPU float32 only");
}

ASIARCH_CLONES
void rms_rows(const float* x, const float* w, float* y, float* rstd, int64_t rows, int64_t D, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float ss = 0;
    for (int64_t j = 0; j < D; ++j) ss += xr[j] * xr[j];
    const float s = 1.f / __builtin_sqrtf(ss / static_cast<float>(D) + eps);
    rstd[r] = s;
    float* yr = y + r * D;
    for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * s * w[j];
  }
}

// dx = s (g w - x s^2 mean(g w x)); dw is summed separately.
ASIARCH_CLONES
void rms_rows_backward(const float* g, const float* x, const float* w, const float* rstd, float* dx, int64_t rows,
                       int64_t D) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *gr = g + r * D, *xr = x + r * D;
    const float s = rstd[r];
    float dot = 0;
    for (int64_t j = 0; j < D; ++j) dot += gr[j] * w[j] * xr[j];
    const float c = s * s * s * dot / static_cast<float>(D);
    float* dr = dx + r * D;
    for (int64_t j = 0; j < D; ++j) dr[j] = s * gr[j] * w[j] - c * xr[j];
  }
}

ASIARCH_CLONES
void rms_weight_grad(const float* g, const float* x, const float* rstd, float* dw, int64_t rows, int64_t D) {
  for (int64_t j = 0; j < D; ++j) dw[j] = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float *gr = g + r * D, *xr = x + r * D;
    const float s = rstd[r];
    for (int64_t j = 0; j < D; ++j) dw[j] += gr[j] * xr[j] * s;
  }
}

ASIARCH_CLONES
void l2_rows(const float* x, float* y, float* inv, int64_t rows, int64_t D, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * D;
    float ss = 0;
    for (int64_t j = 0; j < D; ++j) ss += xr[j] * xr[j];
    const float s = 1.f / __builtin_sqrtf(ss + eps);
    inv[r] = s;
    float* yr = y + r * D;
    for (int64_t j = 0; j < D; ++j) yr[j] = xr[j] * s;
  }
}

// dx = s (g - y (g . y))
ASIARCH_CLONES
void l2_rows_backward(const float* g, const float* y, const float* inv, float* dx, int64_t rows, int64_t D) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *gr = g + r * D, *yr = y + r * D;
    float dot = 0;
    for (int64_t j = 0; j < D; ++j) dot += gr[j] * yr[j];
    const float s = inv[r];
    float* dr = dx + r * D;
    for (int64_t j = 0; j < D; ++j) dr[j] = s * (gr[j] - yr[j] * dot);
  }
}

// exp as 2^n e^r with |r| <= ln2/2 and a degree-6 Taylor polynomial
// (relative error about 1e-7): unlike a libm call, the loops that use it
// vectorise.
ASIARCH_INLINE float exp_approx(float x) {
  // Two plain selects, which GCC if-converts into vector blends; a NaN
  // becomes -87 here, but every caller also multiplies by its argument.
  x = x > -87.f ? x : -87.f;
  x = x < 88.f ? x : 88.f;
  const float n = __builtin_floorf(x * 1.44269504f + 0.5f);
  const float r = x - n * 0.693145752f - n * 1.42860677e-6f;  // ln 2 in two parts
  float p = 1.f / 720;
  p = p * r + 1.f / 120;
  p = p * r + 1.f / 24;
  p = p * r + 1.f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

ASIARCH_INLINE float sigmoid(float x) { return 1.f / (1.f + exp_approx(-x)); }

// Rows of [gate | up] (2H) to silu(gate) * up (H).
ASIARCH_CLONES
void swiglu_rows(const float* gu, float* y, int64_t rows, int64_t H) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *a = gu + r * 2 * H, *b = a + H;
    float* yr = y + r * H;
    for (int64_t j = 0; j < H; ++j) yr[j] = a[j] * sigmoid(a[j]) * b[j];
  }
}

ASIARCH_CLONES
void swiglu_rows_backward(const float* g, const float* gu, float* dgu, int64_t rows, int64_t H) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *a = gu + r * 2 * H, *b = a + H, *gr = g + r * H;
    float *da = dgu + r * 2 * H, *db = da + H;
    for (int64_t j = 0; j < H; ++j) {
      const float s = sigmoid(a[j]);
      db[j] = gr[j] * a[j] * s;
      da[j] = gr[j] * b[j] * s * (1.f + a[j] * (1.f - s));
    }
  }
}

// One sequence [L, C]: pre_t = b + sum_i w[:, i] x_{t-k+1+i}; y = silu(pre) or pre.
ASIARCH_CLONES
void conv_seq(const float* x, const float* wt, const float* bias, float* pre, float* y, int64_t L, int64_t C,
              int64_t k, bool silu) {
  for (int64_t t = 0; t < L; ++t) {
    float* p = pre + t * C;
    for (int64_t c = 0; c < C; ++c) p[c] = bias ? bias[c] : 0.f;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t s = t - (k - 1) + i;
      if (s < 0) continue;
      const float *xs = x + s * C, *wi = wt + i * C;  // wt is [k, C]
      for (int64_t c = 0; c < C; ++c) p[c] += wi[c] * xs[c];
    }
    if (y) {
      float* yt = y + t * C;
      for (int64_t c = 0; c < C; ++c) yt[c] = silu ? p[c] * sigmoid(p[c]) : p[c];
    }
  }
}

// dpre from dy (in place over `dpre`, which holds g on entry), then dx.
ASIARCH_CLONES
void conv_seq_backward(float* dpre, const float* pre, const float* wt, float* dx, int64_t L, int64_t C, int64_t k,
                       bool silu) {
  if (silu)
    for (int64_t t = 0; t < L * C; ++t) {
      const float s = sigmoid(pre[t]);
      dpre[t] *= s * (1.f + pre[t] * (1.f - s));
    }
  for (int64_t s = 0; s < L; ++s) {
    float* d = dx + s * C;
    for (int64_t c = 0; c < C; ++c) d[c] = 0;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t t = s + (k - 1) - i;
      if (t >= L) continue;
      const float *dp = dpre + t * C, *wi = wt + i * C;
      for (int64_t c = 0; c < C; ++c) d[c] += wi[c] * dp[c];
    }
  }
}

ASIARCH_CLONES
void conv_weight_grad(const float* dpre, const float* x, float* dwt, float* db, int64_t B, int64_t L, int64_t C,
                      int64_t k) {
  for (int64_t j = 0; j < k * C; ++j) dwt[j] = 0;
  if (db)
    for (int64_t c = 0; c < C; ++c) db[c] = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < L; ++t) {
      const float* dp = dpre + (b * L + t) * C;
      if (db)
        for (int64_t c = 0; c < C; ++c) db[c] += dp[c];
      for (int64_t i = 0; i < k; ++i) {
        const int64_t s = t - (k - 1) + i;
        if (s < 0) continue;
        const float* xs = x + (b * L + s) * C;
        float* dw = dwt + i * C;
        for (int64_t c = 0; c < C; ++c) dw[c] += dp[c] * xs[c];
      }
    }
}

}  // namespace

std::vector<Tensor> asiarch_kernel_rms_norm_forward(const Tensor& x_in, const Tensor& w_in, double eps) {
  check_float_cpu(x_in, "rms_norm");
  check_float_cpu(w_in, "rms_norm");
  auto x = x_in.contiguous(), w = w_in.contiguous();
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  TORCH_CHECK(w.numel() == D, "rms_norm: weight must have ", D, " elements");
  auto y = torch::empty_like(x), rstd = torch::empty({rows}, x.options());
  at::parallel_for(0, rows, grain(D), [&](int64_t r0, int64_t r1) {
    rms_rows(x.data_ptr<float>() + r0 * D, w.data_ptr<float>(), y.data_ptr<float>() + r0 * D,
             rstd.data_ptr<float>() + r0, r1 - r0, D, static_cast<float>(eps));
  });
  return {y, x, rstd};
}

std::vector<Tensor> asiarch_kernel_rms_norm_backward(const Tensor& g_in, const Tensor& x, const Tensor& w_in,
                                                     const Tensor& rstd) {
  auto g = g_in.contiguous(), w = w_in.contiguous();
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  auto dx = torch::empty_like(x), dw = torch::empty({D}, x.options());
  at::parallel_for(0, rows, grain(D), [&](int64_t r0, int64_t r1) {
    rms_rows_backward(g.data_ptr<float>() + r0 * D, x.data_ptr<float>() + r0 * D, w.data_ptr<float>(),
                      rstd.data_ptr<float>() + r0, dx.data_ptr<float>() + r0 * D, r1 - r0, D);
  });
  rms_weight_grad(g.data_ptr<float>(), x.data_ptr<float>(), rstd.data_ptr<float>(), dw.data_ptr<float>(), rows, D);
  return {dx, dw.view(w_in.sizes())};
}

std::vector<Tensor> asiarch_kernel_l2_normalize_forward(const Tensor& x_in, double eps) {
  check_float_cpu(x_in, "l2_normalize");
  auto x = x_in.contiguous();
  const int64_t D = x.size(-1), rows = D == 0 ? 0 : x.numel() / D;
  auto y = torch::empty_like(x), inv = torch::empty({rows}, x.options());
  at::parallel_for(0, rows, grain(D), [&](int64_t r0, int64_t r1) {
    l2_rows(x.data_ptr<float>() + r0 * D, y.data_ptr<float>() + r0 * D, inv.data_ptr<float>() + r0, r1 - r0, D,
            static_cast<float>(eps));
  });
  return {y, inv};
}

Tensor asiarch_kernel_l2_normalize_backward(const Tensor& g_in, const Tensor& y, const Tensor& inv) {
  auto g = g_in.contiguous();
  const int64_t D = y.size(-1), rows = D == 0 ? 0 : y.numel() / D;
  auto dx = torch::empty_like(y);
  at::parallel_for(0, rows, grain(D), [&](int64_t r0, int64_t r1) {
    l2_rows_backward(g.data_ptr<float>() + r0 * D, y.data_ptr<float>() + r0 * D, inv.data_ptr<float>() + r0,
                     dx.data_ptr<float>() + r0 * D, r1 - r0, D);
  });
  return dx;
}

Tensor asiarch_kernel_swiglu_forward(const Tensor& gu_in) {
  check_float_cpu(gu_in, "swiglu");
  TORCH_CHECK(gu_in.size(-1) % 2 == 0, "swiglu: the last dimension must be even");
  auto gu = gu_in.contiguous();
  const int64_t H = gu.size(-1) / 2, rows = H == 0 ? 0 : gu.numel() / (2 * H);
  auto sizes = gu.sizes().vec();
  sizes.back() = H;
  auto y = torch::empty(sizes, gu.options());
  at::parallel_for(0, rows, grain(2 * H), [&](int64_t r0, int64_t r1) {
    swiglu_rows(gu.data_ptr<float>() + r0 * 2 * H, y.data_ptr<float>() + r0 * H, r1 - r0, H);
  });
  return y;
}

Tensor asiarch_kernel_swiglu_backward(const Tensor& g_in, const Tensor& gu) {
  auto g = g_in.contiguous();
  const int64_t H = gu.size(-1) / 2, rows = H == 0 ? 0 : gu.numel() / (2 * H);
  auto dgu = torch::empty_like(gu);
  at::parallel_for(0, rows, grain(2 * H), [&](int64_t r0, int64_t r1) {
    swiglu_rows_backward(g.data_ptr<float>() + r0 * H, gu.data_ptr<float>() + r0 * 2 * H,
                         dgu.data_ptr<float>() + r0 * 2 * H, r1 - r0, H);
  });
  return dgu;
}

std::vector<Tensor> asiarch_kernel_short_conv_forward(const Tensor& x_in, const Tensor& weight, const Tensor& bias,
                                                      bool silu) {
  check_float_cpu(x_in, "short_conv");
  check_float_cpu(weight, "short_conv");
  TORCH_CHECK(x_in.dim() == 3 && weight.dim() == 3 && weight.size(0) == x_in.size(2) && weight.size(1) == 1,
              "short_conv: x must be [B, L, C] and weight [C, 1, k]");
  auto x = x_in.contiguous();
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), k = weight.size(2);
  auto wt = weight.reshape({C, k}).t().contiguous();  // [k, C]: channels innermost, as in x
  Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  auto pre = torch::empty_like(x);
  auto y = silu ? torch::empty_like(x) : pre;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i)
      conv_seq(x.data_ptr<float>() + i * L * C, wt.data_ptr<float>(), b.defined() ? b.data_ptr<float>() : nullptr,
               pre.data_ptr<float>() + i * L * C, silu ? y.data_ptr<float>() + i * L * C : nullptr, L, C, k, silu);
  });
  return {y, x, wt, pre};
}

std::vector<Tensor> asiarch_kernel_short_conv_backward(const Tensor& g, const Tensor& x, const Tensor& wt,
                                                       const Tensor& pre, bool silu, bool has_bias) {
  const int64_t B = x.size(0), L = x.size(1), C = x.size(2), k = wt.size(0);
  auto dpre = g.contiguous().clone();
  auto dx = torch::empty_like(x);
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i)
      conv_seq_backward(dpre.data_ptr<float>() + i * L * C, pre.data_ptr<float>() + i * L * C, wt.data_ptr<float>(),
                        dx.data_ptr<float>() + i * L * C, L, C, k, silu);
  });
  auto dwt = torch::empty({k, C}, x.options());
  Tensor db = has_bias ? torch::empty({C}, x.options()) : Tensor();
  conv_weight_grad(dpre.data_ptr<float>(), x.data_ptr<float>(), dwt.data_ptr<float>(),
                   has_bias ? db.data_ptr<float>() : nullptr, B, L, C, k);
  return {dx, dwt.t().reshape({C, 1, k}), db};
}

}  // namespace asiarch::ops::kernels
