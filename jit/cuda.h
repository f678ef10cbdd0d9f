// CUDA kernels through NVRTC: source -> PTX and CUBIN with structured
// diagnostics and a disk cache; loaded with the driver API where a driver and
// GPU exist. Without NVRTC at build time, CudaCompiler::create says so.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <asiarch/abi.h>

#include "jit/diagnostics.h"
#include "jit/toolchain.h"
#include "util/result.h"

namespace asiarch::jit {

// Kernels loaded into the current CUDA context; exposes the ABI's
// CudaKernelTable for plugins.
class CudaModule {
 public:
  virtual ~CudaModule() = default;
  virtual const CudaKernelTable* table() const = 0;
  // Launches an extern "C" kernel by name; empty string on success.
  virtual std::string launch(const std::string& kernel, const unsigned grid[3], const unsigned block[3],
                             unsigned shared_bytes, void* stream, void** args) = 0;
};

struct CudaRequest {
  std::string file;
  std::string text;
  std::string arch = "sm_90";  // real architecture for CUBIN; PTX is for compute_XX
};

struct CudaBuild {
  Diagnostics diagnostics;
  std::string ptx;
  std::string cubin;
  bool cache_hit = false;
  double seconds = 0;
  // "loaded", or why not: "compiled; not loadable: no CUDA driver", ...
  std::string load_status;
  std::shared_ptr<CudaModule> module;  // set when loaded
  bool ok() const { return !diagnostics.has_errors() && !cubin.empty(); }
};

class CudaCompiler {
 public:
  // Fails when the host was built without NVRTC (no /usr/local/cuda).
  static Result<std::unique_ptr<CudaCompiler>> create(const Toolchain& toolchain);
  static bool available();  // was NVRTC found at build time?

  explicit CudaCompiler(std::filesystem::path cache_dir) : cache_dir_(std::move(cache_dir)) {}
  CudaBuild compile(const CudaRequest& request);
  std::string version() const;  // "NVRTC 13.0"

 private:
  std::filesystem::path cache_dir_;
};

// Parses an NVRTC program log ("file(12): error: ...", source line, caret).
Diagnostics parse_nvrtc_log(const std::string& log, const std::string& file, int max_items = 100);

// Loads a CUBIN with the CUDA driver API (dlopen'd). On failure returns the
// reason, e.g. "no CUDA driver" or "no CUDA device".
Result<std::shared_ptr<CudaModule>> load_cuda_module(const std::string& cubin);

// "NVRTC 13.0", or why there is none ("none: built without NVRTC").
std::string nvrtc_version();

// The installed CUDA driver's version ("13.0") and how many devices it shows this process, or why
// there is none (no libcuda.so.1, a driver that does not initialise).
struct CudaDriverInfo {
  std::string version;
  int devices = 0;
};
Result<CudaDriverInfo> cuda_driver_info();

// The CUDA devices this process can see (through the driver, honouring CUDA_VISIBLE_DEVICES),
// or why none: no driver, a driver that does not initialise, no device.
Result<int> cuda_device_count();

}  // namespace asiarch::jit
