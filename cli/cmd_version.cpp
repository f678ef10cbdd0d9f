// asiarch --version: what this build trains and compiles with, and which GPUs it can use. A user
// on a GPU box reads here whether the LibTorch it was built against has CUDA before a run finds out.
#include <CLI/CLI.hpp>

#include <string>

#include "cli/commands.h"
#include "jit/cuda.h"
#include "jit/toolchain.h"
#include "lab/device.h"

namespace asiarch::host {

namespace {

std::string version_text() {
  const auto torch = lab::torch_build();
  std::string t = "asiarch (plugin ABI " + std::to_string(ASIARCH_ABI_VERSION) + ")\n";
  t += "LibTorch " + torch.version + (torch.cuda ? " with CUDA" : " without CUDA (CPU only)") + "\n";
  if (torch.cuda) t += "  CUDA devices LibTorch can use: " + std::to_string(lab::torch_cuda_devices()) + "\n";
  t += "Clang " + jit::clang_version() + " (plugins)\n";
  t += jit::nvrtc_version() + " (CUDA kernels)\n";
  if (auto d = jit::cuda_driver_info())
    t += "CUDA driver " + d->version + ", " + std::to_string(d->devices) + " device(s) visible\n";
  else
    t += "CUDA driver: " + d.error().message + "\n";
  const std::string why = lab::gpu_unusable();
  t += why.empty() ? "Training on a GPU: yes (--gpus)" : "Training on a GPU: no: " + why;
  return t;  // CLI11 ends the line
}

}  // namespace

void add_version_flag(CLI::App& app) {
  // A callback, so that the devices are looked up only when asked.
  app.set_version_flag("--version", [] { return version_text(); }, "what this build trains and compiles with");
}

}  // namespace asiarch::host
