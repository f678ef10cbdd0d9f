// `asiarch eval FILE [--preset P] [--tasks a,b] [--json]`: compile, gate,
// train and test one mixer plugin, in a sandboxed worker.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "worker/lab_setup.h"
#include "worker/worker_job.h"
#include "util/files.h"

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
  double timeout = 24 * 3600;
  double gate_timeout = StageLimits{}.gates_seconds;
  double training_factor = StageLimits{}.training_factor;
  bool json = false;
  bool quiet = false;
};

int run_eval(const EvalArgs& a) {
  auto preset = load_preset_arg(a.preset, a.presets_file);
  if (!preset) {
    std::cerr << "asiarch eval: " << preset.error().message << "\n";
    return 2;
  }
  if (auto t = lab::select_tasks(*preset, a.tasks); !t) {
    std::cerr << "asiarch eval: " << t.error().message << "\n";
    return 2;
  }
  if (test_only(*preset) && !a.json && !a.quiet) std::cerr << "asiarch eval: preset " << a.preset << ": " << preset->description << "\n";
  auto source = read_file(a.file);
  if (!source) {
    std::cerr << "asiarch eval: " << source.error().message << "\n";
    return 1;
  }
  WorkerJob job = plugin_eval_job(a.preset, a.presets_file, a.tasks, a.cache_dir, a.workdir);
  job.name = a.file;
  job.seed = a.seed;
  job.mixer_options = a.options;
  WorkerSettings settings;
  settings.limits.wall_seconds = a.timeout;
  settings.stage_limits.gates_seconds = a.gate_timeout;
  settings.stage_limits.training_factor = a.training_factor;
  const auto scratch = std::filesystem::absolute(a.workdir) / "scratch" / ("eval-" + std::to_string(::getpid()));
  auto prepared = prepare_cache(job, scratch / "prepare", settings);
  if (!prepared) {
    std::cerr << "asiarch eval: " << prepared.error().message << "\n";
    return 2;
  }
  job.reference_parameters = prepared->reference_parameters;
  std::function<void(const Progress&)> progress;
  if (!a.quiet && !a.json)
    progress = [](const Progress& p) {
      if (p.kind != ProgressKind::training_progress && p.kind != ProgressKind::compiled)
        std::cerr << "  " << escape_control(lab::describe_progress(to_message(p)), false) << "\n";
    };
  auto out = run_job(job, *source, scratch / "candidate", settings, progress);
  if (!out) {
    std::cerr << "asiarch eval: " << out.error().message << "\n";
    return 1;
  }
  const WorkerResult& r = out->result;
  int code = 0;
  if (!out->failure.empty()) {
    std::cerr << "asiarch eval: " << escape_control(a.file) << ": " << escape_control(out->failure) << "\n"
              << "worker output:\n" << escape_control(out->log_tail) << "\n";
    return 1;
  }
  if (!r.built()) {
    const jit::Diagnostics diags = r.compile ? r.compile->diagnostics : jit::Diagnostics{};
    if (a.json)
      std::cout << nlohmann::json{{"file", a.file}, {"ok", false}, {"diagnostics", diags}}.dump(2) << "\n";
    else
      std::cout << a.file << ": build failed\n" << escape_control(jit::to_text(diags));
    code = 1;
  } else if (!r.error.empty() || !r.report) {
    std::cerr << "asiarch eval: " << escape_control(r.error) << "\n";
    code = 2;
  } else {
    // A probe the trained model failed makes the evaluation unsound, whatever its gates said.
    const std::string probe_failure = lab::trained_probe_failure(*r.report);
    const bool ok = r.report->gates_passed && probe_failure.empty();
    if (a.json)
      std::cout << nlohmann::json{{"file", a.file},
                                  {"ok", ok},
                                  {"probe_failure", probe_failure},
                                  {"report", *r.report},
                                  {"trusted_seconds", out->trusted_seconds}}
                       .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    else
      std::cout << escape_control(lab::format_report(*r.report));
    code = ok ? 0 : 1;
  }
  std::error_code ec;
  std::filesystem::remove_all(scratch, ec);
  return code;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Compile a mixer plugin, run the sanity gates (shape, finiteness, causality, batch independence,\n"
      "complexity, parameter budget), then train and test it on the preset's tasks, all in a sandboxed\n"
      "worker process. Prints the gate results and, per task, the metric, steps, tokens/s and wall time.\n"
      "Exit 0 when the gates pass.");
  cmd->add_option("file", a->file, "mixer plugin (.cpp)")->required();
  cmd->add_option("--preset", a->preset, "smoke | explore | verify (from lab/presets.json)")->capture_default_str();
  cmd->add_option("--presets", a->presets_file, "a presets JSON file to use instead of the built-in one");
  cmd->add_option("--tasks", a->tasks, "comma-separated task names (default: all of the preset's)")->delimiter(',');
  cmd->add_option("--workdir", a->workdir, "where the baseline table lives (for the quality monitor) and scratch space")
      ->capture_default_str();
  cmd->add_option("--cache-dir", a->cache_dir, "compile and corpus cache directory");
  cmd->add_option("--options", a->options, "mixer options, \"key=value,key=value\"");
  cmd->add_option("--seed", a->seed, "seed for data, initialisation and batching")->capture_default_str();
  cmd->add_option("--timeout", a->timeout, "wall-clock limit for the worker, seconds")->capture_default_str();
  cmd->add_option("--gate-timeout", a->gate_timeout, "time limit of the sanity gates, seconds")->capture_default_str();
  cmd->add_option("--training-factor", a->training_factor,
                  "a task's training may take this many times the reference's time on it, plus 60 s "
                  "(where the baseline table has the reference)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print a JSON report");
  cmd->add_flag("--quiet", a->quiet, "no progress lines");
  cmd->callback([a, &exit_code] { exit_code = run_eval(*a); });
}

}  // namespace asiarch::host
