// The compute environment of training and the gates: threads and allocator.
#pragma once

namespace asiarch::lab {

// Sets LibTorch's intra-op threads to `n` and keeps BLAS single-threaded.
// LibTorch already parallelises around its GEMM calls; OpenBLAS's own thread
// pool on top of that oversubscribes the cores. On this 2-core machine, a
// 2-layer d=64 model trained at 16k tokens/s with OpenBLAS threaded and 46k
// tokens/s with it single-threaded (docs/performance.md). A BLAS without
// openblas_set_num_threads is left alone.
void set_compute_threads(int n);

// set_compute_threads(n) for its lifetime, then back to `restore`, also when
// an exception (a plugin's) leaves the scope.
class ScopedComputeThreads {
 public:
  ScopedComputeThreads(int n, int restore) : restore_(restore) { set_compute_threads(n); }
  ~ScopedComputeThreads() { set_compute_threads(restore_); }
  ScopedComputeThreads(const ScopedComputeThreads&) = delete;
  ScopedComputeThreads& operator=(const ScopedComputeThreads&) = delete;

 private:
  int restore_;
};

// Keeps freed memory in the process's heap. A training step allocates and
// frees buffers of hundreds of KiB to MiB; by default glibc serves each from
// a fresh mmap and unmaps it on free, so every step pays page faults again,
// and two training threads contend for the kernel's lock on the memory map.
// With this the C++ trainer went from 56-69k to 104-110k tokens/s on 2
// threads (docs/performance.md). Memory is still returned past 512 MiB free.
void keep_freed_memory();

// The same glibc settings as environment variables, for a process started to
// compare against (bench/train_throughput's Python reference).
inline constexpr const char* kKeepFreedMemoryEnv =
    "MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=536870912 MALLOC_TOP_PAD_=67108864";

}  // namespace asiarch::lab
