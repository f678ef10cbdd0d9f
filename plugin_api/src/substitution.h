// Private to plugin_api/src: unit lower-triangular substitution, shared by the
// batched solve (kernels.cpp) and the chunkwise delta rule (delta_rule.cpp).
#pragma once

#include <cstdint>

#include "clones.h"

namespace asiarch::ops::kernels {

// In place on the n rows of x (row stride `width`): X = (I + tril(A, -1))^-1 X,
// or with transposed, X = (I + tril(A, -1))^-T X. A is n x n with leading
// dimension lda; its diagonal and upper part are never read. Rows are
// contiguous, so the inner loop is an axpy over the width.
template <typename T>
ASIARCH_INLINE void unit_lower_substitute(const T* __restrict a, int64_t lda, T* __restrict x, int64_t n,
                                          int64_t width, bool transposed) {
  if (!transposed) {  // forward substitution
    for (int64_t i = 1; i < n; ++i) {
      T* __restrict xi = x + i * width;
      for (int64_t j = 0; j < i; ++j) {
        const T c = a[i * lda + j];
        const T* __restrict xj = x + j * width;
        for (int64_t v = 0; v < width; ++v) xi[v] -= c * xj[v];
      }
    }
  } else {  // backward substitution on the transpose
    for (int64_t i = n - 2; i >= 0; --i) {
      T* __restrict xi = x + i * width;
      for (int64_t j = i + 1; j < n; ++j) {
        const T c = a[j * lda + i];
        const T* __restrict xj = x + j * width;
        for (int64_t v = 0; v < width; ++v) xi[v] -= c * xj[v];
      }
    }
  }
}

}  // namespace asiarch::ops::kernels
