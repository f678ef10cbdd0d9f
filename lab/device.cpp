#include "lab/device.h"

#include <torch/cuda.h>
#include <torch/version.h>

namespace asiarch::lab {

TorchBuild torch_build() {
  TorchBuild b;
  b.version = TORCH_VERSION;
#ifdef ASIARCH_TORCH_CUDA
  b.cuda = true;
#endif
  return b;
}

int torch_cuda_devices() { return torch_build().cuda ? static_cast<int>(torch::cuda::device_count()) : 0; }

std::string gpu_unusable() {
  const TorchBuild b = torch_build();
  if (!b.cuda)
    return "this asiarch was built against LibTorch " + b.version +
           " without CUDA, so its workers can only train on the CPU; build it against a CUDA LibTorch "
           "(README, \"On a GPU box\")";
  if (torch_cuda_devices() == 0) return "LibTorch " + b.version + " (with CUDA) sees no CUDA device";
  return "";
}

Result<torch::Device> training_device(bool gpu) {
  if (!gpu) return torch::Device(torch::kCPU);
  if (auto why = gpu_unusable(); !why.empty()) return make_error(why);
  return torch::Device(torch::kCUDA, 0);
}

torch::Device device_of(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  for (const auto& b : module.buffers()) return b.device();
  return torch::Device(torch::kCPU);
}

}  // namespace asiarch::lab
