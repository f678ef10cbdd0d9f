// The native kernels behind <asiarch/ops.h>, listed once. The list gives
//   - the C++ functions ops.h and plugins call, asiarch::ops::kernels::NAME;
//   - the C-linkage symbol each one is, asiarch_kernel_NAME, defined in the
//     host (plugin_api/src/), so its name cannot differ between the host
//     and the JIT the way a C++ mangling could;
//   - the table from which the JIT binds those symbols to the host's
//     addresses (jit/kernel_symbols.cpp).
// A new kernel is one line here and its definition in plugin_api/src/.
//
// Shapes and conventions are those of ops.h. CPU float32 only; ops.h falls
// back to LibTorch ops otherwise.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

// X(return type, name, (parameters), (arguments)); types are as seen from
// namespace asiarch::ops, where Tensor is torch::Tensor.
#define ASIARCH_KERNELS(X)                                                                                   \
  /* RMSNorm over the last dimension -> {y, x, rstd} */                                                      \
  X(std::vector<Tensor>, rms_norm_forward, (const Tensor& x, const Tensor& weight, double eps),              \
    (x, weight, eps))                                                                                        \
  X(std::vector<Tensor>, rms_norm_backward,                                                                  \
    (const Tensor& grad, const Tensor& x, const Tensor& weight, const Tensor& rstd), (grad, x, weight, rstd)) \
  /* x / |x| over the last dimension -> {y, 1 / norm} */                                                     \
  X(std::vector<Tensor>, l2_normalize_forward, (const Tensor& x, double eps), (x, eps))                      \
  X(Tensor, l2_normalize_backward, (const Tensor& grad, const Tensor& y, const Tensor& inv), (grad, y, inv)) \
  X(Tensor, swiglu_forward, (const Tensor& gate_up), (gate_up))                                              \
  X(Tensor, swiglu_backward, (const Tensor& grad, const Tensor& gate_up), (grad, gate_up))                   \
  /* x [B, L, C], weight [C, 1, k], bias [C] or undefined -> {y, x, weight as [k, C], pre-activation} */     \
  X(std::vector<Tensor>, short_conv_forward, (const Tensor& x, const Tensor& weight, const Tensor& bias,     \
                                              bool silu), (x, weight, bias, silu))                           \
  /* -> {dx, dweight, dbias} */                                                                              \
  X(std::vector<Tensor>, short_conv_backward, (const Tensor& grad, const Tensor& x, const Tensor& weight_kc, \
                                               const Tensor& pre, bool silu, bool has_bias),                 \
    (grad, x, weight_kc, pre, silu, has_bias))                                                               \
  /* The ungated delta rule, chunkwise, one kernel per (batch, head): the output, then the 9 tensors */      \
  /* its backward needs; the backward returns the gradients for q, k, v, beta. */                            \
  X(std::vector<Tensor>, delta_rule_chunk_forward, (const Tensor& q, const Tensor& k, const Tensor& v,       \
                                                    const Tensor& beta, int64_t chunk), (q, k, v, beta, chunk)) \
  X(std::vector<Tensor>, delta_rule_chunk_backward,                                                          \
    (const Tensor& grad_o, const std::vector<Tensor>& saved, int64_t chunk), (grad_o, saved, chunk))         \
  /* X = (I + tril(A, -1))^-1 R, or with the transpose, batched over the leading dims; the diagonal and */   \
  /* upper part of A are never read. */                                                                      \
  X(Tensor, unit_lower_solve, (const Tensor& A, const Tensor& R, bool transposed), (A, R, transposed))

#define ASIARCH_KERNEL_SYMBOL(name) asiarch_kernel_##name
#define ASIARCH_KERNEL_SYMBOL_NAME(name) "asiarch_kernel_" #name

namespace asiarch::ops {

using torch::Tensor;

namespace kernels {

// C linkage with C++ types is well defined (linkage names the symbol, not the
// calling convention); clang warns about it because C callers could not use them.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wreturn-type-c-linkage"
#endif
extern "C" {
#define ASIARCH_DECLARE_KERNEL_SYMBOL(ret, name, params, args) ret ASIARCH_KERNEL_SYMBOL(name) params;
ASIARCH_KERNELS(ASIARCH_DECLARE_KERNEL_SYMBOL)
#undef ASIARCH_DECLARE_KERNEL_SYMBOL
}
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#define ASIARCH_DEFINE_KERNEL_CALL(ret, name, params, args) \
  inline ret name params { return ASIARCH_KERNEL_SYMBOL(name) args; }
ASIARCH_KERNELS(ASIARCH_DEFINE_KERNEL_CALL)
#undef ASIARCH_DEFINE_KERNEL_CALL

}  // namespace kernels
}  // namespace asiarch::ops
