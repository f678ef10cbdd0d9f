#include "jit/toolchain.h"

#include <cstdlib>

#include <clang/Basic/Version.h>
#include <llvm/TargetParser/Host.h>
#include <torch/version.h>

#include "jit/detail/embedded_headers.h"
#include "util/files.h"
#include "util/hash.h"

#ifndef ASIARCH_CLANG_PATH
#error "the build must define ASIARCH_CLANG_PATH"
#endif

namespace asiarch::jit {

#define ASIARCH_STR_(x) #x
#define ASIARCH_STR(x) ASIARCH_STR_(x)

std::filesystem::path default_cache_dir() {
  if (const char* d = std::getenv("ASIARCH_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d)
    return std::filesystem::path(d) / "asiarch";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".cache" / "asiarch";
  return std::filesystem::temp_directory_path() / "asiarch-cache";
}

std::string clang_version() { return CLANG_VERSION_STRING; }

std::vector<std::string> toolchain_read_paths() {
  std::vector<std::string> out(detail::torch_include_dirs().begin(), detail::torch_include_dirs().end());
  out.push_back(ASIARCH_CLANG_RESOURCE_DIR);
  return out;
}

Result<Toolchain> Toolchain::create(ToolchainOptions options) {
  if (options.cache_dir.empty()) options.cache_dir = default_cache_dir();
  if (options.opt_level < 0 || options.opt_level > 3)
    return make_error("opt_level must be 0..3, got " + std::to_string(options.opt_level));
  Toolchain t;

  std::string all_headers;
  for (const detail::EmbeddedHeader& h : detail::embedded_headers())
    all_headers += std::string(h.path) + '\0' + std::string(h.text) + '\0';
  const std::string header_hash = sha256_hex(all_headers).substr(0, 16);
  // Must spell exactly what ASIARCH_FINGERPRINT in <asiarch/plugin.h> spells.
  t.fingerprint_ = std::string("clang ") + CLANG_VERSION_STRING + "; torch " + TORCH_VERSION +
                   "; cxx11abi " + ASIARCH_STR(_GLIBCXX_USE_CXX11_ABI) + "; headers " + header_hash;
  const std::string host_cpu = llvm::sys::getHostCPUName().str();
  t.root_ = options.cache_dir /
            sha256_hex(t.fingerprint_ + "|" + host_cpu + "|O" + std::to_string(options.opt_level) +
                       (options.extern_templates ? "" : "|no-extern-templates"))
                .substr(0, 16);
  t.clang_path_ = ASIARCH_CLANG_PATH;

  // Rewrite only what changed: the PCH is stale once any of these is newer.
  auto put = [](const std::filesystem::path& path, std::string_view text) -> Status {
    auto existing = read_file(path);
    if (existing && *existing == text) return Ok{};
    return write_file_atomic(path, text);
  };
  for (const detail::EmbeddedHeader& h : detail::embedded_headers())
    if (auto st = put(t.include_dir() / h.path, h.text); !st) return st.error();
  // The torch templates every plugin would instantiate again are declared extern here, once
  // (<asiarch/torch_templates.h>); a compile without the PCH instantiates them itself.
  if (auto st = put(t.pch_header(),
                    options.extern_templates
                        ? "#include <asiarch/plugin.h>\n#include <asiarch/torch_templates.h>\n"
                          "#define ASIARCH_EXTERN_TEMPLATE_(...) extern template class __VA_ARGS__;\n"
                          "ASIARCH_TORCH_TEMPLATES(ASIARCH_EXTERN_TEMPLATE_)\n"
                        : "#include <asiarch/plugin.h>\n");
      !st)
    return st.error();

  auto& a = t.common_args_;
  a = {"-std=c++" ASIARCH_STR(ASIARCH_CXX_STANDARD), "-O" + std::to_string(options.opt_level), "-fPIC", "-fno-color-diagnostics",
       "-ferror-limit=0", "-Wall", "-fno-omit-frame-pointer",
       "-D_GLIBCXX_USE_CXX11_ABI=" ASIARCH_STR(_GLIBCXX_USE_CXX11_ABI), "-DNDEBUG",
       "-DASIARCH_HEADER_HASH=\"" + header_hash + "\"", "-resource-dir", ASIARCH_CLANG_RESOURCE_DIR};
  for (const char* dir : detail::torch_include_dirs()) {
    if (std::string_view(dir) == "/usr/include") continue;  // a system dir already; -isystem would reorder it
    a.push_back("-isystem");
    a.push_back(dir);
  }
  a.push_back("-I" + t.include_dir().string());
  t.options_ = std::move(options);
  return t;
}

}  // namespace asiarch::jit
