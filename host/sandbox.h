// Worker processes for untrusted plugin code: started with exec (never a
// fork that goes on running LibTorch), in their own process group, user and
// network namespaces where the kernel allows, under resource limits, with
// writes confined to named directories (Landlock), and, once running, without
// the right to start programs, fork or open network sockets (seccomp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch::host {

struct SandboxLimits {
  int64_t address_space_mb = 16384;  // RLIMIT_AS
  int64_t cpu_seconds = 0;           // RLIMIT_CPU; 0: 2 x wall_seconds x 2 threads
  int64_t file_size_mb = 1024;       // RLIMIT_FSIZE
  int64_t max_processes = 512;       // RLIMIT_NPROC (threads count; root is exempt, seccomp is not)
  double wall_seconds = 900;         // killed after this long
};

struct WorkerSpec {
  std::string executable;                       // absolute path
  std::vector<std::string> args;                // argv[1..]
  std::filesystem::path scratch;                // cwd; always writable
  std::vector<std::filesystem::path> writable;  // more writable directories
  std::filesystem::path log;                    // stdout and stderr go here
  SandboxLimits limits;
  bool isolate_network = true;                  // new user + network namespace when possible
};

// What the worker was actually given: some kernels refuse namespaces or Landlock.
struct Confinement {
  bool network_namespace = false;
  bool writes_confined = false;  // Landlock
  std::string notes;             // why a layer is missing
};

struct WorkerProcess {
  pid_t pid = -1;
  Confinement confinement;
  std::chrono::steady_clock::time_point started;
  double wall_seconds = 0;
};

struct WorkerExit {
  bool timed_out = false;
  bool exited = false;  // normal exit with `code`
  int code = 0;
  int signal = 0;
  double seconds = 0;
  bool ok() const { return exited && code == 0 && !timed_out; }
  // "exit code 3", "killed by SIGSEGV (segmentation fault)", "timed out after 30 s", ...
  std::string cause() const;
};

Result<WorkerProcess> spawn_worker(const WorkerSpec& spec);
// Non-blocking: the exit once the worker ended; kills it (and its process
// group) when its wall-clock time is up.
std::optional<WorkerExit> poll_worker(WorkerProcess& w);
WorkerExit wait_worker(WorkerProcess& w);
// Kills the worker's process group and reaps it.
WorkerExit kill_worker(WorkerProcess& w);

// Called by the worker itself once its libraries are loaded, before it reads
// any candidate: from then on no thread may execve, fork, or create a socket
// other than AF_UNIX. Applies to every thread of the process.
Status forbid_exec_fork_and_network();

// The executable of this process (for starting workers).
std::string self_executable();

}  // namespace asiarch::host
