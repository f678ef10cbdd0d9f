// Shared set-up for tests that compile plugins: one toolchain, compiler and
// JIT session per test process, with the cache in the build tree.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "jit/compiler.h"
#include "jit/cuda.h"
#include "jit/plugin_build.h"
#include "jit/session.h"

namespace asiarch::testing {

struct JitEnv {
  std::unique_ptr<jit::Compiler> compiler;
  std::shared_ptr<jit::JitSession> session;
  std::unique_ptr<jit::CudaCompiler> cuda;  // null without NVRTC
};

inline JitEnv& jit_env() {
  static JitEnv env = [] {
    JitEnv e;
    jit::ToolchainOptions opts;
    opts.cache_dir = ASIARCH_TEST_CACHE;
    auto tc = jit::Toolchain::create(opts);
    if (!tc) throw std::runtime_error(tc.error().message);
    e.compiler = std::make_unique<jit::Compiler>(*tc);
    auto s = jit::JitSession::create();
    if (!s) throw std::runtime_error(s.error().message);
    e.session = *s;
    if (auto c = jit::CudaCompiler::create(*tc)) e.cuda = std::move(*c);
    return e;
  }();
  return env;
}

// A comment that makes a source unique, so it misses the compile cache.
inline std::string unique_tag() {
  static std::atomic<int> n{0};
  return "// unique " + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "-" +
         std::to_string(n++) + "\n";
}

inline jit::PluginBuild build(const std::string& file, const std::string& text,
                              jit::BuildOptions opts = {}) {
  auto& env = jit_env();
  return jit::build_plugin(*env.compiler, *env.session, env.cuda.get(), file, text, opts);
}

// First diagnostic whose message contains `needle`, or nullptr.
inline const jit::Diagnostic* find_diag(const jit::Diagnostics& ds, const std::string& needle) {
  for (const auto& d : ds.items)
    if (d.message.find(needle) != std::string::npos) return &d;
  return nullptr;
}

}  // namespace asiarch::testing
