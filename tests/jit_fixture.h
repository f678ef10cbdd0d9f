// Shared set-up for tests that compile plugins: one toolchain, compiler and
// JIT session per test process, with the cache in the build tree.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "worker/jit_context.h"

namespace asiarch::testing {

using JitEnv = host::JitContext;

inline JitEnv& jit_env() {
  static JitEnv env = [] {
    auto ctx = host::make_jit_context(ASIARCH_TEST_CACHE);
    if (!ctx) throw std::runtime_error(ctx.error().message);
    return std::move(ctx).value();
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
