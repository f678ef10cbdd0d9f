// How many threads LibTorch computes with.
#pragma once

namespace asiarch::lab {

// Sets LibTorch's intra-op threads to `n` and keeps BLAS single-threaded.
// LibTorch already parallelises around its GEMM calls; OpenBLAS's own thread
// pool on top of that oversubscribes the cores. On this 2-core machine, a
// 2-layer d=64 model trained at 16k tokens/s with OpenBLAS threaded and 46k
// tokens/s with it single-threaded (docs/performance.md). A BLAS without
// openblas_set_num_threads is left alone.
void set_compute_threads(int n);

}  // namespace asiarch::lab
