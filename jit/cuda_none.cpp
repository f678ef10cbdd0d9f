// jit/cuda.h for hosts built without NVRTC.
#include "jit/cuda.h"

namespace asiarch::jit {

bool CudaCompiler::available() { return false; }

Result<std::unique_ptr<CudaCompiler>> CudaCompiler::create(const Toolchain&) {
  return make_error("this asiarch was built without CUDA (no NVRTC found at /usr/local/cuda)");
}

CudaBuild CudaCompiler::compile(const CudaRequest& req) {
  CudaBuild b;
  b.diagnostics.add(make_diagnostic(Stage::cuda, Severity::error, req.file, "built without NVRTC"));
  return b;
}

std::string CudaCompiler::version() const { return "none"; }

std::string nvrtc_version() { return "none: built without NVRTC (no CUDA toolkit at build time)"; }

Result<CudaDriverInfo> cuda_driver_info() { return make_error("built without the CUDA toolkit's headers"); }

Result<std::shared_ptr<CudaModule>> load_cuda_module(const std::string&) {
  return make_error("built without CUDA");
}

Result<int> cuda_device_count() { return make_error("this asiarch was built without CUDA"); }

}  // namespace asiarch::jit
