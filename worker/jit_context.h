// The JIT pieces a command needs, made once per process.
#pragma once

#include <memory>
#include <string>

#include "jit/compiler.h"
#include "jit/cuda.h"
#include "jit/plugin_build.h"
#include "jit/session.h"

namespace asiarch::host {

struct JitContext {
  std::unique_ptr<jit::Compiler> compiler;
  std::shared_ptr<jit::JitSession> session;
  std::unique_ptr<jit::CudaCompiler> cuda;  // null without NVRTC
  std::string cuda_unavailable;             // why cuda is null

  jit::PluginBuild build_file(const std::string& path, const jit::BuildOptions& options = {}) {
    return jit::build_plugin_file(*compiler, *session, cuda.get(), path, options);
  }
  jit::PluginBuild build_text(const std::string& name, const std::string& text, const jit::BuildOptions& options = {}) {
    return jit::build_plugin(*compiler, *session, cuda.get(), name, text, options);
  }
};

// cache_dir empty: the default ($ASIARCH_CACHE_DIR or ~/.cache/asiarch).
Result<JitContext> make_jit_context(const std::string& cache_dir);
Result<JitContext> make_jit_context(const jit::ToolchainOptions& options);

// Where the hand-written baseline plugins are (the source tree's plugins/baselines).
std::string default_baselines_dir();

}  // namespace asiarch::host
