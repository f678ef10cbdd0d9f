// `asiarch worker --job FILE`: the sandboxed process that compiles, gates and
// trains one candidate. Started by the host with exec; not for people.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "host/commands.h"
#include "host/worker_job.h"

namespace asiarch::host {

void add_worker_command(CLI::App& app, int& /*exit_code*/) {
  auto job = std::make_shared<std::string>();
  auto prewarm = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "worker",
      "Internal: run one job (job.json, written by the host) inside a sandbox. The host starts it with\n"
      "limits, namespaces and Landlock; the worker forbids itself exec, fork and network sockets.");
  cmd->group("");  // hidden from the command list
  cmd->add_option("--job", *job, "job file (waited for when absent)")->required();
  cmd->add_option("--prewarm", *prewarm, "cache directory to set the JIT up against while waiting");
  cmd->callback([job, prewarm] {
    const int code = worker_main(*job, *prewarm);
    // Everything is written; skip tearing down LibTorch and LLVM, which costs the loop time.
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(code);
  });
}

}  // namespace asiarch::host
