// The binary contract between the asiarch host and a mixer plugin.
//
// This header is torch-free so that host code which only loads plugins need
// not pay for LibTorch headers. Everything here is plain data and C function
// pointers: a plugin compiled against one version of this header must be
// refused by a host built against another, which is what kAbiVersion and the
// fingerprint are for. Change either struct and bump ASIARCH_ABI_VERSION.
#pragma once

#include <cstddef>
#include <cstdint>

// 2: TokenMixer::add_aux_loss (the class's layout changed); chunkwise_scan, causal_chunk_mask and
//    LongCausalConv in <asiarch/ops.h>. Plugin sources written for 1 compile unchanged.
#define ASIARCH_ABI_VERSION 2

// Every mixer a plugin registers becomes one extern "C" function whose name
// starts with this prefix; the host finds them in the object's symbol table.
#define ASIARCH_ENTRY_PREFIX "asiarch_mixer_entry_"
// A plugin that carries CUDA kernel source defines this extern "C" function.
#define ASIARCH_CUDA_SOURCE_SYMBOL "asiarch_plugin_cuda_source"
// A plugin that is quadratic in sequence length on purpose (the softmax
// reference) defines this; every other mixer must measure sub-quadratic.
#define ASIARCH_QUADRATIC_SYMBOL "asiarch_plugin_declares_quadratic"

namespace asiarch {

inline constexpr std::uint32_t kAbiVersion = ASIARCH_ABI_VERSION;

// Kernels the host compiled with NVRTC from the plugin's CUDA source and
// loaded through the driver API. Absent (nullptr in MixerConfig) when there is
// no CUDA source, no driver or no GPU: the plugin must then use its LibTorch
// code path.
struct CudaKernelTable {
  void* context;
  // Launches `kernel` (its extern "C" name). Returns nullptr on success or a
  // message owned by the host, valid until the next call.
  const char* (*launch)(void* context, const char* kernel, const unsigned grid[3],
                        const unsigned block[3], unsigned shared_bytes, void* stream,
                        void** args);
};

struct MixerConfig {
  std::int64_t d_model = 64;
  std::int64_t num_heads = 4;
  std::int64_t layer_index = 0;
  std::int64_t num_layers = 1;
  std::uint64_t seed = 0;
  const CudaKernelTable* cuda = nullptr;
  // Plugin-specific settings, "key=value,key=value" (e.g. "form=recurrent,chunk=32").
  // Read with asiarch::option(); never nullptr.
  const char* options = "";
};

class TokenMixer;  // defined in <asiarch/plugin.h>; opaque to the host loader

// What ASIARCH_REGISTER_MIXER emits, one per registered mixer.
struct MixerEntry {
  std::uint32_t abi_version;
  const char* fingerprint;  // toolchain + LibTorch + header fingerprint
  const char* name;         // registered name, e.g. "delta_net"
  const char* class_name;   // C++ class, for messages
  // Constructs the mixer. Throws what the constructor throws.
  TokenMixer* (*create)(const MixerConfig& config);
  // Destroys an object made by create (runs the plugin's destructor).
  void (*destroy)(TokenMixer* mixer);
};

using MixerEntryFn = const MixerEntry* (*)();
using CudaSourceFn = const char* (*)();

}  // namespace asiarch
