// In-process Clang: plugin source -> object code, with structured diagnostics,
// a shared precompiled header and a persistent object cache.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jit/diagnostics.h"
#include "jit/toolchain.h"

namespace asiarch::jit {

// Object code for one plugin, ready for JitSession::load.
struct ObjectCode {
  std::string bytes;                       // ELF relocatable object
  std::vector<std::string> entry_symbols;  // defined symbols with ASIARCH_ENTRY_PREFIX
  bool has_cuda_source = false;            // defines ASIARCH_CUDA_SOURCE_SYMBOL
  bool declares_quadratic = false;         // defines ASIARCH_QUADRATIC_SYMBOL
};

struct CompileRequest {
  std::string file;  // name used in diagnostics (need not exist on disk)
  std::string text;  // the source
  bool use_pch = true;
  bool use_cache = true;
};

struct CompileResult {
  Diagnostics diagnostics;
  std::optional<ObjectCode> object;  // set when compilation succeeded
  bool cache_hit = false;
  double seconds = 0;
  std::string cache_key;
};

// Files an object another process sent as bytes (its metadata as the cache's
// JSON) under `to_dir`, after the same checks.
Status store_object(const std::filesystem::path& to_dir, const std::string& key, const std::string& meta_json,
                    std::string object);

// The object cache's key for `text` compiled as `file` with this toolchain.
std::string object_cache_key(const Toolchain& toolchain, const std::string& file, const std::string& text);
// The diagnostics (warnings) recorded with a complete cached object under `dir`, if there is one.
std::optional<Diagnostics> cached_object_diagnostics(const std::filesystem::path& dir, const std::string& key);

class Compiler {
 public:
  explicit Compiler(Toolchain toolchain);

  CompileResult compile(const CompileRequest& request);
  // Builds the PCH if it is missing or stale. compile() calls this as needed.
  Status ensure_pch();
  // The object that defines the torch templates the PCH declares extern
  // (<asiarch/torch_templates.h>), compiled once and cached like a plugin (the
  // prepare job files it in the shared cache). A plugin that refers to one of them
  // links against it (JitSession::add_support). `compile` false: the cache only.
  CompileResult support_object(bool compile = true);

  const Toolchain& toolchain() const { return toolchain_; }

 private:
  Toolchain toolchain_;
};

}  // namespace asiarch::jit
