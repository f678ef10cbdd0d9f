// `asiarch run [--workdir DIR] [--budget N] [--preset P] [--workers W] [--seed S]`:
// the discovery loop, resumable.
#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>

#include "host/commands.h"
#include "host/discovery.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

// SIGINT/SIGTERM cancel the run. A signal handler reaches only static
// storage; this token belongs to the command, not to the library.
CancelToken g_cancel;
extern "C" void on_stop_signal(int sig) { g_cancel.cancel(sig); }

struct SignalScope {
  struct sigaction old_int {}, old_term {};
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

struct RunArgs {
  RunConfig flags;
  std::string config_file;
  CLI::App* cmd = nullptr;
};

int run_run(RunArgs& a) {
  RunConfig c;  // defaults, then the config file, then the flags given
  c.workdir = a.flags.workdir;
  std::string file = a.config_file;
  if (file.empty() && std::filesystem::exists(std::filesystem::path(c.workdir) / "asiarch.json"))
    file = (std::filesystem::path(c.workdir) / "asiarch.json").string();
  if (!file.empty()) {
    auto text = read_file(file);
    if (!text) {
      std::cerr << "asiarch run: " << text.error().message << "\n";
      return 2;
    }
    if (auto st = apply_config_json(c, *text, file); !st) {
      std::cerr << "asiarch run: " << st.error().message << "\n";
      return 2;
    }
  }
  auto given = [&](const char* flag) { return a.cmd->count(flag) > 0; };
  const RunConfig& f = a.flags;
  if (given("--budget")) c.budget = f.budget;
  if (given("--preset")) c.preset = f.preset;
  if (given("--presets")) c.presets_file = f.presets_file;
  if (given("--tasks")) c.tasks = f.tasks;
  if (given("--workers")) c.workers = f.workers;
  if (given("--seed")) c.seed = f.seed;
  if (given("--timeout")) c.limits.wall_seconds = f.limits.wall_seconds;
  if (given("--cache-dir")) c.cache_dir = f.cache_dir;
  if (given("--promote")) c.promote = f.promote;
  if (given("--promote-preset")) c.promote_preset = f.promote_preset;
  if (given("--pool-size")) c.selection.pool_size = f.selection.pool_size;
  if (given("--parent-top")) c.selection.parent_top = f.selection.parent_top;
  if (given("--events")) c.events = f.events;
  if (given("--executor")) c.executor = f.executor;
  if (given("--max-runtime-revisions")) c.max_runtime_revisions = f.max_runtime_revisions;
  c.quiet = f.quiet;
  SignalScope signals;
  return run_discovery(c, std::cout, std::cerr, g_cancel);
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run the discovery loop: the Researcher proposes mixers, the Engineer builds and repairs them, the lab\n"
      "gates and trains them in sandboxed workers, the Judge and fitness score them, the Analyst learns from\n"
      "them; everything goes to <workdir>/archive.db. The budget counts evolved experiments in the workdir:\n"
      "re-running resumes, and a larger budget continues. Settings may also come from <workdir>/asiarch.json.");
  a->cmd = cmd;
  RunConfig& f = a->flags;
  cmd->add_option("--workdir", f.workdir, "where the archive, logs and best design live")->capture_default_str();
  cmd->add_option("--budget", f.budget, "evolved experiments the workdir holds at the end")->capture_default_str();
  cmd->add_option("--preset", f.preset, "smoke | explore | verify")->capture_default_str();
  cmd->add_option("--presets", f.presets_file, "a presets JSON file to use instead of the built-in one");
  cmd->add_option("--tasks", f.tasks, "comma-separated task names (default: all of the preset's)")->delimiter(',');
  cmd->add_option("--workers", f.workers, "experiments evaluated at once")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", f.seed, "seed for selection, proposals and training")->capture_default_str();
  cmd->add_option("--timeout", f.limits.wall_seconds, "wall-clock limit per experiment, seconds")->capture_default_str();
  cmd->add_option("--cache-dir", f.cache_dir, "compile and corpus cache directory");
  cmd->add_option("--promote", f.promote, "second stage: re-evaluate the best K evolved designs on --promote-preset (default: 2 on explore, else 0)");
  cmd->add_option("--promote-preset", f.promote_preset, "the second stage's preset")->capture_default_str();
  cmd->add_option("--pool-size", f.selection.pool_size, "candidate pool size")->capture_default_str();
  cmd->add_option("--parent-top", f.selection.parent_top, "the parent is sampled from the best this many")
      ->capture_default_str();
  cmd->add_option("--config", a->config_file, "settings file (default: <workdir>/asiarch.json when present)");
  cmd->add_flag("--quiet", f.quiet, "only the summary");
  cmd->add_option("--events", f.events, "what to print: text (progress lines) | jsonl (every event as a JSON line)")
      ->capture_default_str();
  cmd->add_option("--executor", f.executor, "where candidates are gated and trained: local")->capture_default_str();
  cmd->add_option("--max-runtime-revisions", f.max_runtime_revisions,
                  "Engineer revisions after a runtime failure")->capture_default_str();
  cmd->callback([a, &exit_code] { exit_code = run_run(*a); });
}

}  // namespace asiarch::host
