// The public header every mixer plugin includes.
//
//   #include <asiarch/plugin.h>
//   class MyMixer : public asiarch::TokenMixer {
//    public:
//     explicit MyMixer(const asiarch::MixerConfig& cfg);
//     torch::Tensor forward(const torch::Tensor& x) override;  // [B,L,D] -> [B,L,D], causal
//   };
//   ASIARCH_REGISTER_MIXER(MyMixer, "my_mixer")
//
// Optional CUDA kernels travel with the plugin as source, compiled by the host
// through NVRTC:   ASIARCH_CUDA_SOURCE(R"cuda( extern "C" __global__ ... )cuda")
// or as a sibling file with the same stem and the extension .cu.
#pragma once

#include <asiarch/abi.h>
#include <torch/torch.h>

#define ASIARCH_STR_(x) #x
#define ASIARCH_STR(x) ASIARCH_STR_(x)
#define ASIARCH_CAT_(a, b) a##b
#define ASIARCH_CAT(a, b) ASIARCH_CAT_(a, b)

// The host's JIT defines this to a hash of the plugin API headers it ships.
#ifndef ASIARCH_HEADER_HASH
#define ASIARCH_HEADER_HASH "unknown"
#endif

#ifdef __clang__
#define ASIARCH_COMPILER_ID \
  "clang " ASIARCH_STR(__clang_major__) "." ASIARCH_STR(__clang_minor__) "." ASIARCH_STR(__clang_patchlevel__)
#else
#define ASIARCH_COMPILER_ID "non-clang"
#endif

// Everything that must agree between the host and a plugin's object code.
#define ASIARCH_FINGERPRINT                                                   \
  ASIARCH_COMPILER_ID "; torch " TORCH_VERSION "; cxx11abi " ASIARCH_STR( \
      _GLIBCXX_USE_CXX11_ABI) "; headers " ASIARCH_HEADER_HASH

namespace asiarch {

// A causal token mixer: [B, L, d_model] -> [B, L, d_model]. Output at
// position t may depend only on inputs at positions <= t.
class TokenMixer : public torch::nn::Module {
 public:
  ~TokenMixer() override = default;
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

}  // namespace asiarch

#define ASIARCH_REGISTER_MIXER(Class, Name)                                          \
  extern "C" __attribute__((visibility("default"))) const ::asiarch::MixerEntry*    \
  ASIARCH_CAT(asiarch_mixer_entry_, Class)() {                                       \
    static const ::asiarch::MixerEntry entry{                                        \
        ASIARCH_ABI_VERSION, ASIARCH_FINGERPRINT, Name, #Class,                      \
        [](const ::asiarch::MixerConfig& cfg) -> ::asiarch::TokenMixer* {           \
          return new Class(cfg);                                                     \
        },                                                                           \
        [](::asiarch::TokenMixer* m) { delete m; }};                                 \
    return &entry;                                                                   \
  }

#define ASIARCH_CUDA_SOURCE(text)                                                    \
  extern "C" __attribute__((visibility("default"))) const char*                     \
  asiarch_plugin_cuda_source() {                                                     \
    return text;                                                                     \
  }
