// `asiarch worker --job FILE`: the sandboxed process that compiles, gates and
// trains one candidate. Started by the host with exec; not for people.
#include <CLI/CLI.hpp>

#include "host/commands.h"
#include "host/worker_job.h"

namespace asiarch::host {

void add_worker_command(CLI::App& app, int& exit_code) {
  auto job = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand(
      "worker",
      "Internal: run one job (job.json, written by the host) inside a sandbox. The host starts it with\n"
      "limits, namespaces and Landlock; the worker forbids itself exec, fork and network sockets.");
  cmd->group("");  // hidden from the command list
  cmd->add_option("--job", *job, "job file")->required();
  cmd->callback([job, &exit_code] { exit_code = worker_main(*job); });
}

}  // namespace asiarch::host
