#include "jit/plugin_build.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "util/files.h"

namespace asiarch::jit {
namespace {

bool valid_utf8(const std::string& s, size_t* bad_offset) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) { *bad_offset = i; return false; }
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) { *bad_offset = i; return false; }
    i += n;
  }
  return true;
}

int line_of(const std::string& s, size_t offset) {
  return 1 + static_cast<int>(std::count(s.begin(), s.begin() + static_cast<long>(offset), '\n'));
}

Diagnostic abi_error(const std::string& file, std::string message) {
  return make_diagnostic(Stage::abi, Severity::error, file, std::move(message));
}

}  // namespace

std::optional<Diagnostic> check_source_text(const std::string& file, const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    return make_diagnostic(Stage::io, Severity::error, file,
                           "file is empty: a plugin must define a mixer and register it with "
                           "ASIARCH_REGISTER_MIXER(Class, \"name\")");
  if (auto nul = text.find('\0'); nul != std::string::npos) {
    Diagnostic d = make_diagnostic(Stage::io, Severity::error, file,
                                   "file contains NUL bytes at offset " + std::to_string(nul) +
                                       ": it looks binary, not C++ source");
    d.line = line_of(text, nul);
    return d;
  }
  size_t bad = 0;
  if (!valid_utf8(text, &bad)) {
    Diagnostic d = make_diagnostic(Stage::io, Severity::error, file,
                                   "file is not valid UTF-8 (first bad byte at offset " +
                                       std::to_string(bad) + "): it looks binary, not C++ source");
    d.line = line_of(text, bad);
    return d;
  }
  return std::nullopt;
}

PluginBuild build_plugin_file(Compiler& compiler, JitSession& session, CudaCompiler* cuda,
                              const std::string& path, const BuildOptions& options) {
  auto text = read_file(path);
  if (!text) {
    PluginBuild b;
    b.file = path;
    b.diagnostics.add(make_diagnostic(Stage::io, Severity::error, path, text.error().message));
    return b;
  }
  return build_plugin(compiler, session, cuda, path, *text, options);
}

PluginBuild build_plugin(Compiler& compiler, JitSession& session, CudaCompiler* cuda,
                         const std::string& file, const std::string& text,
                         const BuildOptions& options) {
  PluginBuild b;
  b.file = file;
  if (auto bad = check_source_text(file, text)) {
    b.diagnostics.add(std::move(*bad));
    return b;
  }
  CompileResult cr = compiler.compile({file, text, options.use_pch, options.use_cache});
  b.diagnostics = std::move(cr.diagnostics);
  b.cache_hit = cr.cache_hit;
  b.cache_key = cr.cache_key;
  b.compile_seconds = cr.seconds;
  if (!cr.object) return b;

  const auto& entries = cr.object->entry_symbols;
  if (entries.empty()) {
    b.diagnostics.add(abi_error(file, "registers no mixer: add ASIARCH_REGISTER_MIXER(Class, \"name\") "
                                      "after the class"));
    return b;
  }
  if (entries.size() > 1) {
    std::string names;
    for (const auto& e : entries) names += (names.empty() ? "" : ", ") + e.substr(sizeof(ASIARCH_ENTRY_PREFIX) - 1);
    b.diagnostics.add(abi_error(file, "registers " + std::to_string(entries.size()) + " mixers (" + names +
                                          "); a plugin must register exactly one"));
    return b;
  }

  const auto load_start = std::chrono::steady_clock::now();
  const size_t before_load = b.diagnostics.items.size();
  // A plugin that refers to a torch template the PCH declares extern (Conv1d's typeinfo, a
  // module's reset_parameters) links against the support object: added when the cache has it
  // (its code is linked only when a plugin refers to it), else made the first time one needs it.
  if (options.use_pch && !session.has_support())
    if (auto cached = compiler.support_object(false); cached.object) (void)session.add_support(*cached.object);
  b.code = session.load(*cr.object, file, text, b.diagnostics);
  if (!b.code && options.use_pch && !session.has_support()) {
    auto support = compiler.support_object();
    if (support.object && session.add_support(*support.object).ok()) {
      b.diagnostics.items.resize(before_load);
      b.code = session.load(*cr.object, file, text, b.diagnostics);
    }
  }
  b.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  if (!b.code) return b;

  auto fn = reinterpret_cast<MixerEntryFn>(b.code->lookup(entries.front()));
  const MixerEntry* entry = fn ? fn() : nullptr;
  if (!entry) {
    b.diagnostics.add(abi_error(file, "entry point " + entries.front() + " returned no mixer entry"));
    return b;
  }
  if (entry->abi_version != kAbiVersion) {
    b.diagnostics.add(abi_error(file, "ABI version mismatch: plugin has version " +
                                          std::to_string(entry->abi_version) + ", host expects " +
                                          std::to_string(kAbiVersion) +
                                          "; rebuild the plugin against this host's <asiarch/plugin.h>"));
    return b;
  }
  const std::string fingerprint = entry->fingerprint ? entry->fingerprint : "";
  if (fingerprint != compiler.toolchain().fingerprint()) {
    b.diagnostics.add(abi_error(file, "toolchain fingerprint mismatch: plugin was built with \"" +
                                          fingerprint + "\", host expects \"" +
                                          compiler.toolchain().fingerprint() + "\""));
    return b;
  }
  if (!entry->name || !*entry->name || !entry->create || !entry->destroy) {
    b.diagnostics.add(abi_error(file, "mixer entry is incomplete (name, create and destroy are required)"));
    return b;
  }

  // CUDA kernels: from the plugin itself, else from a sibling .cu file.
  std::string cuda_file, cuda_text;
  if (cr.object->has_cuda_source) {
    if (auto src = reinterpret_cast<CudaSourceFn>(b.code->lookup(ASIARCH_CUDA_SOURCE_SYMBOL)); src && src()) {
      cuda_file = file + ":cuda";
      cuda_text = src();
    }
  } else if (auto sibling = std::filesystem::path(file).replace_extension(".cu");
             std::filesystem::exists(sibling)) {
    cuda_file = sibling.string();
    if (auto t = read_file(sibling)) cuda_text = *t;
  }
  if (!cuda_file.empty()) {
    if (!cuda) {
      b.diagnostics.add(make_diagnostic(Stage::cuda, Severity::warning, cuda_file,
                                        "plugin carries CUDA source but this host was built without "
                                        "NVRTC; the LibTorch path is used"));
    } else {
      b.cuda = cuda->compile({cuda_file, cuda_text, options.cuda_arch});
      b.diagnostics.append(b.cuda->diagnostics);
      if (b.cuda->diagnostics.has_errors()) return b;
    }
  }
  b.declares_quadratic = cr.object->declares_quadratic;
  b.entry = entry;
  return b;
}

}  // namespace asiarch::jit
