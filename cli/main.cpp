// asiarch: a JIT-compiling plugin host that discovers token-mixer architectures.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"
#include "lab/threads.h"

int main(int argc, char** argv) {
  // Process-wide, so set here, before any command allocates (lab/threads.h).
  // The compute threads are the preset's: the commands that train set them.
  asiarch::lab::keep_freed_memory();
  CLI::App app{
      "asiarch: discovers linear-attention token mixers. Candidate mixers are C++ plugins\n"
      "compiled in-process with Clang/ORC (and CUDA kernels with NVRTC), then checked,\n"
      "trained and scored."};
  app.require_subcommand(1);
  asiarch::host::add_version_flag(app);
  int exit_code = 0;
  asiarch::host::add_compile_command(app, exit_code);
  asiarch::host::add_eval_command(app, exit_code);
  asiarch::host::add_baselines_command(app, exit_code);
  asiarch::host::add_repair_command(app, exit_code);
  asiarch::host::add_run_command(app, exit_code);
  asiarch::host::add_daemon_command(app, exit_code);
  asiarch::host::add_client_commands(app, exit_code);
  asiarch::host::add_settings_command(app, exit_code);
  asiarch::host::add_inspect_commands(app, exit_code);
  asiarch::host::add_compare_commands(app, exit_code);
  asiarch::host::add_events_command(app, exit_code);
  asiarch::host::add_cognition_command(app, exit_code);
  asiarch::host::add_worker_command(app, exit_code);
  asiarch::host::add_slurm_job_command(app, exit_code);
  // Errors are values at the edges of modules; what still throws (a damaged archive cell, named
  // in its message) ends the command with that message, not with an abort.
  try {
    CLI11_PARSE(app, argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "asiarch: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
