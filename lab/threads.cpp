#include "lab/threads.h"

#include <dlfcn.h>
#include <malloc.h>

#include <torch/torch.h>

namespace asiarch::lab {

void set_compute_threads(int n) {
  torch::set_num_threads(n);
  // Looked up at run time: the BLAS behind LibTorch is chosen by Debian's alternatives.
  using SetThreads = void (*)(int);
  if (auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(1);
}

int compute_threads() { return torch::get_num_threads(); }

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace asiarch::lab
