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
// A mixer that is quadratic in the sequence length on purpose (the softmax
// reference) says so with ASIARCH_DECLARE_QUADRATIC(); all others must
// measure sub-quadratic in the complexity gate.
//
// Optional CUDA kernels travel with the plugin as source, compiled by the host
// through NVRTC:   ASIARCH_CUDA_SOURCE(R"cuda( extern "C" __global__ ... )cuda")
// or as a sibling file with the same stem and the extension .cu.
#pragma once

#include <asiarch/abi.h>
#include <torch/torch.h>

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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

  // Adds a term to the training objective from inside forward(): a router's load-balance or
  // entropy loss, a scalar whose graph reaches this mixer's parameters. The trainer adds every
  // term added during a training pass to that pass's loss (batch shards run on their own threads:
  // each pass collects its own thread's terms). Outside a training pass the terms are dropped.
  void add_aux_loss(const torch::Tensor& loss) {
    std::lock_guard<std::mutex> lock(aux_mutex_);
    auto it = aux_.find(std::this_thread::get_id());
    if (it != aux_.end()) it->second.push_back(loss);
  }

  // The host's side (lab/model.cpp): start collecting this thread's terms, then take them.
  void begin_aux_losses() {
    std::lock_guard<std::mutex> lock(aux_mutex_);
    aux_[std::this_thread::get_id()].clear();
  }
  std::vector<torch::Tensor> end_aux_losses() {
    std::lock_guard<std::mutex> lock(aux_mutex_);
    auto it = aux_.find(std::this_thread::get_id());
    if (it == aux_.end()) return {};
    auto out = std::move(it->second);
    aux_.erase(it);
    return out;
  }

 private:
  std::mutex aux_mutex_;
  std::map<std::thread::id, std::vector<torch::Tensor>> aux_;
};

// The value of `key` in cfg.options ("k=v,k=v"), or `fallback`.
inline std::string option(const MixerConfig& cfg, const std::string& key, const std::string& fallback) {
  const std::string all = cfg.options ? cfg.options : "";
  size_t pos = 0;
  while (pos <= all.size()) {
    size_t end = all.find(',', pos);
    if (end == std::string::npos) end = all.size();
    const std::string item = all.substr(pos, end - pos);
    const size_t eq = item.find('=');
    if (eq != std::string::npos && item.substr(0, eq) == key) return item.substr(eq + 1);
    pos = end + 1;
  }
  return fallback;
}

inline std::int64_t option_int(const MixerConfig& cfg, const std::string& key, std::int64_t fallback) {
  const std::string v = option(cfg, key, "");
  return v.empty() ? fallback : std::strtoll(v.c_str(), nullptr, 10);
}

}  // namespace asiarch

#include <asiarch/ops.h>

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

#define ASIARCH_DECLARE_QUADRATIC()                                                  \
  extern "C" __attribute__((visibility("default"))) int                             \
  asiarch_plugin_declares_quadratic() {                                              \
    return 1;                                                                        \
  }

#define ASIARCH_CUDA_SOURCE(text)                                                    \
  extern "C" __attribute__((visibility("default"))) const char*                     \
  asiarch_plugin_cuda_source() {                                                     \
    return text;                                                                     \
  }
