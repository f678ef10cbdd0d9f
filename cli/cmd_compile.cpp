// `asiarch compile FILE... [--json]`: compile plugins (.cpp) and CUDA sources
// (.cu), print diagnostics, and run each mixer once through the ABI.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <asiarch/plugin.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "worker/jit_context.h"
#include "jit/cuda.h"
#include "jit/mixer.h"
#include "jit/plugin_build.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

struct CompileArgs {
  std::vector<std::string> files;
  bool json = false;
  bool no_pch = false;
  bool no_cache = false;
  std::string cuda_arch = "sm_90";
  std::string cache_dir;
};

struct ProbeResult {
  std::vector<int64_t> input_shape, output_shape;
  int64_t parameters = 0;
};

// Runs the mixer once on a small random input; errors become diagnostics.
std::optional<ProbeResult> probe(const jit::PluginBuild& b, jit::Diagnostics& diags) {
  MixerConfig cfg;
  cfg.d_model = 64;
  cfg.num_heads = 4;
  cfg.num_layers = 2;
  try {
    torch::manual_seed(0);
    auto mixer = jit::instantiate(b, cfg);
    auto x = torch::randn({2, 16, cfg.d_model});
    auto y = mixer->forward(x);
    ProbeResult r;
    r.input_shape = x.sizes().vec();
    r.output_shape = y.sizes().vec();
    for (const auto& p : mixer->parameters()) r.parameters += p.numel();
    if (r.output_shape != r.input_shape)
      diags.add(jit::make_diagnostic(jit::Stage::runtime, jit::Severity::error, b.file,
                                     "forward returned shape " + c10::str(y.sizes()) + " for input " +
                                         c10::str(x.sizes()) + "; a mixer must preserve [B, L, d_model]"));
    return r;
  } catch (const std::exception& e) {
    diags.add(jit::make_diagnostic(jit::Stage::runtime, jit::Severity::error, b.file,
                                   std::string("plugin threw: ") + e.what()));
    return std::nullopt;
  }
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int run_compile(const CompileArgs& args) {
  auto jit = make_jit_context(args.cache_dir);
  if (!jit) {
    std::cerr << "asiarch: " << jit.error().message << "\n";
    return 1;
  }
  jit::CudaCompiler* cuda = jit->cuda.get();
  jit::BuildOptions bopts{!args.no_pch, !args.no_cache, args.cuda_arch};

  nlohmann::json report = nlohmann::json::array();
  bool all_ok = true;
  for (const std::string& file : args.files) {
    nlohmann::json item = {{"file", file}};
    jit::Diagnostics diags;
    bool ok = false;
    std::string summary;
    if (std::filesystem::path(file).extension() == ".cu") {
      auto text = read_file(file);
      if (!text) {
        diags.add(jit::make_diagnostic(jit::Stage::io, jit::Severity::error, file, text.error().message));
      } else if (!cuda) {
        diags.add(jit::make_diagnostic(jit::Stage::cuda, jit::Severity::error, file,
                                       jit->cuda_unavailable));
      } else if (auto bad = jit::check_source_text(file, *text)) {
        diags.add(*bad);
      } else {
        auto cb = cuda->compile({file, *text, args.cuda_arch});
        diags = cb.diagnostics;
        ok = cb.ok();
        item["kind"] = "cuda";
        item["arch"] = args.cuda_arch;
        item["ptx_bytes"] = cb.ptx.size();
        item["cubin_bytes"] = cb.cubin.size();
        item["cache_hit"] = cb.cache_hit;
        item["seconds"] = cb.seconds;
        item["load_status"] = cb.load_status;
        char buf[256];
        if (!ok)
          std::snprintf(buf, sizeof buf, "%s: compilation failed for %s", cuda->version().c_str(),
                        args.cuda_arch.c_str());
        else
        std::snprintf(buf, sizeof buf, "%s: PTX %zu bytes, CUBIN %zu bytes (%s) in %.2f s%s; %s",
                      cuda->version().c_str(), cb.ptx.size(), cb.cubin.size(), args.cuda_arch.c_str(),
                      cb.seconds, cb.cache_hit ? " (cache hit)" : "", cb.load_status.c_str());
        summary = buf;
      }
    } else {
      auto b = jit->build_file(file, bopts);
      diags = b.diagnostics;
      item["kind"] = "plugin";
      item["cache_hit"] = b.cache_hit;
      item["compile_seconds"] = b.compile_seconds;
      item["link_seconds"] = b.load_seconds;
      if (b.ok()) {
        item["mixer"] = b.entry->name;
        item["class"] = b.entry->class_name;
        if (b.cuda) item["cuda_load_status"] = b.cuda->load_status;
        if (auto r = probe(b, diags)) {
          item["input_shape"] = r->input_shape;
          item["output_shape"] = r->output_shape;
          item["parameters"] = r->parameters;
          char buf[512];
          std::snprintf(buf, sizeof buf,
                        "mixer \"%s\" (%s): compiled in %.2f s%s, linked in %.3f s; forward %s -> %s; "
                        "%lld parameters",
                        b.entry->name, b.entry->class_name, b.compile_seconds,
                        b.cache_hit ? " (cache hit)" : "", b.load_seconds, shape_str(r->input_shape).c_str(),
                        shape_str(r->output_shape).c_str(), static_cast<long long>(r->parameters));
          summary = buf;
          if (b.cuda) summary += "; CUDA kernels: " + b.cuda->load_status;
        }
        ok = !diags.has_errors();
      }
    }
    item["ok"] = ok;
    item["diagnostics"] = diags;
    all_ok = all_ok && ok;
    if (args.json) {
      report.push_back(item);
    } else {
      std::cout << file << ": " << (ok ? "ok" : "FAILED") << (summary.empty() ? "" : "  " + summary) << "\n";
      std::string text = jit::to_text(diags);
      if (!text.empty()) std::cout << text;
    }
  }
  if (args.json) std::cout << report.dump(2) << "\n";
  return all_ok ? 0 : 1;
}

}  // namespace

void add_compile_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<CompileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "compile",
      "Compile mixer plugins (.cpp) and CUDA sources (.cu); print diagnostics; run each mixer once on a\n"
      "[2, 16, 64] random input and report its output shape and parameter count. Exit 0 if all succeed.");
  cmd->add_option("files", args->files, "plugin .cpp or CUDA .cu files")->required();
  cmd->add_flag("--json", args->json, "print a JSON report instead of text");
  cmd->add_flag("--no-pch", args->no_pch, "compile without the precompiled header");
  cmd->add_flag("--no-cache", args->no_cache, "ignore and do not fill the compile cache");
  cmd->add_option("--cuda-arch", args->cuda_arch, "CUDA architecture for NVRTC")->capture_default_str();
  cmd->add_option("--cache-dir", args->cache_dir, "cache directory (default: $ASIARCH_CACHE_DIR or ~/.cache/asiarch)");
  cmd->callback([args, &exit_code] { exit_code = run_compile(*args); });
}

}  // namespace asiarch::host
