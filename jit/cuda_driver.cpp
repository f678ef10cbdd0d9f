// Driver-API loading for jit/cuda.h. libcuda is dlopen'd, so the host builds
// and runs on machines without a CUDA driver and reports that plainly.
#include <dlfcn.h>

#include <mutex>
#include <unordered_map>

#include <cuda.h>

#include "jit/cuda.h"

namespace asiarch::jit {
namespace {

struct Driver {
  void* handle = nullptr;
  CUresult (*cuInit)(unsigned) = nullptr;
  CUresult (*cuDeviceGetCount)(int*) = nullptr;
  CUresult (*cuDeviceGet)(CUdevice*, int) = nullptr;
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext*, CUdevice) = nullptr;
  CUresult (*cuCtxSetCurrent)(CUcontext) = nullptr;
  CUresult (*cuModuleLoadData)(CUmodule*, const void*) = nullptr;
  CUresult (*cuModuleUnload)(CUmodule) = nullptr;
  CUresult (*cuModuleGetFunction)(CUfunction*, CUmodule, const char*) = nullptr;
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             unsigned, CUstream, void**, void**) = nullptr;
  CUresult (*cuGetErrorString)(CUresult, const char**) = nullptr;

  std::string error(CUresult rc) const {
    const char* s = nullptr;
    if (cuGetErrorString) cuGetErrorString(rc, &s);
    return s ? s : "CUDA error " + std::to_string(static_cast<int>(rc));
  }
};

// Opens the driver once per process; the handle stays for the process's life.
Result<const Driver*> open_driver() {
  static std::once_flag once;
  static Driver driver;
  static std::string failure;
  std::call_once(once, [] {
    driver.handle = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!driver.handle) {
      failure = "no CUDA driver";
      return;
    }
    auto sym = [](const char* name) { return ::dlsym(driver.handle, name); };
#define ASIARCH_LOAD(fn) driver.fn = reinterpret_cast<decltype(driver.fn)>(sym(#fn))
    ASIARCH_LOAD(cuInit);
    ASIARCH_LOAD(cuDeviceGetCount);
    ASIARCH_LOAD(cuDeviceGet);
    ASIARCH_LOAD(cuDevicePrimaryCtxRetain);
    ASIARCH_LOAD(cuCtxSetCurrent);
    ASIARCH_LOAD(cuModuleLoadData);
    ASIARCH_LOAD(cuModuleUnload);
    ASIARCH_LOAD(cuModuleGetFunction);
    ASIARCH_LOAD(cuLaunchKernel);
    ASIARCH_LOAD(cuGetErrorString);
#undef ASIARCH_LOAD
    if (!driver.cuInit || !driver.cuModuleLoadData || !driver.cuLaunchKernel) {
      failure = "CUDA driver lacks the driver API";
      return;
    }
    if (CUresult rc = driver.cuInit(0); rc != CUDA_SUCCESS) {
      failure = "CUDA driver did not initialise: " + driver.error(rc);
      return;
    }
    int count = 0;
    if (driver.cuDeviceGetCount(&count) != CUDA_SUCCESS || count == 0) failure = "no CUDA device";
  });
  if (!failure.empty()) return make_error(failure);
  return &driver;
}

class DriverModule : public CudaModule {
 public:
  DriverModule(const Driver* d, CUmodule m) : d_(d), module_(m) {
    table_.context = this;
    table_.launch = [](void* ctx, const char* kernel, const unsigned grid[3], const unsigned block[3],
                       unsigned shared, void* stream, void** args) -> const char* {
      auto* self = static_cast<DriverModule*>(ctx);
      self->last_error_ = self->launch(kernel, grid, block, shared, stream, args);
      return self->last_error_.empty() ? nullptr : self->last_error_.c_str();
    };
  }
  ~DriverModule() override { d_->cuModuleUnload(module_); }

  const CudaKernelTable* table() const override { return &table_; }

  std::string launch(const std::string& kernel, const unsigned grid[3], const unsigned block[3],
                     unsigned shared_bytes, void* stream, void** args) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = functions_.find(kernel);
    if (it == functions_.end()) {
      CUfunction f;
      if (CUresult rc = d_->cuModuleGetFunction(&f, module_, kernel.c_str()); rc != CUDA_SUCCESS)
        return "no kernel \"" + kernel + "\": " + d_->error(rc);
      it = functions_.emplace(kernel, f).first;
    }
    CUresult rc = d_->cuLaunchKernel(it->second, grid[0], grid[1], grid[2], block[0], block[1], block[2],
                                     shared_bytes, static_cast<CUstream>(stream), args, nullptr);
    return rc == CUDA_SUCCESS ? "" : "launch of " + kernel + " failed: " + d_->error(rc);
  }

 private:
  const Driver* d_;
  CUmodule module_;
  CudaKernelTable table_{};
  std::mutex mu_;
  std::unordered_map<std::string, CUfunction> functions_;
  std::string last_error_;
};

}  // namespace

Result<CudaDriverInfo> cuda_driver_info() {
  // The version needs no initialised driver: a driver that fails to start still says which it is.
  void* h = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return make_error("no CUDA driver (libcuda.so.1 not found)");
  auto get_version = reinterpret_cast<CUresult (*)(int*)>(::dlsym(h, "cuDriverGetVersion"));
  int v = 0;
  if (!get_version || get_version(&v) != CUDA_SUCCESS) return make_error("the CUDA driver does not say its version");
  CudaDriverInfo info;
  info.version = std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
  auto devices = cuda_device_count();
  if (!devices) return make_error("CUDA driver " + info.version + ": " + devices.error().message);
  info.devices = *devices;
  return info;
}

Result<int> cuda_device_count() {
  auto d = open_driver();
  if (!d) return d.error();
  int count = 0;
  if (CUresult rc = (*d)->cuDeviceGetCount(&count); rc != CUDA_SUCCESS) return make_error((*d)->error(rc));
  return count;
}

Result<std::shared_ptr<CudaModule>> load_cuda_module(const std::string& cubin) {
  auto driver = open_driver();
  if (!driver) return driver.error();
  const Driver* d = *driver;
  CUdevice dev;
  CUcontext ctx;
  if (CUresult rc = d->cuDeviceGet(&dev, 0); rc != CUDA_SUCCESS) return make_error(d->error(rc));
  // The primary context is the one LibTorch uses too.
  if (CUresult rc = d->cuDevicePrimaryCtxRetain(&ctx, dev); rc != CUDA_SUCCESS) return make_error(d->error(rc));
  if (CUresult rc = d->cuCtxSetCurrent(ctx); rc != CUDA_SUCCESS) return make_error(d->error(rc));
  CUmodule m;
  if (CUresult rc = d->cuModuleLoadData(&m, cubin.data()); rc != CUDA_SUCCESS)
    return make_error("cannot load CUBIN: " + d->error(rc));
  return std::shared_ptr<CudaModule>(std::make_shared<DriverModule>(d, m));
}

}  // namespace asiarch::jit
