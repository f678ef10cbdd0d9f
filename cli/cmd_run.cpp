// `asiarch run [--workdir DIR] [--budget N] [--preset P] [--workers W] [--seed S]`:
// the discovery loop, resumable.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "engine/discovery.h"
#include "cli/run_flags.h"
#include "cli/stop_signals.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

// What is not a setting: where the settings come from, and how much to say.
struct RunArgs {
  std::string workdir = RunConfig{}.workdir;
  std::string config_file;
  bool quiet = false;
  std::shared_ptr<GivenFlags> flags = std::make_shared<GivenFlags>();
};

int run_run(const RunArgs& a) {
  RunConfig c;  // defaults, then the config file, then the flags given
  c.workdir = a.workdir;
  if (auto st = apply_config_file(c, a.config_file); !st) {
    std::cerr << "asiarch run: " << st.error().message << "\n";
    return 2;
  }
  a.flags->apply(c);
  c.quiet = a.quiet;
  StopSignals signals;
  return run_discovery(c, std::cout, std::cerr, stop_token());
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code) {
  auto a = std::make_shared<RunArgs>();
  CLI::App* cmd = app.add_subcommand(
      "run",
      "Run the discovery loop: the Researcher proposes mixers, the Engineer builds and repairs them, the lab\n"
      "gates and trains them in sandboxed workers, the Judge and fitness score them, the Analyst learns from\n"
      "them; everything goes to <workdir>/archive.db. The budget counts evolved experiments in the workdir:\n"
      "re-running resumes, and a larger budget continues. Settings may also come from <workdir>/asiarch.json\n"
      "(`asiarch settings` lists them all).");
  cmd->add_option("--workdir", a->workdir, "where the archive, logs and best design live")->capture_default_str();
  add_setting_flags(*cmd, a->flags);
  cmd->add_option("--config", a->config_file, "settings file (default: <workdir>/asiarch.json when present)");
  cmd->add_flag("--quiet", a->quiet, "only the summary");
  cmd->callback([a, &exit_code] { exit_code = run_run(*a); });
}

}  // namespace asiarch::host
