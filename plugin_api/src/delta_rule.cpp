// The ungated delta rule, chunkwise (WY/UT form), forward and backward as one
// native kernel per (batch, head). The composite form in <asiarch/ops.h>
// spends most of its time outside the arithmetic: LibTorch's batched GEMM
// selects each small matrix, and autograd keeps and concatenates many
// intermediates. Here each chunk's products are register-blocked loops that
// skip the zero half of every triangular matrix.
//
// Per chunk (rows of one chunk, S the state before it):
//   A = strict_tril((beta k) k^T), P = tril(q k^T), X = (I + A)^-1 [beta v | beta k] = [U | W],
//   Vn = U - W S, o = q S + P Vn, S <- S + k^T Vn.
// The backward walks the chunks in reverse with dS, the gradient of the state
// after the chunk; the forward keeps S before each chunk, X, Vn, A and P.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <asiarch/ops.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "clones.h"
#include "substitution.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // vector arguments only ever cross inlined calls

namespace asiarch::ops::kernels {
namespace {

typedef float v8 __attribute__((vector_size(32)));

ASIARCH_INLINE int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }

ASIARCH_INLINE v8 load8(const float* p) {
  v8 r;
  std::memcpy(&r, p, sizeof r);
  return r;
}
ASIARCH_INLINE void store8(float* p, v8 x) { std::memcpy(p, &x, sizeof x); }

// Which part of A is non-zero (and stored as zeros elsewhere): the k range of
// a block of rows shrinks to it.
enum class Band { kFull, kLower, kUpper };

// C[R rows, 8*NV columns] = alpha * A[:, p0:p1] B[p0:p1, :] (+ C).
template <int R, int NV>
ASIARCH_INLINE void block(int64_t p0, int64_t p1, float alpha, const float* A, int64_t lda, const float* B,
                          int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  v8 c[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = v8{};
  for (int64_t p = p0; p < p1; ++p) {
    v8 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = load8(B + p * ldb + 8 * v);
    for (int r = 0; r < R; ++r) {
      const float a = A[r * lda + p];
      for (int v = 0; v < NV; ++v) c[r][v] += b[v] * a;
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      float* out = C + r * ldc + 8 * v;
      const v8 x = c[r][v] * alpha;
      store8(out, accumulate ? load8(out) + x : x);
    }
}

template <int R>
ASIARCH_INLINE void row_block(int64_t n, int64_t p0, int64_t p1, float alpha, const float* A, int64_t lda,
                              const float* B, int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) block<R, 2>(p0, p1, alpha, A, lda, B + j, ldb, C + j, ldc, accumulate);
  for (; j + 8 <= n; j += 8) block<R, 1>(p0, p1, alpha, A, lda, B + j, ldb, C + j, ldc, accumulate);
  for (; j < n; ++j)
    for (int r = 0; r < R; ++r) {
      float s = 0;
      for (int64_t p = p0; p < p1; ++p) s += A[r * lda + p] * B[p * ldb + j];
      C[r * ldc + j] = accumulate ? C[r * ldc + j] + alpha * s : alpha * s;
    }
}

// C[m, n] = alpha * A[m, k] B[k, n] (+ C), all row-major. With c_lower only
// the columns up to each row block's last row are written: the caller masks
// the upper part.
ASIARCH_INLINE void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, const float* B,
                         int64_t ldb, float* C, int64_t ldc, bool accumulate, Band band = Band::kFull,
                         bool c_lower = false) {
  for (int64_t i = 0; i < m; i += 4) {
    const int64_t rows = imin(4, m - i);
    const int64_t p0 = band == Band::kUpper ? imin(i, k) : 0;
    const int64_t p1 = band == Band::kLower ? imin(k, i + rows) : k;
    const int64_t cols = c_lower ? imin(n, i + rows) : n;
    const float* a = A + i * lda;
    float* c = C + i * ldc;
    switch (rows) {
      case 4: row_block<4>(cols, p0, p1, alpha, a, lda, B, ldb, c, ldc, accumulate); break;
      case 3: row_block<3>(cols, p0, p1, alpha, a, lda, B, ldb, c, ldc, accumulate); break;
      case 2: row_block<2>(cols, p0, p1, alpha, a, lda, B, ldb, c, ldc, accumulate); break;
      default: row_block<1>(cols, p0, p1, alpha, a, lda, B, ldb, c, ldc, accumulate); break;
    }
  }
}

// dst[cols, rows] (leading dimension ldd) = src[rows, cols]^T.
ASIARCH_INLINE void transpose(int64_t rows, int64_t cols, const float* src, int64_t lds, float* dst, int64_t ldd) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[j * ldd + i] = src[i * lds + j];
}

// Zeroes the part of a [c, c] matrix above the diagonal (strict: and the diagonal).
ASIARCH_INLINE void keep_lower(int64_t c, float* m, int64_t ld, bool strict) {
  for (int64_t i = 0; i < c; ++i)
    for (int64_t j = strict ? i : i + 1; j < c; ++j) m[i * ld + j] = 0;
}

struct Dims {
  int64_t L, K, V, C, N;
};

// One (batch, head). q, k [L, K]; v [L, V]; beta [L]; o [L, V]; states [N, K, V];
// X [L, V + K]; vn [L, V]; a, p [N, C, C].
ASIARCH_CLONES
void forward_head(const Dims& d, const float* q, const float* k, const float* v, const float* beta, float* o,
                  float* states, float* X, float* vn, float* a, float* p, float* work) {
  const int64_t K = d.K, V = d.V, C = d.C, VK = V + K;
  float *S = work, *kb = S + K * V, *kT = kb + C * K;
  std::memset(S, 0, K * V * sizeof(float));
  for (int64_t n = 0; n < d.N; ++n) {
    const int64_t r0 = n * C, c = imin(C, d.L - r0);
    const float *qn = q + r0 * K, *kn = k + r0 * K, *vnin = v + r0 * V, *bn = beta + r0;
    float *an = a + n * C * C, *pn = p + n * C * C, *xn = X + r0 * VK, *vnn = vn + r0 * V, *on = o + r0 * V;
    for (int64_t i = 0; i < c; ++i)
      for (int64_t j = 0; j < K; ++j) kb[i * K + j] = bn[i] * kn[i * K + j];
    transpose(c, K, kn, K, kT, c);
    gemm(c, c, K, 1.f, kb, K, kT, c, an, C, false, Band::kFull, true);
    keep_lower(c, an, C, true);
    gemm(c, c, K, 1.f, qn, K, kT, c, pn, C, false, Band::kFull, true);
    keep_lower(c, pn, C, false);
    // X = (I + A)^-1 [beta v | beta k]
    for (int64_t i = 0; i < c; ++i) {
      float* xi = xn + i * VK;
      for (int64_t j = 0; j < V; ++j) xi[j] = bn[i] * vnin[i * V + j];
      std::memcpy(xi + V, kb + i * K, K * sizeof(float));
    }
    unit_lower_substitute(an, C, xn, c, VK, false);
    std::memcpy(states + n * K * V, S, K * V * sizeof(float));
    // Vn = U - W S
    for (int64_t i = 0; i < c; ++i) std::memcpy(vnn + i * V, xn + i * VK, V * sizeof(float));
    gemm(c, V, K, -1.f, xn + V, VK, S, V, vnn, V, true);
    // o = q S + P Vn
    gemm(c, V, K, 1.f, qn, K, S, V, on, V, false);
    gemm(c, V, c, 1.f, pn, C, vnn, V, on, V, true, Band::kLower);
    // S += k^T Vn
    gemm(K, V, c, 1.f, kT, c, vnn, V, S, V, true);
  }
}

ASIARCH_CLONES
void backward_head(const Dims& d, const float* dout, const float* q, const float* k, const float* v,
                   const float* beta, const float* states, const float* X, const float* vn, const float* a,
                   const float* p, float* dq, float* dk, float* dv, float* dbeta, float* work) {
  const int64_t K = d.K, V = d.V, C = d.C, VK = V + K;
  float *dS = work, *dS_prev = dS + K * V, *ST = dS_prev + K * V, *dST = ST + V * K, *vnT = dST + V * K,
        *T1 = vnT + V * C, *T2 = T1 + C * C, *dvn = T2 + C * C, *dX = dvn + C * V, *XT = dX + C * VK,
        *qT = XT + VK * C, *wT = qT + K * C, *kb = wT + K * C, *dkb = kb + C * K;
  std::memset(dS, 0, K * V * sizeof(float));
  for (int64_t n = d.N - 1; n >= 0; --n) {
    const int64_t r0 = n * C, c = imin(C, d.L - r0);
    const float *qn = q + r0 * K, *kn = k + r0 * K, *vin = v + r0 * V, *bn = beta + r0, *don = dout + r0 * V;
    const float *Sn = states + n * K * V, *an = a + n * C * C, *pn = p + n * C * C, *xn = X + r0 * VK,
                *vnn = vn + r0 * V;
    float *dqn = dq + r0 * K, *dkn = dk + r0 * K, *dvn_out = dv + r0 * V, *dbn = dbeta + r0;
    transpose(K, V, Sn, V, ST, K);
    transpose(K, V, dS, V, dST, K);
    // dq = dO S^T; dk = Vn dS^T
    gemm(c, K, V, 1.f, don, V, ST, K, dqn, K, false);
    gemm(c, K, V, 1.f, vnn, V, dST, K, dkn, K, false);
    // dP = tril(dO Vn^T)  (T1)
    transpose(c, V, vnn, V, vnT, c);
    gemm(c, c, V, 1.f, don, V, vnT, c, T1, C, false, Band::kFull, true);
    keep_lower(c, T1, C, false);
    // dVn = P^T dO + k dS
    transpose(c, c, pn, C, T2, C);
    gemm(c, V, c, 1.f, T2, C, don, V, dvn, V, false, Band::kUpper);
    gemm(c, V, K, 1.f, kn, K, dS, V, dvn, V, true);
    // dS before the chunk = dS + q^T dO - W^T dVn
    std::memcpy(dS_prev, dS, K * V * sizeof(float));
    transpose(c, K, qn, K, qT, c);
    transpose(c, K, xn + V, VK, wT, c);
    gemm(K, V, c, 1.f, qT, c, don, V, dS_prev, V, true);
    gemm(K, V, c, -1.f, wT, c, dvn, V, dS_prev, V, true);
    // dq += dP k; dk += dP^T q
    gemm(c, K, c, 1.f, T1, C, kn, K, dqn, K, true, Band::kLower);
    transpose(c, c, T1, C, T2, C);
    gemm(c, K, c, 1.f, T2, C, qn, K, dkn, K, true, Band::kUpper);
    // dX = [dVn | -dVn S^T], then dR = (I + A)^-T dX by backward substitution.
    for (int64_t i = 0; i < c; ++i) std::memcpy(dX + i * VK, dvn + i * V, V * sizeof(float));
    gemm(c, K, V, -1.f, dvn, V, ST, K, dX + V, VK, false);
    unit_lower_substitute(an, C, dX, c, VK, true);
    // dA = -strict_tril(dR X^T)  (T1)
    transpose(c, VK, xn, VK, XT, c);
    gemm(c, c, VK, -1.f, dX, VK, XT, c, T1, C, false, Band::kFull, true);
    keep_lower(c, T1, C, true);
    // R = [beta v | beta k]: dv, dbeta, and dkb = dR_k + dA k
    for (int64_t i = 0; i < c; ++i) {
      const float* dr = dX + i * VK;
      float db = 0;
      for (int64_t j = 0; j < V; ++j) {
        dvn_out[i * V + j] = bn[i] * dr[j];
        db += dr[j] * vin[i * V + j];
      }
      dbn[i] = db;
      std::memcpy(dkb + i * K, dr + V, K * sizeof(float));
      for (int64_t j = 0; j < K; ++j) kb[i * K + j] = bn[i] * kn[i * K + j];
    }
    gemm(c, K, c, 1.f, T1, C, kn, K, dkb, K, true, Band::kLower);
    // dk += dA^T kb + beta dkb; dbeta += sum(dkb k)
    transpose(c, c, T1, C, T2, C);
    gemm(c, K, c, 1.f, T2, C, kb, K, dkn, K, true, Band::kUpper);
    for (int64_t i = 0; i < c; ++i) {
      float db = 0;
      for (int64_t j = 0; j < K; ++j) {
        dkn[i * K + j] += bn[i] * dkb[i * K + j];
        db += dkb[i * K + j] * kn[i * K + j];
      }
      dbn[i] += db;
    }
    float* t = dS;
    dS = dS_prev;
    dS_prev = t;
  }
}

int64_t forward_work(const Dims& d) { return d.K * d.V + 2 * d.C * d.K; }
int64_t backward_work(const Dims& d) {
  return 4 * d.K * d.V + d.V * d.C + 2 * d.C * d.C + d.C * d.V + 2 * d.C * (d.V + d.K) + 4 * d.K * d.C;
}

Dims dims_of(const torch::Tensor& q, const torch::Tensor& v, int64_t chunk) {
  const int64_t L = q.size(2), C = std::max<int64_t>(1, std::min(chunk, L));
  return {L, q.size(3), v.size(3), C, L == 0 ? 0 : (L + C - 1) / C};
}

void check_inputs(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& beta) {
  TORCH_CHECK(q.dim() == 4 && k.sizes() == q.sizes(), "delta_rule_chunk: q and k must be [B, H, L, K]");
  TORCH_CHECK(v.dim() == 4 && v.sizes().slice(0, 3) == q.sizes().slice(0, 3), "delta_rule_chunk: v must be [B, H, L, V]");
  TORCH_CHECK(beta.sizes() == q.sizes().slice(0, 3), "delta_rule_chunk: beta must be [B, H, L]");
  for (const auto* t : {&q, &k, &v, &beta})
    TORCH_CHECK(t->device().is_cpu() && t->scalar_type() == torch::kFloat, "delta_rule_chunk: CPU float32 only");
}

}  // namespace

std::vector<torch::Tensor> asiarch_kernel_delta_rule_chunk_forward(const torch::Tensor& q_in,
                                                                   const torch::Tensor& k_in,
                                                                   const torch::Tensor& v_in,
                                                                   const torch::Tensor& beta_in, int64_t chunk) {
  check_inputs(q_in, k_in, v_in, beta_in);
  auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous(), beta = beta_in.contiguous();
  const Dims d = dims_of(q, v, chunk);
  const int64_t BH = q.size(0) * q.size(1);
  auto opts = q.options();
  auto o = torch::empty_like(v);
  auto states = torch::empty({q.size(0), q.size(1), d.N, d.K, d.V}, opts);
  auto X = torch::empty({q.size(0), q.size(1), d.L, d.V + d.K}, opts);
  auto vn = torch::empty_like(v);
  auto a = torch::zeros({q.size(0), q.size(1), d.N, d.C, d.C}, opts);
  auto p = torch::zeros({q.size(0), q.size(1), d.N, d.C, d.C}, opts);
  at::parallel_for(0, BH, 1, [&](int64_t h0, int64_t h1) {
    std::vector<float> work(forward_work(d));
    for (int64_t h = h0; h < h1; ++h)
      forward_head(d, q.data_ptr<float>() + h * d.L * d.K, k.data_ptr<float>() + h * d.L * d.K,
                   v.data_ptr<float>() + h * d.L * d.V, beta.data_ptr<float>() + h * d.L,
                   o.data_ptr<float>() + h * d.L * d.V, states.data_ptr<float>() + h * d.N * d.K * d.V,
                   X.data_ptr<float>() + h * d.L * (d.V + d.K), vn.data_ptr<float>() + h * d.L * d.V,
                   a.data_ptr<float>() + h * d.N * d.C * d.C, p.data_ptr<float>() + h * d.N * d.C * d.C, work.data());
  });
  return {o, q, k, v, beta, states, X, vn, a, p};
}

std::vector<torch::Tensor> asiarch_kernel_delta_rule_chunk_backward(const torch::Tensor& grad_o,
                                                                    const std::vector<torch::Tensor>& saved,
                                                                    int64_t chunk) {
  TORCH_CHECK(saved.size() == 9, "delta_rule_chunk_backward: expected the 9 tensors the forward saved");
  const auto &q = saved[0], &k = saved[1], &v = saved[2], &beta = saved[3], &states = saved[4], &X = saved[5],
             &vn = saved[6], &a = saved[7], &p = saved[8];
  auto dout = grad_o.contiguous();
  const Dims d = dims_of(q, v, chunk);
  const int64_t BH = q.size(0) * q.size(1);
  auto dq = torch::empty_like(q), dk = torch::empty_like(k), dv = torch::empty_like(v), dbeta = torch::empty_like(beta);
  at::parallel_for(0, BH, 1, [&](int64_t h0, int64_t h1) {
    std::vector<float> work(backward_work(d));
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t qk = h * d.L * d.K, vv = h * d.L * d.V, cc = h * d.N * d.C * d.C;
      backward_head(d, dout.data_ptr<float>() + vv, q.data_ptr<float>() + qk, k.data_ptr<float>() + qk,
                    v.data_ptr<float>() + vv, beta.data_ptr<float>() + h * d.L,
                    states.data_ptr<float>() + h * d.N * d.K * d.V, X.data_ptr<float>() + h * d.L * (d.V + d.K),
                    vn.data_ptr<float>() + vv, a.data_ptr<float>() + cc, p.data_ptr<float>() + cc,
                    dq.data_ptr<float>() + qk, dk.data_ptr<float>() + qk, dv.data_ptr<float>() + vv,
                    dbeta.data_ptr<float>() + h * d.L, work.data());
    }
  });
  return {dq, dk, dv, dbeta};
}

}  // namespace asiarch::ops::kernels
