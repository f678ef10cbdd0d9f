// `asiarch eval FILE [--preset P] [--tasks a,b] [--json]`: compile, gate,
// train and test one mixer plugin.
#include <CLI/CLI.hpp>

#include <iostream>

#include "host/commands.h"
#include "host/lab_setup.h"

namespace asiarch::host {
namespace {

struct EvalArgs {
  std::string file;
  std::string preset = "explore";
  std::string presets_file;
  std::vector<std::string> tasks;
  std::string workdir = "asiarch-work";
  std::string cache_dir;
  std::string options;
  std::uint64_t seed = 0;
  bool json = false;
  bool quiet = false;
};

int run_eval(const EvalArgs& a) {
  auto preset = load_preset_arg(a.preset, a.presets_file);
  if (!preset) {
    std::cerr << "asiarch eval: " << preset.error().message << "\n";
    return 2;
  }
  auto jit = make_jit_context(a.cache_dir);
  if (!jit) {
    std::cerr << "asiarch eval: " << jit.error().message << "\n";
    return 1;
  }
  PluginEvalRequest req;
  req.file = a.file;
  req.preset = *preset;
  req.options.tasks = a.tasks;
  req.options.seed = a.seed;
  req.options.mixer_options = a.options;
  if (!a.quiet && !a.json) req.options.progress = [](const std::string& s) { std::cerr << "  " << s << "\n"; };
  req.cache_dir = a.cache_dir;
  req.workdir = a.workdir;
  auto out = evaluate_plugin_file(*jit, req);
  if (!out.build.ok()) {
    if (a.json)
      std::cout << nlohmann::json{{"file", a.file}, {"ok", false}, {"diagnostics", out.build.diagnostics}}.dump(2) << "\n";
    else
      std::cout << a.file << ": build failed\n" << jit::to_text(out.build.diagnostics);
    return 1;
  }
  if (!out.error.empty()) {
    std::cerr << "asiarch eval: " << out.error << "\n";
    return 2;
  }
  if (a.json)
    std::cout << nlohmann::json{{"file", a.file}, {"ok", out.report->gates_passed}, {"report", *out.report}}.dump(2)
              << "\n";
  else
    std::cout << lab::format_report(*out.report);
  return out.report->gates_passed ? 0 : 1;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Compile a mixer plugin, run the sanity gates (shape, finiteness, causality, batch independence,\n"
      "complexity, parameter budget), then train and test it on the preset's tasks. Prints the gate\n"
      "results and, per task, the metric, steps, tokens/s and wall time. Exit 0 when the gates pass.");
  cmd->add_option("file", a->file, "mixer plugin (.cpp)")->required();
  cmd->add_option("--preset", a->preset, "smoke | explore | verify (from lab/presets.json)")->capture_default_str();
  cmd->add_option("--presets", a->presets_file, "a presets JSON file to use instead of the built-in one");
  cmd->add_option("--tasks", a->tasks, "comma-separated task names (default: all of the preset's)")->delimiter(',');
  cmd->add_option("--workdir", a->workdir, "where the baseline table lives (for the quality monitor)")
      ->capture_default_str();
  cmd->add_option("--cache-dir", a->cache_dir, "compile and corpus cache directory");
  cmd->add_option("--options", a->options, "mixer options, \"key=value,key=value\"");
  cmd->add_option("--seed", a->seed, "seed for data, initialisation and batching")->capture_default_str();
  cmd->add_flag("--json", a->json, "print a JSON report");
  cmd->add_flag("--quiet", a->quiet, "no progress lines");
  cmd->callback([a, &exit_code] { exit_code = run_eval(*a); });
}

}  // namespace asiarch::host
