// One plugin from source to checked, callable entry: compile, link, check
// the ABI, and compile its CUDA kernels if it carries any.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <asiarch/abi.h>

#include "jit/compiler.h"
#include "jit/cuda.h"
#include "jit/diagnostics.h"
#include "jit/session.h"

namespace asiarch::jit {

struct PluginBuild {
  std::string file;
  Diagnostics diagnostics;
  bool cache_hit = false;
  std::string cache_key;                 // the compiled object's key in the object cache
  double compile_seconds = 0;
  double load_seconds = 0;
  std::shared_ptr<LoadedObject> code;    // null unless linked
  const MixerEntry* entry = nullptr;     // set only when everything passed
  std::optional<CudaBuild> cuda;         // when the plugin carries CUDA source
  bool declares_quadratic = false;       // ASIARCH_DECLARE_QUADRATIC()

  bool ok() const { return entry != nullptr && !diagnostics.has_errors(); }
};

struct BuildOptions {
  bool use_pch = true;
  bool use_cache = true;
  std::string cuda_arch = "sm_90";
};

// Reads `path` and builds it. Missing, empty or binary files fail with an
// io diagnostic naming the file.
PluginBuild build_plugin_file(Compiler& compiler, JitSession& session, CudaCompiler* cuda,
                              const std::string& path, const BuildOptions& options = {});
// Builds source text given under the name `file`.
PluginBuild build_plugin(Compiler& compiler, JitSession& session, CudaCompiler* cuda,
                         const std::string& file, const std::string& text,
                         const BuildOptions& options = {});

// Rejects source that is not C++ text: empty, NUL bytes, invalid UTF-8.
std::optional<Diagnostic> check_source_text(const std::string& file, const std::string& text);

}  // namespace asiarch::jit
