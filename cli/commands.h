// The asiarch subcommands; each registers itself on the CLI app.
#pragma once

namespace CLI {
class App;
}

namespace asiarch::host {

void add_compile_command(CLI::App& app, int& exit_code);
void add_eval_command(CLI::App& app, int& exit_code);
void add_baselines_command(CLI::App& app, int& exit_code);
void add_repair_command(CLI::App& app, int& exit_code);
void add_worker_command(CLI::App& app, int& exit_code);
void add_slurm_job_command(CLI::App& app, int& exit_code);
void add_run_command(CLI::App& app, int& exit_code);
void add_daemon_command(CLI::App& app, int& exit_code);  // the loop kept going, with the HTTP API
void add_client_commands(CLI::App& app, int& exit_code);  // status, pause, resume, tail: talk to a daemon
void add_settings_command(CLI::App& app, int& exit_code);
// --version: this build's LibTorch (with CUDA or not), the devices it sees, Clang, NVRTC, the driver.
void add_version_flag(CLI::App& app);  // the run settings, for people and docs
void add_inspect_commands(CLI::App& app, int& exit_code);  // ls, show, history, lineage, top
void add_compare_commands(CLI::App& app, int& exit_code);  // compare (paired, with intervals), ladder
void add_events_command(CLI::App& app, int& exit_code);
void add_cognition_command(CLI::App& app, int& exit_code);  // search the knowledge base, add a note

}  // namespace asiarch::host
