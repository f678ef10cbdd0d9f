#include "host/sandbox.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <thread>

extern char** environ;

namespace asiarch::host {
namespace {

// Landlock rights newer than bookworm's kernel headers.
constexpr uint64_t kLandlockRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kLandlockTruncate = 1ULL << 14;  // ABI 3

uint64_t landlock_write_rights(long abi) {
  uint64_t r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
               LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
               LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
               LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) r |= kLandlockRefer;
  if (abi >= 3) r |= kLandlockTruncate;
  return r;
}

// A Landlock ruleset that lets writes happen only beneath `dirs` (and to
// /dev/null). Returns -1 with `why` set when the kernel has no Landlock.
int make_write_ruleset(const std::vector<std::filesystem::path>& dirs, std::string& why) {
  const long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) {
    why = std::string("Landlock unavailable (") + std::strerror(errno) + "): writes are not confined";
    return -1;
  }
  const uint64_t rights = landlock_write_rights(abi);
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = rights;
  const int fd = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  if (fd < 0) {
    why = std::string("landlock_create_ruleset: ") + std::strerror(errno);
    return -1;
  }
  auto add = [&](const std::filesystem::path& p, uint64_t allowed) {
    const int pfd = ::open(p.c_str(), O_PATH | O_CLOEXEC);
    if (pfd < 0) {
      why = p.string() + ": " + std::strerror(errno);
      return false;
    }
    landlock_path_beneath_attr pb{};
    pb.allowed_access = allowed;
    pb.parent_fd = pfd;
    const long rc = syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
    const int err = errno;
    ::close(pfd);
    if (rc != 0) why = p.string() + ": landlock_add_rule: " + std::strerror(err);
    return rc == 0;
  };
  for (const auto& d : dirs)
    if (!add(d, rights)) {
      ::close(fd);
      return -1;
    }
  uint64_t file_rights = LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? kLandlockTruncate : 0);
  if (!add("/dev/null", file_rights)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the child needs is prepared before clone(): between clone and
// execve it may only make system calls (it shares the parent's memory).
struct ChildArgs {
  const char* executable;
  char* const* argv;
  char* const* envp;
  const char* cwd;
  int log_fd;
  int ruleset_fd;
  struct Limit {
    int resource;
    rlimit value;
  } limits[6];
  int nlimits;
  sigset_t unblock;
  volatile int error;       // errno of the step that failed
  volatile int failed_at;   // which step: 1 setpgid, 2 rlimit, 3 dup2, 4 chdir, 5 landlock, 6 execve
};

int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  auto fail = [a](int step) {
    a->error = errno;
    a->failed_at = step;
    _exit(127);
  };
  if (setpgid(0, 0) != 0) fail(1);
  // A worker must not outlive the host that would record its result.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  for (int i = 0; i < a->nlimits; ++i)
    if (setrlimit(static_cast<__rlimit_resource>(a->limits[i].resource), &a->limits[i].value) != 0) fail(2);
  const int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(a->log_fd, 1) < 0 || dup2(a->log_fd, 2) < 0) fail(3);
  if (chdir(a->cwd) != 0) fail(4);
  if (a->ruleset_fd >= 0) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(5);
    if (syscall(SYS_landlock_restrict_self, a->ruleset_fd, 0) != 0) fail(5);
  }
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &a->unblock, nullptr);
  execve(a->executable, a->argv, a->envp);
  fail(6);
  return 127;
}

const char* step_name(int step) {
  switch (step) {
    case 1: return "setpgid";
    case 2: return "setrlimit";
    case 3: return "redirecting output";
    case 4: return "chdir to the scratch directory";
    case 5: return "Landlock";
    case 6: return "execve";
  }
  return "starting";
}

}  // namespace

std::string WorkerExit::cause() const {
  if (timed_out) return "timed out after " + std::to_string(static_cast<long>(seconds + 0.5)) + " s (wall clock)";
  if (exited) return "exit code " + std::to_string(code);
  if (signal) {
    const char* abbrev = sigabbrev_np(signal);
    std::string s = std::string("killed by SIG") + (abbrev ? abbrev : std::to_string(signal).c_str()) + " (" +
                    strsignal(signal) + ")";
    if (signal == SIGXCPU) s += ": CPU time limit";
    if (signal == SIGXFSZ) s += ": file size limit";
    return s;
  }
  return "ended";
}

std::string self_executable() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

Result<WorkerProcess> spawn_worker(const WorkerSpec& spec) {
  WorkerProcess w;
  std::vector<std::string> argv_s{spec.executable};
  argv_s.insert(argv_s.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);

  const int log_fd = ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return make_error(spec.log.string() + ": cannot open the worker log: " + std::strerror(errno));

  std::vector<std::filesystem::path> writable{spec.scratch};
  writable.insert(writable.end(), spec.writable.begin(), spec.writable.end());
  std::string why;
  const int ruleset = make_write_ruleset(writable, why);
  w.confinement.writes_confined = ruleset >= 0;
  if (ruleset < 0) w.confinement.notes += why + "; ";

  const std::string cwd = spec.scratch.string();
  ChildArgs a{};
  a.executable = spec.executable.c_str();
  a.argv = argv.data();
  a.envp = environ;
  a.cwd = cwd.c_str();
  a.log_fd = log_fd;
  a.ruleset_fd = ruleset;
  const SandboxLimits& l = spec.limits;
  const rlim_t mb = 1024 * 1024;
  const auto cpu = static_cast<rlim_t>(l.cpu_seconds > 0 ? l.cpu_seconds : std::max<int64_t>(60, 4 * l.wall_seconds));
  a.limits[0] = {RLIMIT_AS, {static_cast<rlim_t>(l.address_space_mb) * mb, static_cast<rlim_t>(l.address_space_mb) * mb}};
  a.limits[1] = {RLIMIT_CPU, {cpu, cpu + 5}};
  a.limits[2] = {RLIMIT_FSIZE, {static_cast<rlim_t>(l.file_size_mb) * mb, static_cast<rlim_t>(l.file_size_mb) * mb}};
  a.limits[3] = {RLIMIT_NPROC, {static_cast<rlim_t>(l.max_processes), static_cast<rlim_t>(l.max_processes)}};
  a.limits[4] = {RLIMIT_CORE, {0, 0}};
  a.nlimits = 5;

  constexpr size_t kStack = 256 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    ::close(log_fd);
    if (ruleset >= 0) ::close(ruleset);
    return make_error(std::string("cannot start a worker: mmap: ") + std::strerror(errno));
  }
  // Block signals so no handler of ours runs on the child's stack.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  a.unblock = old;
  const int base = CLONE_VM | CLONE_VFORK | SIGCHLD;
  pid_t pid = -1;
  if (spec.isolate_network) {
    pid = clone(child_main, static_cast<char*>(stack) + kStack, base | CLONE_NEWUSER | CLONE_NEWNET, &a);
    if (pid < 0)
      w.confinement.notes += std::string("no network namespace (") + std::strerror(errno) +
                             "): sockets are refused by seccomp only; ";
    else
      w.confinement.network_namespace = true;
  }
  if (pid < 0) pid = clone(child_main, static_cast<char*>(stack) + kStack, base, &a);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  ::close(log_fd);
  if (ruleset >= 0) ::close(ruleset);
  if (pid < 0) return make_error(std::string("cannot start a worker: clone: ") + std::strerror(clone_errno));
  if (a.failed_at) {
    int status = 0;
    waitpid(pid, &status, 0);
    return make_error("cannot start worker " + spec.executable + ": " + step_name(a.failed_at) + ": " +
                      std::strerror(a.error));
  }
  w.pid = pid;
  w.started = std::chrono::steady_clock::now();
  w.wall_seconds = l.wall_seconds;
  return w;
}

namespace {

WorkerExit exit_from_status(int status, double seconds) {
  WorkerExit e;
  e.seconds = seconds;
  if (WIFEXITED(status)) {
    e.exited = true;
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  return e;
}

double elapsed(const WorkerProcess& w) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - w.started).count();
}

}  // namespace

std::optional<WorkerExit> poll_worker(WorkerProcess& w) {
  if (w.pid <= 0) return WorkerExit{};
  int status = 0;
  const pid_t r = waitpid(w.pid, &status, WNOHANG);
  if (r == w.pid) {
    w.pid = -1;
    return exit_from_status(status, elapsed(w));
  }
  if (r < 0 && errno == ECHILD) {
    w.pid = -1;
    return WorkerExit{};
  }
  if (elapsed(w) > w.wall_seconds) {
    WorkerExit e = kill_worker(w);
    e.timed_out = true;
    return e;
  }
  return std::nullopt;
}

WorkerExit wait_worker(WorkerProcess& w) {
  for (;;) {
    if (auto e = poll_worker(w)) return *e;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

WorkerExit kill_worker(WorkerProcess& w) {
  if (w.pid <= 0) return WorkerExit{};
  ::kill(-w.pid, SIGKILL);
  ::kill(w.pid, SIGKILL);
  int status = 0;
  while (waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
  }
  w.pid = -1;
  return exit_from_status(status, elapsed(w));
}

Status forbid_exec_fork_and_network() {
#if defined(__x86_64__)
  constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
  return make_error("seccomp confinement is implemented for x86-64 and AArch64 only");
#endif
  auto ret = [](uint32_t v) { return sock_filter BPF_STMT(BPF_RET | BPF_K, v); };
  const uint32_t eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  const uint32_t enosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  f.push_back(ret(SECCOMP_RET_KILL_PROCESS));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* x32 */, 0, 1));
  f.push_back(ret(eperm));
#endif
  auto deny = [&](uint32_t nr, uint32_t action) {
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
    f.push_back(ret(action));
  };
  deny(__NR_execve, eperm);
  deny(__NR_execveat, eperm);
#ifdef __NR_fork
  deny(__NR_fork, eperm);
#endif
#ifdef __NR_vfork
  deny(__NR_vfork, eperm);
#endif
  // clone3 hides its flags in memory seccomp cannot read; glibc falls back to clone.
  deny(__NR_clone3, enosys);
  deny(__NR_io_uring_setup, eperm);  // io_uring could open sockets behind our back
  // clone: threads only.
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0));
  f.push_back(ret(eperm));
  f.push_back(ret(SECCOMP_RET_ALLOW));
  // socket: AF_UNIX only.
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 1, 0));
  f.push_back(ret(eperm));
  f.push_back(ret(SECCOMP_RET_ALLOW));

  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return make_error(std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    return make_error(std::string("seccomp: ") + std::strerror(errno));
  return Ok{};
}

}  // namespace asiarch::host
