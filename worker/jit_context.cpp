#include "worker/jit_context.h"

#include "jit/kernel_symbols.h"

namespace asiarch::host {

Result<JitContext> make_jit_context(const std::string& cache_dir) {
  jit::ToolchainOptions opts;
  opts.cache_dir = cache_dir;
  return make_jit_context(opts);
}

Result<JitContext> make_jit_context(const jit::ToolchainOptions& opts) {
  auto tc = jit::Toolchain::create(opts);
  if (!tc) return tc.error();
  JitContext ctx;
  ctx.compiler = std::make_unique<jit::Compiler>(*tc);
  auto session = jit::JitSession::create(jit::kernel_symbols());
  if (!session) return session.error();
  ctx.session = *session;
  if (auto cuda = jit::CudaCompiler::create(*tc))
    ctx.cuda = std::move(*cuda);
  else
    ctx.cuda_unavailable = cuda.error().message;
  return ctx;
}

std::string default_baselines_dir() {
  if (const char* d = std::getenv("ASIARCH_BASELINES_DIR"); d && *d) return d;
  return ASIARCH_SOURCE_DIR "/plugins/baselines";
}

}  // namespace asiarch::host
