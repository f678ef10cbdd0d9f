// The fixed facts of one JIT toolchain: compiler paths and flags, the plugin
// API headers it ships, its fingerprint, and where its caches live.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch::jit {

struct ToolchainOptions {
  std::filesystem::path cache_dir;  // empty: default_cache_dir()
  int opt_level = 1;                // -O level for plugin code
  // The PCH declares LibTorch's module templates extern (<asiarch/torch_templates.h>); false
  // only to measure what that saves (bench/compile_latency).
  bool extern_templates = true;
  int max_diagnostics = 100;        // errors/warnings kept per compile; the rest are counted
  // Where compiled objects and CUDA binaries are cached; empty: under the
  // cache root. A sandboxed worker points this into its scratch directory so
  // that it reads the shared PCH but writes nothing outside its own folder.
  std::filesystem::path output_dir;
};

// $ASIARCH_CACHE_DIR, else $XDG_CACHE_HOME/asiarch, else ~/.cache/asiarch.
std::filesystem::path default_cache_dir();

class Toolchain {
 public:
  static Result<Toolchain> create(ToolchainOptions options);

  const ToolchainOptions& options() const { return options_; }
  // What a plugin must have been compiled with, e.g.
  // "clang 16.0.6; torch 1.13.0; cxx11abi 1; headers 1a2b3c4d5e6f7a8b".
  const std::string& fingerprint() const { return fingerprint_; }
  // Everything below root() belongs to this fingerprint.
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path include_dir() const { return root_ / "include"; }
  std::filesystem::path pch_path() const { return root_ / "pch" / "plugin.pch"; }
  std::filesystem::path pch_header() const { return root_ / "pch" / "plugin_pch.h"; }
  std::filesystem::path object_dir() const { return output_root() / "objects"; }
  // The shared objects below root(): where the host files objects its workers
  // compiled, so a worker with its own output_dir still finds them (read-only).
  std::filesystem::path shared_object_dir() const { return root_ / "objects"; }
  std::filesystem::path cuda_dir() const { return output_root() / "cuda"; }
  const std::string& clang_path() const { return clang_path_; }

  // Driver arguments shared by every plugin compile and by the PCH build
  // (they must agree, or clang rejects the PCH). No input, output or mode.
  const std::vector<std::string>& common_args() const { return common_args_; }

 private:
  std::filesystem::path output_root() const { return options_.output_dir.empty() ? root_ : options_.output_dir; }
  ToolchainOptions options_;
  std::string fingerprint_;
  std::filesystem::path root_;
  std::string clang_path_;
  std::vector<std::string> common_args_;
};

// The Clang plugins are compiled with ("16.0.6").
std::string clang_version();

// What a compile reads besides the cache: LibTorch's include folders and Clang's resource folder.
// A sandboxed worker is given them to read (wherever LibTorch and LLVM were installed).
std::vector<std::string> toolchain_read_paths();

}  // namespace asiarch::jit
