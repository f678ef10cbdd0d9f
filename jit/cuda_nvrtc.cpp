// NVRTC half of jit/cuda.h; compiled only when the build found NVRTC.
#include <chrono>

#include <nlohmann/json.hpp>
#include <nvrtc.h>

#include "jit/cuda.h"
#include "util/files.h"
#include "util/hash.h"

namespace asiarch::jit {

bool CudaCompiler::available() { return true; }

Result<std::unique_ptr<CudaCompiler>> CudaCompiler::create(const Toolchain& toolchain) {
  return std::make_unique<CudaCompiler>(toolchain.cuda_dir());
}

std::string CudaCompiler::version() const { return nvrtc_version(); }

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return "NVRTC " + std::to_string(major) + "." + std::to_string(minor);
}

CudaBuild CudaCompiler::compile(const CudaRequest& req) {
  const auto start = std::chrono::steady_clock::now();
  CudaBuild b;
  auto finish = [&]() -> CudaBuild {
    b.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (b.ok()) {
      auto m = load_cuda_module(b.cubin);
      if (m) {
        b.module = *m;
        b.load_status = "loaded";
      } else {
        b.load_status = "compiled; not loadable: " + m.error().message;
      }
    } else {
      b.load_status = "not compiled";
    }
    return std::move(b);
  };
  const std::string key =
      sha256_hex(version() + '\0' + req.arch + '\0' + req.file + '\0' + req.text).substr(0, 32);
  if (auto meta = read_file(cache_dir_ / (key + ".json"))) {
    try {
      auto j = nlohmann::json::parse(*meta);
      auto ptx = read_file(cache_dir_ / (key + ".ptx"));
      auto cubin = read_file(cache_dir_ / (key + ".cubin"));
      if (ptx && cubin && j.at("cubin_size").get<size_t>() == cubin->size()) {
        b.ptx = std::move(*ptx);
        b.cubin = std::move(*cubin);
        b.diagnostics = j.at("diagnostics").get<Diagnostics>();
        b.cache_hit = true;
        return finish();
      }
    } catch (const std::exception&) {
      // unreadable entry: recompile and overwrite it
    }
  }

  if (req.arch.rfind("sm_", 0) != 0) {
    b.diagnostics.add(make_diagnostic(Stage::cuda, Severity::error, req.file,
                                      "CUDA architecture must look like sm_90, got \"" + req.arch + "\""));
    return finish();
  }
  // One compile for CUBIN (real arch) and one for PTX (virtual arch):
  // NVRTC gives no PTX for a real architecture.
  auto run = [&](const std::string& arch, bool want_cubin) -> bool {
    nvrtcProgram prog;
    if (nvrtcCreateProgram(&prog, req.text.c_str(), req.file.c_str(), 0, nullptr, nullptr) != NVRTC_SUCCESS) {
      b.diagnostics.add(make_diagnostic(Stage::cuda, Severity::error, req.file, "nvrtcCreateProgram failed"));
      return false;
    }
    const std::string arch_opt = "--gpu-architecture=" + arch;
    const char* opts[] = {arch_opt.c_str(), "--std=c++17", "-default-device"};
    nvrtcResult rc = nvrtcCompileProgram(prog, 3, opts);
    size_t log_size = 0;
    nvrtcGetProgramLogSize(prog, &log_size);
    std::string log(log_size, '\0');
    if (log_size > 0) nvrtcGetProgramLog(prog, log.data());
    if (want_cubin) b.diagnostics.append(parse_nvrtc_log(log, req.file));
    bool ok = rc == NVRTC_SUCCESS;
    if (!ok && want_cubin && !b.diagnostics.has_errors())
      b.diagnostics.add(make_diagnostic(Stage::cuda, Severity::error, req.file,
                                        std::string("NVRTC: ") + nvrtcGetErrorString(rc) + "\n" + log));
    if (ok) {
      size_t n = 0;
      if (want_cubin) {
        nvrtcGetCUBINSize(prog, &n);
        b.cubin.assign(n, '\0');
        nvrtcGetCUBIN(prog, b.cubin.data());
      } else {
        nvrtcGetPTXSize(prog, &n);
        b.ptx.assign(n, '\0');
        nvrtcGetPTX(prog, b.ptx.data());
        if (!b.ptx.empty() && b.ptx.back() == '\0') b.ptx.pop_back();
      }
    }
    nvrtcDestroyProgram(&prog);
    return ok;
  };
  if (run(req.arch, true)) run("compute_" + req.arch.substr(3), false);
  if (b.ok()) {
    nlohmann::json j = {{"cubin_size", b.cubin.size()}, {"diagnostics", b.diagnostics}};
    if (write_file_atomic(cache_dir_ / (key + ".ptx"), b.ptx) &&
        write_file_atomic(cache_dir_ / (key + ".cubin"), b.cubin))
      (void)write_file_atomic(cache_dir_ / (key + ".json"), j.dump());
  }
  return finish();
}

}  // namespace asiarch::jit
