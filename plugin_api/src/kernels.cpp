// Native kernels behind <asiarch/ops.h>, compiled into the host at -O3 so
// that plugins, which the JIT compiles at -O1, still get vectorised loops.
// Each definition here and in fused.cpp and delta_rule.cpp is one of the
// C-linkage symbols <asiarch/kernels.h> lists (asiarch_kernel_NAME); the JIT
// binds plugins to them through jit/kernel_symbols.cpp. A definition whose
// signature drifted from the list would be a C++ overload of its own, and
// the host would no longer link.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <asiarch/ops.h>

#include "substitution.h"

namespace asiarch::ops::kernels {
namespace {

// One [C, C] matrix and its [C, V] right-hand sides, in place.
template <typename T>
ASIARCH_CLONES void solve_one(const T* a, T* x, int64_t C, int64_t V, bool transposed) {
  unit_lower_substitute(a, C, x, C, V, transposed);
}

}  // namespace

torch::Tensor asiarch_kernel_unit_lower_solve(const torch::Tensor& A, const torch::Tensor& R, bool transposed) {
  TORCH_CHECK(A.dim() >= 2 && A.size(-1) == A.size(-2), "unit_lower_solve: A must be [..., C, C]");
  TORCH_CHECK(R.dim() == A.dim() && R.size(-2) == A.size(-1), "unit_lower_solve: R must be [..., C, V]");
  TORCH_CHECK(A.sizes().slice(0, A.dim() - 2) == R.sizes().slice(0, R.dim() - 2),
              "unit_lower_solve: batch shapes differ");
  TORCH_CHECK(A.device().is_cpu(), "unit_lower_solve: CPU tensors only");
  auto a = A.contiguous();
  auto x = R.clone(at::MemoryFormat::Contiguous);
  const int64_t C = a.size(-1), V = x.size(-1);
  const int64_t batch = C == 0 || V == 0 ? 0 : x.numel() / (C * V);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "unit_lower_solve", [&] {
    const scalar_t* ap = a.data_ptr<scalar_t>();
    scalar_t* xp = x.data_ptr<scalar_t>();
    at::parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) solve_one<scalar_t>(ap + b * C * C, xp + b * C * V, C, V, transposed);
    });
  });
  return x;
}

}  // namespace asiarch::ops::kernels
