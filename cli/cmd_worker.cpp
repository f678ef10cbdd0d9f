// `asiarch worker --channel FD`: the sandboxed process that compiles, gates and
// trains one candidate. Started by the host with exec; not for people.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "cli/commands.h"
#include "exec/job_dir.h"
#include "worker/worker_job.h"

namespace asiarch::host {

void add_worker_command(CLI::App& app, int& /*exit_code*/) {
  auto channel = std::make_shared<int>(3);
  auto prewarm = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "worker",
      "Internal: run one job, sent by the host on a channel, inside a sandbox. The host starts it with\n"
      "limits, namespaces and Landlock; the worker confines itself further with seccomp.");
  cmd->group("");  // hidden from the command list
  cmd->add_option("--channel", *channel, "the descriptor of the channel to the host")->required();
  cmd->add_option("--prewarm", *prewarm, "cache directory to set the JIT up against while waiting");
  cmd->callback([channel, prewarm] {
    const int code = worker_main(*channel, *prewarm);
    // Everything is written; skip tearing down LibTorch and LLVM, which costs the loop time.
    std::cout.flush();
    std::cerr.flush();
    std::_Exit(code);
  });
}

void add_slurm_job_command(CLI::App& app, int& exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "slurm-job",
      "Internal: on a compute node, run the evaluate job in DIR (written by the slurm executor) in a\n"
      "sandboxed worker; progress and the outcome go back into DIR.");
  cmd->group("");  // hidden from the command list
  cmd->add_option("dir", *dir, "the job's folder in slurm.shared_dir")->required();
  cmd->callback([dir, &exit_code] { exit_code = run_job_dir(*dir); });
}

}  // namespace asiarch::host
