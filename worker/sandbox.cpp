#include "worker/sandbox.h"

#include <fcntl.h>
#include <link.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <termios.h>

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace asiarch::host {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void to_json(nlohmann::json& j, const Confinement& c) {
  j = {{"user_namespace", c.user_namespace},
       {"pid_namespace", c.pid_namespace},
       {"network_namespace", c.network_namespace},
       {"ipc_namespace", c.ipc_namespace},
       {"seccomp", c.seccomp},
       {"mount_namespace", c.mount_namespace},
       {"private_scratch", c.private_scratch},
       {"private_proc", c.private_proc},
       {"writes_confined", c.writes_confined},
       {"reads_confined", c.reads_confined},
       {"process_limit", c.process_limit},
       {"environment_filtered", c.environment_filtered},
       {"descriptors_closed", c.descriptors_closed},
       {"cpu_clock", c.cpu_clock},
       {"notes", c.notes}};
}

namespace {

// Landlock rights newer than bookworm's kernel headers.
constexpr uint64_t kLandlockRefer = 1ULL << 13;     // ABI 2
constexpr uint64_t kLandlockTruncate = 1ULL << 14;  // ABI 3
constexpr uint64_t kReadFile = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE;
constexpr uint64_t kReadDir = kReadFile | LANDLOCK_ACCESS_FS_READ_DIR;

uint64_t landlock_write_rights(long abi) {
  uint64_t r = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
               LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
               LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
               LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) r |= kLandlockRefer;
  if (abi >= 3) r |= kLandlockTruncate;
  return r;
}

// What every worker may read: the system's programs, libraries and settings,
// CPU and GPU information. Not /home, /root, /tmp, /run, /var or the workdir.
const char* const kSystemReadable[] = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/sys", "/opt"};
const char* const kDevices[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"};

// The folders of the shared libraries this program was loaded with, outside the system's: a
// LibTorch from a PyTorch wheel, LLVM unpacked beside the build (scripts/gpu-deps.sh). The worker
// is this program and loads the same ones.
std::vector<std::string> loaded_library_dirs() {
  std::set<std::string> dirs;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        if (info->dlpi_name && info->dlpi_name[0] == '/') {
          std::error_code ec;
          auto p = std::filesystem::canonical(info->dlpi_name, ec);
          if (!ec) static_cast<std::set<std::string>*>(out)->insert(p.parent_path().string());
        }
        return 0;
      },
      &dirs);
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    bool system = false;
    for (const char* s : kSystemReadable) system = system || d == s || d.rfind(std::string(s) + "/", 0) == 0;
    if (!system) out.push_back(d);
  }
  return out;
}

// Once per process: the host's libraries are loaded at its start, and workers are spawned often.
const std::vector<std::string>& library_dirs() {
  static const std::vector<std::string> dirs = loaded_library_dirs();
  return dirs;
}

struct Ruleset {
  int fd = -1;
  long abi = 0;
  uint64_t write_rights = 0;
};

bool add_rule(int ruleset, const char* path, uint64_t allowed) {
  const int pfd = ::open(path, O_PATH | O_CLOEXEC);
  if (pfd < 0) return errno == ENOENT;  // a path this machine lacks needs no rule
  landlock_path_beneath_attr pb{};
  pb.allowed_access = allowed;
  pb.parent_fd = pfd;
  const long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
  ::close(pfd);
  return rc == 0;
}

bool is_dir(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

// A ruleset that handles reads and writes: reads of the system paths, the
// executable's folder and `readable`; writes beneath `writable` and to
// /dev/null. The scratch folder and /proc get their rules in the child,
// after its own mounts are over them (a rule on a hidden mount point would
// not cover what is mounted there).
Ruleset make_ruleset(const std::string& executable, const std::vector<std::filesystem::path>& readable,
                     const std::vector<std::filesystem::path>& writable, bool gpu, std::string& why) {
  Ruleset r;
  r.abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (r.abi < 1) {
    why = std::string("Landlock unavailable (") + std::strerror(errno) + "): reads and writes are not confined";
    return r;
  }
  r.write_rights = landlock_write_rights(r.abi);
  landlock_ruleset_attr attr{};
  attr.handled_access_fs = r.write_rights | kReadDir;
  r.fd = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  if (r.fd < 0) {
    why = std::string("landlock_create_ruleset: ") + std::strerror(errno);
    return r;
  }
  auto fail = [&](const std::string& p) {
    why = p + ": landlock_add_rule: " + std::strerror(errno);
    ::close(r.fd);
    r.fd = -1;
    return r;
  };
  for (const char* p : kSystemReadable)
    if (!add_rule(r.fd, p, kReadDir)) return fail(p);
  for (const char* p : kDevices)
    if (!add_rule(r.fd, p, kReadFile)) return fail(p);
  const uint64_t file_write = LANDLOCK_ACCESS_FS_WRITE_FILE | (r.abi >= 3 ? kLandlockTruncate : 0);
  if (!add_rule(r.fd, "/dev/null", file_write)) return fail("/dev/null");
  // GPUs, for a worker of a run that has them (the driver's libraries are under /usr already).
  std::error_code ec;
  if (gpu)
    for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("nvidia", 0) == 0 && !is_dir(e.path()))
        if (!add_rule(r.fd, e.path().c_str(), kReadFile | file_write)) return fail(e.path().string());
    }
  const auto exe_dir = std::filesystem::path(executable).parent_path();
  if (!exe_dir.empty() && !add_rule(r.fd, exe_dir.c_str(), kReadDir)) return fail(exe_dir.string());
  for (const auto& d : library_dirs())
    if (!add_rule(r.fd, d.c_str(), kReadDir)) return fail(d);
  for (const auto& p : readable)
    if (!p.empty() && !add_rule(r.fd, p.c_str(), is_dir(p) ? kReadDir : kReadFile)) return fail(p.string());
  for (const auto& p : writable)
    if (!p.empty() && !add_rule(r.fd, p.c_str(), kReadDir | r.write_rights)) return fail(p.string());
  return r;
}

// A pids cgroup for one worker, where this process may make one (root, with
// the controller mounted): v1 at /sys/fs/cgroup/pids, or v2 with pids enabled.
// Groups left by a host that was killed (their workers died with it): removed once per process.
void remove_stale_cgroups(const std::filesystem::path& base) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
    const std::string n = e.path().filename().string(), prefix = "asiarch-worker-";
    if (n.rfind(prefix, 0) != 0) continue;
    const std::string pid = n.substr(prefix.size(), n.find('-', prefix.size()) - prefix.size());
    if (!std::filesystem::exists("/proc/" + pid, ec)) ::rmdir(e.path().c_str());
  }
}

std::filesystem::path make_pids_cgroup(int64_t max, std::string& why) {
  static int serial = 0;  // names only; a collision just fails to mkdir
  static bool swept = false;
  const std::string name = "asiarch-worker-" + std::to_string(::getpid()) + "-" + std::to_string(++serial);
  for (const char* base : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    const std::filesystem::path dir = std::filesystem::path(base) / name;
    if (::access(base, W_OK) != 0) continue;
    if (!swept) {
      swept = true;
      remove_stale_cgroups(base);
    }
    if (::mkdir(dir.c_str(), 0755) != 0) continue;
    std::ofstream max_file(dir / "pids.max");
    if (max_file && (max_file << max).flush()) return dir;
    ::rmdir(dir.c_str());
  }
  why = "no writable pids cgroup: threads are limited by RLIMIT_NPROC";
  return {};
}

// A cpuacct cgroup (v1) for one worker's CPU time; on v2 the pids cgroup counts it (cpu.stat).
std::filesystem::path make_cpu_cgroup(const std::filesystem::path& pids_cgroup) {
  std::error_code ec;
  if (!pids_cgroup.empty() && std::filesystem::exists(pids_cgroup / "cpu.stat", ec)) return pids_cgroup;
  for (const char* base : {"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"}) {
    if (::access(base, W_OK) != 0) continue;
    const std::filesystem::path dir =
        std::filesystem::path(base) / (pids_cgroup.empty() ? "asiarch-worker-" + std::to_string(::getpid()) + "-cpu"
                                                           : pids_cgroup.filename().string());
    static bool swept = false;
    if (!swept) {
      swept = true;
      remove_stale_cgroups(base);
    }
    if (::mkdir(dir.c_str(), 0755) == 0) return dir;
  }
  return {};
}

void remove_cgroup(std::filesystem::path& cg) {
  if (cg.empty()) return;
  // The worker's processes are reaped by now; the kernel may need a moment to let go of the group.
  for (int i = 0; i < 50 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  cg.clear();
}

// Everything the child needs is prepared before clone(): between clone and
// execve it may only make system calls (it shares the parent's memory).
struct ChildArgs {
  const char* executable;
  char* const* argv;
  char* const* envp;
  const char* scratch;
  const char* tmpfs_options;
  const char* uid_map;
  const char* gid_map;
  int log_fd;      // >= 64, so dup2 onto 0-3 cannot clobber it
  int channel_fd;  // ditto
  Ruleset ruleset;
  bool user_ns, mount_ns, pid_ns;
  struct Limit {
    int resource;
    rlimit value;
  } limits[6];
  int nlimits;
  sigset_t unblock;
  volatile int error;       // errno of the step that failed
  volatile int failed_at;   // which step: see step_name
  volatile int scratch_errno;  // tmpfs over scratch: 0 when mounted
  volatile int proc_errno;     // private /proc: 0 when mounted
  volatile int map_errno;      // uid/gid maps: 0 when written
};

bool write_proc(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const auto n = static_cast<ssize_t>(std::strlen(text));
  const bool ok = ::write(fd, text, static_cast<size_t>(n)) == n;
  ::close(fd);
  return ok;
}

int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  auto fail = [a](int step) {
    a->error = errno;
    a->failed_at = step;
    _exit(127);
  };
  // Its own session: no controlling terminal, and its own process group for the host to kill.
  if (setsid() < 0) fail(1);
  a->scratch_errno = a->proc_errno = a->map_errno = -1;
  if (a->mount_ns) {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      a->scratch_errno = errno;
    } else {
      a->scratch_errno = mount("tmpfs", a->scratch, "tmpfs", MS_NOSUID | MS_NODEV, a->tmpfs_options) == 0 ? 0 : errno;
      if (a->pid_ns) a->proc_errno = mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0 ? 0 : errno;
    }
  }
  if (a->user_ns) {
    // Inside, the worker is nobody (65534), mapped to the host's own uid and gid; exec drops
    // the capabilities it had in its namespace.
    const bool ok = write_proc("/proc/self/setgroups", "deny") && write_proc("/proc/self/uid_map", a->uid_map) &&
                    write_proc("/proc/self/gid_map", a->gid_map);
    a->map_errno = ok ? 0 : errno;
  }
  // A worker must not outlive the host that would record its result.
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  for (int i = 0; i < a->nlimits; ++i)
    if (setrlimit(static_cast<__rlimit_resource>(a->limits[i].resource), &a->limits[i].value) != 0) fail(2);
  const int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || dup2(in, 0) < 0 || dup2(a->log_fd, 1) < 0 || dup2(a->log_fd, 2) < 0 || dup2(a->channel_fd, 3) < 0)
    fail(3);
  if (chdir(a->scratch) != 0) fail(4);
  if (a->ruleset.fd >= 0) {
    if (!add_rule(a->ruleset.fd, ".", kReadDir | a->ruleset.write_rights)) fail(5);
    // All of /proc only where it is the worker's own (a private mount in its PID namespace);
    // otherwise it would show every process of the host, their command lines included: then the
    // worker's own entry (/proc/self, resolved here, before exec, to this process) and the
    // machine's CPU and memory facts the libraries read.
    if (a->proc_errno == 0) {
      if (!add_rule(a->ruleset.fd, "/proc", kReadDir)) fail(5);
    } else {
      if (!add_rule(a->ruleset.fd, "/proc/self", kReadDir)) fail(5);
      for (const char* f : {"/proc/cpuinfo", "/proc/meminfo", "/proc/stat"}) (void)add_rule(a->ruleset.fd, f, kReadFile);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(5);
    if (syscall(SYS_landlock_restrict_self, a->ruleset.fd, 0) != 0) fail(5);
  }
  // Nothing of the host's but stdin (/dev/null), the log pipe and the channel.
  if (syscall(SYS_close_range, 4, ~0U, 0) != 0)
    for (int fd = 4; fd < 65536; ++fd) ::close(fd);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, &a->unblock, nullptr);
  execve(a->executable, a->argv, a->envp);
  fail(6);
  return 127;
}

const char* step_name(int step) {
  switch (step) {
    case 1: return "setsid";
    case 2: return "setrlimit";
    case 3: return "redirecting output";
    case 4: return "chdir to the scratch directory";
    case 5: return "Landlock";
    case 6: return "execve";
  }
  return "starting";
}

bool allowed_variable(const std::string& name) {
  static const char* const exact[] = {"PATH", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES",
                                      "ASIARCH_CACHE_DIR", "ASIARCH_BASELINES_DIR", "OPENBLAS_CORETYPE",
                                      "OPENBLAS_L2_SIZE"};
  for (const char* e : exact)
    if (name == e) return true;
  for (const char* prefix : {"LC_", "OMP_", "GOMP_", "KMP_", "MKL_", "OPENBLAS_NUM", "CUDA_CACHE", "NVIDIA_DRIVER"})
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace

std::vector<std::string> worker_environment(const std::filesystem::path& scratch) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos && allowed_variable(kv.substr(0, eq))) env.push_back(kv);
  }
  env.push_back("HOME=" + scratch.string());
  env.push_back("TMPDIR=" + scratch.string());
  return env;
}

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
  std::vector<std::string> env_s = worker_environment(spec.scratch);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  // The channel (a socketpair) and the log (a pipe): the host's ends non-blocking, the
  // worker's moved to high numbers so the child's dup2 onto 0-3 cannot clobber them.
  int sv[2], lp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return make_error(std::string("cannot start a worker: socketpair: ") + std::strerror(errno));
  if (pipe2(lp, O_CLOEXEC) != 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return make_error(std::string("cannot start a worker: pipe: ") + std::strerror(errno));
  }
  w.channel.reset(sv[0]);
  w.log.reset(lp[0]);
  UniqueFd child_channel(fcntl(sv[1], F_DUPFD_CLOEXEC, 64)), child_log(fcntl(lp[1], F_DUPFD_CLOEXEC, 64));
  ::close(sv[1]);
  ::close(lp[1]);
  if (!child_channel || !child_log) return make_error(std::string("cannot start a worker: fcntl: ") + std::strerror(errno));
  fcntl(w.channel.get(), F_SETFL, O_NONBLOCK);
  fcntl(w.log.get(), F_SETFL, O_NONBLOCK);
  fcntl(w.log.get(), F_SETPIPE_SZ, 1 << 20);  // a chatty worker waits less for the host's next poll
  const int sndbuf = 4 << 20;
  setsockopt(w.channel.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  std::vector<std::filesystem::path> writable = spec.writable;
  std::string why;
  Ruleset rs = make_ruleset(spec.executable, spec.readable, writable, spec.gpu, why);
  if (rs.fd >= 0) {
    const int hi = fcntl(rs.fd, F_DUPFD_CLOEXEC, 64);
    ::close(rs.fd);
    rs.fd = hi;
  }
  w.confinement.writes_confined = w.confinement.reads_confined = rs.fd >= 0;
  if (rs.fd < 0) w.confinement.notes += why + "; ";

  const std::string cwd = spec.scratch.string();
  const std::string tmpfs = "size=" + std::to_string(spec.limits.scratch_mb) + "m,mode=0700";
  const std::string uid_map = "65534 " + std::to_string(::geteuid()) + " 1";
  const std::string gid_map = "65534 " + std::to_string(::getegid()) + " 1";
  ChildArgs a{};
  a.executable = spec.executable.c_str();
  a.argv = argv.data();
  a.envp = envp.data();
  a.scratch = cwd.c_str();
  a.tmpfs_options = tmpfs.c_str();
  a.uid_map = uid_map.c_str();
  a.gid_map = gid_map.c_str();
  a.log_fd = child_log.get();
  a.channel_fd = child_channel.get();
  a.ruleset = rs;
  const SandboxLimits& l = spec.limits;
  const rlim_t mb = 1024 * 1024;
  const auto cpu = static_cast<rlim_t>(l.cpu_seconds > 0 ? l.cpu_seconds : std::max<int64_t>(60, 4 * l.wall_seconds));
  const auto memory = static_cast<rlim_t>(l.address_space_mb) * mb;
  a.limits[0] = {spec.gpu ? RLIMIT_DATA : RLIMIT_AS, {memory, memory}};
  a.limits[1] = {RLIMIT_CPU, {cpu, cpu + 5}};
  a.limits[2] = {RLIMIT_FSIZE, {static_cast<rlim_t>(l.file_size_mb) * mb, static_cast<rlim_t>(l.file_size_mb) * mb}};
  a.limits[3] = {RLIMIT_NPROC, {static_cast<rlim_t>(l.max_processes), static_cast<rlim_t>(l.max_processes)}};
  a.limits[4] = {RLIMIT_CORE, {0, 0}};
  a.nlimits = 5;

  // Root is exempt from RLIMIT_NPROC: a pids cgroup holds where one can be made.
  std::string cg_why;
  w.cgroup = make_pids_cgroup(l.max_processes, cg_why);

  constexpr size_t kStack = 256 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    if (rs.fd >= 0) ::close(rs.fd);
    remove_cgroup(w.cgroup);
    return make_error(std::string("cannot start a worker: mmap: ") + std::strerror(errno));
  }
  // Block signals so no handler of ours runs on the child's stack.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  a.unblock = old;
  const int base = CLONE_VM | CLONE_VFORK | SIGCHLD;
  struct Try {
    int flags;
    bool user, mount, pid;
  };
  const Try full{CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC, true, true, true};
  const Try net_only{CLONE_NEWUSER | CLONE_NEWNET, true, false, false};
  const Try none{0, false, false, false};
  std::vector<Try> tries;
  if (spec.isolate) tries = {full, net_only};
  tries.push_back(none);
  pid_t pid = -1;
  int clone_errno = 0;
  for (const Try& t : tries) {
    a.user_ns = t.user;
    a.mount_ns = t.mount;
    a.pid_ns = t.pid;
    pid = clone(child_main, static_cast<char*>(stack) + kStack, base | t.flags, &a);
    if (pid >= 0) {
      w.confinement.user_namespace = t.user;
      w.confinement.network_namespace = t.flags & CLONE_NEWNET;
      w.confinement.ipc_namespace = t.flags & CLONE_NEWIPC;
      w.confinement.pid_namespace = t.pid;
      w.confinement.mount_namespace = t.mount;
      break;
    }
    clone_errno = errno;
    if (spec.isolate)
      w.confinement.notes += std::string(t.flags ? "namespaces refused (" : "") + (t.flags ? std::strerror(errno) : "") +
                             (t.flags ? "); " : "");
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(stack, kStack);
  if (rs.fd >= 0) ::close(rs.fd);
  if (pid < 0) {
    remove_cgroup(w.cgroup);
    return make_error(std::string("cannot start a worker: clone: ") + std::strerror(clone_errno));
  }
  if (a.failed_at) {
    int status = 0;
    waitpid(pid, &status, 0);
    remove_cgroup(w.cgroup);
    return make_error("cannot start worker " + spec.executable + ": " + step_name(a.failed_at) + ": " +
                      std::strerror(a.error));
  }
  if (!w.cgroup.empty()) {
    // Moves the whole worker (it has just exec'd; its threads start later and stay in the group).
    std::ofstream procs(w.cgroup / "cgroup.procs");
    if (!(procs << pid).flush()) {
      w.confinement.notes += "could not enter the pids cgroup; ";
      remove_cgroup(w.cgroup);
    }
  }
  w.cpu_cgroup = make_cpu_cgroup(w.cgroup);
  if (!w.cpu_cgroup.empty() && w.cpu_cgroup != w.cgroup) {
    std::ofstream procs(w.cpu_cgroup / "cgroup.procs");
    if (!(procs << pid).flush()) remove_cgroup(w.cpu_cgroup);
  }
  w.confinement.cpu_clock = w.cpu_cgroup.empty()                          ? "proc stat"
                            : std::filesystem::exists(w.cpu_cgroup / "cpuacct.usage") ? "cpuacct cgroup"
                                                                                        : "cgroup cpu.stat";
  w.confinement.process_limit = w.cgroup.empty() ? "RLIMIT_NPROC" : "pids cgroup";
  if (w.cgroup.empty() && ::geteuid() == 0 && !w.confinement.user_namespace)
    w.confinement.notes += cg_why + " (root is exempt: no thread limit holds); ";
  w.confinement.private_scratch = a.scratch_errno == 0;
  w.confinement.private_proc = a.proc_errno == 0;
  if (w.confinement.mount_namespace && a.scratch_errno != 0)
    w.confinement.notes += std::string("no private tmpfs scratch (") + std::strerror(a.scratch_errno) + "); ";
  if (w.confinement.pid_namespace && a.proc_errno != 0)
    w.confinement.notes += std::string("no private /proc (") + std::strerror(a.proc_errno) + "); ";
  if (w.confinement.user_namespace && a.map_errno != 0)
    w.confinement.notes += std::string("uid map not written (") + std::strerror(a.map_errno) + "); ";
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

void remove_cgroups(WorkerProcess& w) {
  if (w.cpu_cgroup != w.cgroup) remove_cgroup(w.cpu_cgroup);
  w.cpu_cgroup.clear();
  remove_cgroup(w.cgroup);
}

double elapsed(const WorkerProcess& w) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - w.started).count();
}

}  // namespace

std::optional<double> worker_cpu_seconds(const WorkerProcess& w, double* resolution) {
  if (w.pid <= 0) return std::nullopt;
  if (!w.cpu_cgroup.empty()) {
    if (std::ifstream f(w.cpu_cgroup / "cpuacct.usage"); f) {
      long long ns = 0;
      if (f >> ns) {
        if (resolution) *resolution = 1e-9;
        return static_cast<double>(ns) * 1e-9;
      }
    }
    if (std::ifstream f(w.cpu_cgroup / "cpu.stat"); f) {
      std::string key;
      long long v = 0;
      while (f >> key >> v)
        if (key == "usage_usec") {
          if (resolution) *resolution = 1e-6;
          return static_cast<double>(v) * 1e-6;
        }
    }
  }
  // utime and stime of the whole thread group (fields 14 and 15, after the parenthesised name).
  std::ifstream f("/proc/" + std::to_string(w.pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  const double tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (resolution) *resolution = tick;
  return static_cast<double>(utime + stime) * tick;
}

std::optional<WorkerExit> poll_worker(WorkerProcess& w) {
  if (w.pid <= 0) return WorkerExit{};
  int status = 0;
  const pid_t r = waitpid(w.pid, &status, WNOHANG);
  if (r == w.pid) {
    w.pid = -1;
    remove_cgroups(w);
    return exit_from_status(status, elapsed(w));
  }
  if (r < 0 && errno == ECHILD) {
    w.pid = -1;
    remove_cgroups(w);
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
  remove_cgroups(w);
  return exit_from_status(status, elapsed(w));
}

namespace {

// System calls newer than bookworm's headers (the same number on every architecture).
constexpr uint32_t kNrPidfdSendSignal = 424, kNrPidfdOpen = 434, kNrOpenat2 = 437, kNrPidfdGetfd = 438,
                   kNrFchmodat2 = 452;

// A seccomp program built in blocks; each block that starts by matching a
// system call ends in a return, so the next block starts with `nr` loaded.
class Filter {
 public:
  void load_nr() { f_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr))); }
  void ret(uint32_t v) { f_.push_back(BPF_STMT(BPF_RET | BPF_K, v)); }
  // nr → action.
  void rule(uint32_t nr, uint32_t action) {
    f_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
    ret(action);
  }
  // nr: `matched` when the low 32 bits of argument `arg` are one of `values`, else `otherwise`.
  void arg_in(uint32_t nr, int arg, const std::vector<uint32_t>& values, uint32_t matched, uint32_t otherwise) {
    const auto n = static_cast<uint8_t>(values.size());
    f_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, static_cast<uint8_t>(n + 3)));
    f_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg)));
    for (uint8_t k = 0; k < n; ++k) f_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, values[k], static_cast<uint8_t>(n - k), 0));
    ret(otherwise);
    ret(matched);
  }
  // nr: `matched` when argument `arg` has any of `bits`, else `otherwise`.
  void arg_has(uint32_t nr, int arg, uint32_t bits, uint32_t matched, uint32_t otherwise) {
    f_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 4));
    f_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg_offset(arg)));
    f_.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, bits, 1, 0));
    ret(otherwise);
    ret(matched);
  }
  std::vector<sock_filter>& code() { return f_; }

 private:
  // The low half of a 64-bit argument (little-endian).
  static uint32_t arg_offset(int i) { return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * i); }
  std::vector<sock_filter> f_;
};

}  // namespace

Status confine_candidate_process() {
#if defined(__x86_64__)
  constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
  constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
  return make_error("seccomp confinement is implemented for x86-64 and AArch64 only");
#endif
  const uint32_t eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  const uint32_t enosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
  const auto self = static_cast<uint32_t>(::getpid());
  Filter f;
  f.code().push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.code().push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  f.ret(SECCOMP_RET_KILL_PROCESS);
  f.load_nr();
#if defined(__x86_64__)
  f.code().push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000 /* x32 */, 0, 1));
  f.ret(eperm);
#endif
  // No programs, no processes: threads only. clone3 hides its flags in memory seccomp cannot
  // read; glibc falls back to clone.
  for (uint32_t nr : {__NR_execve, __NR_execveat}) f.rule(nr, eperm);
#ifdef __NR_fork
  f.rule(__NR_fork, eperm);
#endif
#ifdef __NR_vfork
  f.rule(__NR_vfork, eperm);
#endif
  f.rule(__NR_clone3, enosys);
  f.arg_has(__NR_clone, 0, CLONE_THREAD, SECCOMP_RET_ALLOW, eperm);
  // No sockets at all (the channel to the host is already open), no io_uring behind our back.
  for (uint32_t nr : {__NR_socket, __NR_socketpair, __NR_connect, __NR_bind, __NR_listen, __NR_accept, __NR_accept4,
                      __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register})
    f.rule(nr, eperm);
  // Signals only to itself (its PID, its own group); no tracing, no other process's memory.
  f.arg_in(__NR_kill, 0, {self, 0u, static_cast<uint32_t>(-static_cast<int32_t>(self))}, SECCOMP_RET_ALLOW, eperm);
  f.arg_in(__NR_rt_sigqueueinfo, 0, {self}, SECCOMP_RET_ALLOW, eperm);
  f.arg_in(__NR_tgkill, 0, {self}, SECCOMP_RET_ALLOW, eperm);
  f.arg_in(__NR_rt_tgsigqueueinfo, 0, {self}, SECCOMP_RET_ALLOW, eperm);
  for (uint32_t nr : {static_cast<uint32_t>(__NR_tkill), kNrPidfdSendSignal, kNrPidfdOpen, kNrPidfdGetfd,
                      static_cast<uint32_t>(__NR_ptrace), static_cast<uint32_t>(__NR_process_vm_readv),
                      static_cast<uint32_t>(__NR_process_vm_writev), static_cast<uint32_t>(__NR_kcmp)})
    f.rule(nr, eperm);
  // No input pushed into a terminal.
  f.arg_in(__NR_ioctl, 1, {TIOCSTI, TIOCLINUX}, eperm, SECCOMP_RET_ALLOW);
  // No metadata changes (mode, owner, times, extended attributes), no device nodes, no set-id files.
  for (uint32_t nr : {
#ifdef __NR_chmod
           static_cast<uint32_t>(__NR_chmod), static_cast<uint32_t>(__NR_chown), static_cast<uint32_t>(__NR_lchown),
           static_cast<uint32_t>(__NR_utime), static_cast<uint32_t>(__NR_utimes), static_cast<uint32_t>(__NR_futimesat),
           static_cast<uint32_t>(__NR_mknod),
#endif
           static_cast<uint32_t>(__NR_fchmod), static_cast<uint32_t>(__NR_fchmodat), kNrFchmodat2,
           static_cast<uint32_t>(__NR_fchown), static_cast<uint32_t>(__NR_fchownat), static_cast<uint32_t>(__NR_utimensat),
           static_cast<uint32_t>(__NR_setxattr), static_cast<uint32_t>(__NR_lsetxattr), static_cast<uint32_t>(__NR_fsetxattr),
           static_cast<uint32_t>(__NR_removexattr), static_cast<uint32_t>(__NR_lremovexattr),
           static_cast<uint32_t>(__NR_fremovexattr), static_cast<uint32_t>(__NR_mknodat)})
    f.rule(nr, eperm);
  constexpr uint32_t kSetId = S_ISUID | S_ISGID;
#ifdef __NR_open
  f.arg_has(__NR_open, 2, kSetId, eperm, SECCOMP_RET_ALLOW);
  f.arg_has(__NR_creat, 1, kSetId, eperm, SECCOMP_RET_ALLOW);
  f.arg_has(__NR_mkdir, 1, kSetId, eperm, SECCOMP_RET_ALLOW);
#endif
  f.arg_has(__NR_openat, 3, kSetId, eperm, SECCOMP_RET_ALLOW);
  f.arg_has(__NR_mkdirat, 2, kSetId, eperm, SECCOMP_RET_ALLOW);
  f.rule(kNrOpenat2, enosys);  // its mode is in memory; glibc uses openat
  // No namespaces, mounts, keys, BPF programs or file handles.
  for (uint32_t nr : {__NR_mount, __NR_umount2, __NR_pivot_root, __NR_chroot, __NR_unshare, __NR_setns, __NR_keyctl,
                      __NR_add_key, __NR_request_key, __NR_bpf, __NR_userfaultfd, __NR_open_by_handle_at,
                      __NR_name_to_handle_at, __NR_perf_event_open})
    f.rule(static_cast<uint32_t>(nr), eperm);
  f.ret(SECCOMP_RET_ALLOW);

  auto& code = f.code();
  sock_fprog prog{static_cast<unsigned short>(code.size()), code.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return make_error(std::string("prctl(PR_SET_NO_NEW_PRIVS): ") + std::strerror(errno));
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
    return make_error(std::string("seccomp: ") + std::strerror(errno));
  return Ok{};
}

}  // namespace asiarch::host
