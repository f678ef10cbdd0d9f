// Worker processes for untrusted plugin code: started with exec (never a
// fork that goes on running LibTorch), in their own session and user, PID,
// mount, IPC and network namespaces where the kernel allows, with an
// allow-listed environment, no inherited descriptors but the channel and the
// log pipe, a private size-limited tmpfs as scratch, a private /proc, a
// process limit, reads and writes confined to named paths (Landlock), and,
// once running, a seccomp filter (confine_candidate_process). The host talks
// to it only through the descriptors it made (worker/worker_channel.h).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "util/result.h"

namespace asiarch::host {

struct SandboxLimits {
  int64_t address_space_mb = 16384;  // RLIMIT_AS
  int64_t cpu_seconds = 0;           // RLIMIT_CPU; 0: 2 x wall_seconds x 2 threads
  int64_t file_size_mb = 1024;       // RLIMIT_FSIZE
  int64_t max_processes = 512;       // threads and processes: pids cgroup where writable, else RLIMIT_NPROC
  int64_t scratch_mb = 1024;         // size of the private tmpfs scratch
  double wall_seconds = 900;         // killed after this long
};

// Time limits per stage, enforced by the host (worker/worker_job.cpp) from the stage the worker
// says it is in, and the whole wall-clock limit whatever it says.
struct StageLimits {
  double gates_seconds = 300;        // the sanity gates
  double training_factor = 5;        // a task may take this many times the reference's time on it...
  double training_slack_seconds = 60;  // ...plus this
};

// An owned file descriptor (closed once).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    const int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1);
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

struct WorkerSpec {
  std::string executable;                       // absolute path
  std::vector<std::string> args;                // argv[1..]
  std::filesystem::path scratch;                // cwd; always writable (a private tmpfs where possible)
  std::vector<std::filesystem::path> writable;  // more writable paths (only the prepare job's cache)
  std::vector<std::filesystem::path> readable;  // more readable paths (cache, baselines, presets)
  SandboxLimits limits;
  bool isolate = true;                          // namespaces when the kernel allows
  // A worker of a run with GPUs: it may open /dev/nvidia* (no other worker may), and its memory
  // limit is on data (RLIMIT_DATA) instead of address space, since the CUDA driver reserves far
  // more address space than any limit on it would allow, without using it.
  bool gpu = false;
};

// What the worker was actually given: some kernels refuse namespaces or Landlock.
struct Confinement {
  bool user_namespace = false;
  bool pid_namespace = false;
  bool network_namespace = false;
  bool ipc_namespace = false;
  bool mount_namespace = false;
  bool private_scratch = false;  // a size-limited tmpfs, nosuid, nodev
  bool private_proc = false;     // /proc shows only the worker's PID namespace
  bool writes_confined = false;  // Landlock
  bool reads_confined = false;   // Landlock
  // The worker's seccomp filter, as the kernel reports it (/proc/PID/status), read by the host once
  // the worker says it has confined itself: never the worker's word.
  bool seccomp = false;
  std::string process_limit;     // "pids cgroup" or "RLIMIT_NPROC" (see docs/sandbox.md)
  bool environment_filtered = true;
  bool descriptors_closed = true;
  // How the host reads the worker's CPU time (worker_cpu_seconds): "cpuacct cgroup" or "cgroup
  // cpu.stat" (every thread and child, in ns or us), or "proc stat" (the worker's threads, 10 ms ticks).
  std::string cpu_clock;
  std::string notes;             // why a layer is missing
};
void to_json(nlohmann::json& j, const Confinement& c);

struct WorkerProcess {
  pid_t pid = -1;                  // as the host sees it
  Confinement confinement;
  std::chrono::steady_clock::time_point started;
  double wall_seconds = 0;
  UniqueFd channel;                // the host's end of the socketpair (non-blocking)
  UniqueFd log;                    // the read end of the worker's stdout+stderr (non-blocking)
  std::filesystem::path cgroup;    // the worker's pids cgroup, removed once it ended
  std::filesystem::path cpu_cgroup;  // where its CPU time is counted (v1 cpuacct; v2: the pids cgroup)
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
// The CPU time the worker has used so far, all its threads (and, with a cgroup, its children and
// exited threads), as the kernel counts it: nothing the worker does can change the count.
// Seconds; nullopt once it ended or when nothing can be read. `resolution`: the clock's step.
std::optional<double> worker_cpu_seconds(const WorkerProcess& w, double* resolution = nullptr);
// Non-blocking: the exit once the worker ended; kills it (and its process
// group) when its wall-clock time is up.
std::optional<WorkerExit> poll_worker(WorkerProcess& w);
WorkerExit wait_worker(WorkerProcess& w);
// Kills the worker's process group and reaps it.
WorkerExit kill_worker(WorkerProcess& w);

// Called by the worker itself once its libraries are loaded, before it reads
// any candidate, on every thread: from then on no thread may start a program,
// fork, open or connect a socket, signal or trace another process, push input
// into a terminal, change metadata (mode, owner, times, xattrs), create
// set-uid files or device nodes, or make namespaces and mounts.
Status confine_candidate_process();

// The environment a worker gets: only what it needs from the host's.
std::vector<std::string> worker_environment(const std::filesystem::path& scratch);

// The executable of this process (for starting workers).
std::string self_executable();

}  // namespace asiarch::host
