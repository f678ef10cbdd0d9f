// Where a model trains: the CPU, or the one GPU a worker was given. What the
// LibTorch this program was built with can do with a GPU is said here, once.
#pragma once

#include <string>

#include <torch/torch.h>

#include "util/result.h"

namespace asiarch::lab {

// The LibTorch this program was built and linked with.
struct TorchBuild {
  std::string version;   // TORCH_VERSION, e.g. "1.13.1"
  bool cuda = false;     // built with CUDA (CMake found its CUDA libraries)
};
TorchBuild torch_build();
// The CUDA devices LibTorch can use in this process (0 without CUDA; starts the CUDA runtime).
int torch_cuda_devices();

// Why this program cannot train on a GPU (empty: it can): a LibTorch built without CUDA, or no
// device it can use. Names the LibTorch, so a user knows what to rebuild against.
std::string gpu_unusable();

// The device a worker trains on: the CPU, or with `gpu` the one CUDA device the executor lets it
// see (CUDA_VISIBLE_DEVICES holds its GPU, so it is cuda:0). An error says why a GPU cannot be used.
Result<torch::Device> training_device(bool gpu);

// The device of a module's parameters (the CPU for one with none).
torch::Device device_of(const torch::nn::Module& module);

}  // namespace asiarch::lab
