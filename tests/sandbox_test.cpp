// Hostile plugins, one per class of attack that reached outside a worker or
// harmed the host before the sandbox was hardened (issue "untrusted code,
// trusted results"). Each runs in a real sandboxed worker; each test checks
// that the host survives, that nothing outside the worker changes, that no
// secret is readable, and that the cause is recorded.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <string>

#include "worker/worker_job.h"
#include "tests/worker_fixture.h"
#include "util/files.h"

namespace fs = std::filesystem;
using namespace asiarch::host;

namespace {

// One plugin; what it attempts is chosen by "do", its target by "arg". It
// reports what happened by throwing from its constructor, which the gates
// record as the first gate's reason.
const char* kHostile = R"cpp(
#include <asiarch/plugin.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <termios.h>
#include <unistd.h>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
namespace {
std::string err(const char* what, int rc) {
  return std::string(what) + ": " + (rc < 0 ? std::strerror(errno) : "succeeded");
}
std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string("(unreadable: ") + std::strerror(errno) + ")";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (char& c : text)
    if (c == '\0') c = ' ';  // environ separates with NULs; an exception's text would end at the first
  return text;
}
}  // namespace
class Hostile : public asiarch::TokenMixer {
 public:
  explicit Hostile(const asiarch::MixerConfig& cfg) {
    const std::string what = asiarch::option(cfg, "do", "");
    const std::string arg = asiarch::option(cfg, "arg", "");
    if (what == "signal") {
      const pid_t victim = static_cast<pid_t>(std::stol(arg));
      std::string r = err("kill SIGSTOP", kill(victim, SIGSTOP)) + "; " + err("kill SIGKILL", kill(victim, SIGKILL)) +
                      "; " + err("kill group", kill(-victim, SIGKILL)) + "; parent " + std::to_string(getppid());
      throw std::runtime_error(r);
    }
    if (what == "secrets") {
      const char* env = std::getenv("ASIARCH_TEST_SECRET");
      std::string r = std::string("env ") + (env ? env : "(none)") + "; key " +
                      (std::getenv("OPENAI_API_KEY") ? std::getenv("OPENAI_API_KEY") : "(none)");
      for (const char* p : {"/proc/1/environ", "/proc/self/environ"}) r += std::string("; ") + p + " " + slurp(p);
      r += "; file " + slurp(arg);
      throw std::runtime_error(r);
    }
    if (what == "fd") {
      const int fd = std::stoi(arg);
      const ssize_t w = write(fd, "escaped\n", 8);
      throw std::runtime_error(err("write to inherited fd", static_cast<int>(w)));
    }
    if (what == "unix") {
      int s = socket(AF_UNIX, SOCK_STREAM, 0);
      std::string r = err("socket AF_UNIX", s);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof a.sun_path, "%s", arg.c_str());
      if (s >= 0) r += "; " + err("connect", connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a));
      // The channel to the host is a socket too: it must not connect anywhere else.
      r += "; " + err("connect fd 3", connect(3, reinterpret_cast<sockaddr*>(&a), sizeof a));
      throw std::runtime_error(r);
    }
    if (what == "tty") {
      char c = 'x';
      std::string r = err("open /dev/tty", open("/dev/tty", O_RDONLY));
      r += "; " + err("TIOCSTI on stdin", ioctl(0, TIOCSTI, &c));
      r += "; " + err("TIOCSTI on stderr", ioctl(2, TIOCSTI, &c));
      throw std::runtime_error(r);
    }
    if (what == "metadata") {
      timeval times[2] = {{1, 0}, {1, 0}};
      std::string r = err("chmod", chmod(arg.c_str(), 0777)) + "; " + err("utimes", utimes(arg.c_str(), times)) + "; " +
                      err("setxattr", setxattr(arg.c_str(), "user.pwned", "1", 1, 0)) + "; " +
                      err("chown", chown(arg.c_str(), 65534, 65534));
      throw std::runtime_error(r);
    }
    if (what == "setuid") {
      const int fd = open("suid", O_CREAT | O_WRONLY, 04755);
      std::string r = err("open with S_ISUID", fd);
      const int fd2 = open("plain", O_CREAT | O_WRONLY, 0755);
      r += "; " + err("fchmod S_ISUID", fd2 < 0 ? fd2 : fchmod(fd2, 04755));
      r += "; " + err("mknod", mknod("dev", S_IFCHR | 0666, makedev(1, 3)));
      throw std::runtime_error(r);
    }
    if (what == "limits") {
      std::ifstream in("/proc/self/limits");
      std::string r = "limits", line;
      while (std::getline(in, line))
        if (line.rfind("Max address space", 0) == 0 || line.rfind("Max data size", 0) == 0) r += "; " + line;
      throw std::runtime_error(r);
    }
    if (what == "device") {
      throw std::runtime_error(err(("open " + arg).c_str(), open(arg.c_str(), O_RDWR)));
    }
    if (what == "threads") {
      static std::mutex m;
      static std::condition_variable cv;
      int made = 0;
      std::string why = "none";
      for (; made < 4096; ++made) {
        try {
          std::thread([] {
            std::unique_lock<std::mutex> lock(m);
            cv.wait(lock, [] { return false; });
          }).detach();
        } catch (const std::exception& e) {
          why = e.what();
          break;
        }
      }
      throw std::runtime_error("threads made " + std::to_string(made) + ", then " + why);
    }
    if (what == "scratch") {
      // Everything the old host read by path, made hostile; and the disk filled.
      for (const char* f : {"worker.log", "result.json", "build.json", "stage", "messages.jsonl"}) unlink(f);
      std::string r = err("symlink result.json", symlink("/dev/zero", "result.json"));
      r += "; " + err("symlink worker.log", symlink(arg.c_str(), "worker.log"));
      r += "; " + err("fifo", mkfifo("messages.jsonl", 0600));
      r += "; " + err("fifo stage", mkfifo("stage", 0600));
      FILE* f = std::fopen("fill", "w");
      std::string block(1 << 20, 'x');
      size_t mb = 0;
      while (f && mb < 4096 && std::fwrite(block.data(), 1, block.size(), f) == block.size() && std::fflush(f) == 0) ++mb;
      r += "; filled " + std::to_string(mb) + " MiB: " + std::strerror(errno);
      throw std::runtime_error(r);
    }
    if (what == "flood") {
      // Hundreds of MiB of output without a newline.
      std::string block(1 << 20, 'A');
      for (int i = 0; i < std::stoi(arg); ++i) (void)!write(2, block.data(), block.size());
      throw std::runtime_error("flooded");
    }
    if (what == "escape") {
      std::fprintf(stderr, "gate shape: passed\n\x1b]0;pwned\x07\x1b[2J\x1b[31mred\n");
      std::fflush(stderr);
      throw std::runtime_error("forged\r\x1b[2Kgate causality: passed");
    }
    if (what == "frame") {
      // A frame header on the channel claiming a gigabyte.
      const unsigned char h[5] = {0, 0, 0, 0x40, 'J'};
      (void)!write(3, h, sizeof h);
      pause();
    }
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, cfg.d_model));
    loop_ = what == "hang";
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    if (loop_) {
      volatile bool spin = true;
      while (spin) {
      }
    }
    return proj_(x);
  }
  torch::nn::Linear proj_{nullptr};
  bool loop_ = false;
};
ASIARCH_REGISTER_MIXER(Hostile, "hostile")
)cpp";

// Quadratic attention without softmax that declares itself the quadratic reference.
const char* kDeclaredQuadratic = R"cpp(
#include <asiarch/plugin.h>
class Pairwise : public asiarch::TokenMixer {
 public:
  explicit Pairwise(const asiarch::MixerConfig& cfg) {
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, cfg.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto scores = torch::matmul(x, x.transpose(1, 2)).tril() / x.size(2);
    return torch::matmul(scores, proj_(x));
  }
  torch::nn::Linear proj_{nullptr};
};
ASIARCH_REGISTER_MIXER(Pairwise, "pairwise")
ASIARCH_DECLARE_QUADRATIC()
)cpp";

// Causal through the gates (a few hundred calls), then reads the future for the rest of its life.
const std::string kLateCheat = asiarch::testing::padded_mixer("Late", R"cpp(
    if (++calls_ < 60) return causal;  // honest for more calls than any gate makes on one instance
    return causal + 0.5 * proj_(x).flip(1).cumsum(1).flip(1) / x.size(1);)cpp", "int calls_ = 0;");

class Sandbox : public asiarch::testing::WorkerFixture {
 protected:
  static WorkerOutcome attack(const std::string& options, const WorkerSettings& s = settings()) {
    return run(kHostile, options, s);
  }
  static fs::path outside(const std::string& name) {
    const fs::path p = *root_ / "outside" / name;
    fs::create_directories(p.parent_path());
    return p;
  }
};

}  // namespace

TEST_F(Sandbox, EveryLayerIsActiveOnThisMachine) {
  auto o = attack("");
  EXPECT_TRUE(o.failure.empty()) << o.failure;
  ASSERT_TRUE(o.result.report) << o.log_tail;  // it ran its gates
  const Confinement& c = o.confinement;
  // Fields the sandbox sets only when the layer took: none starts true (a default that always
  // passes would make this test unable to fail).
  const Confinement fresh;
  EXPECT_FALSE(fresh.user_namespace || fresh.pid_namespace || fresh.network_namespace || fresh.mount_namespace ||
               fresh.ipc_namespace || fresh.private_scratch || fresh.private_proc || fresh.writes_confined ||
               fresh.reads_confined || fresh.seccomp || !fresh.process_limit.empty());
  EXPECT_TRUE(c.user_namespace && c.pid_namespace && c.network_namespace && c.mount_namespace && c.ipc_namespace)
      << c.notes;
  EXPECT_TRUE(c.seccomp) << "the kernel did not report the worker's seccomp filter";
  EXPECT_TRUE(c.private_scratch && c.private_proc) << c.notes;
  EXPECT_TRUE(c.writes_confined && c.reads_confined) << c.notes;
  EXPECT_FALSE(c.process_limit.empty());
  // The environment and the descriptors are filtered by construction, whatever the machine: their
  // behaviour is tested by NoSecretReachesTheWorker and InheritedDescriptorsAreClosed.
}

// Without a PID namespace (here: isolation off), /proc is the host's: the worker may read its own
// entry but no other process's, the host's command line and environment included.
TEST_F(Sandbox, WithoutAPrivateProcOtherProcessesAreNotReadable) {
  WorkerSettings s = settings();
  s.isolate = false;
  // A command line is readable by anyone who can read /proc (an environment is not: Landlock
  // already refuses ptrace-like access outside the worker's domain).
  auto o = attack("do=secrets,arg=/proc/" + std::to_string(::getpid()) + "/cmdline", s);
  ASSERT_FALSE(o.confinement.private_proc);
  ASSERT_TRUE(o.confinement.reads_confined) << o.confinement.notes;
  const std::string c = cause(o);
  EXPECT_EQ(c.find("sandbox_test"), std::string::npos) << c;
  EXPECT_NE(c.find("file (unreadable: Permission denied)"), std::string::npos) << c;
  EXPECT_EQ(c.find("/proc/self/environ (unreadable"), std::string::npos) << c;  // its own entry it may read
  // Without /proc of its own, an honest candidate still builds, passes its gates and trains.
  auto honest = run(asiarch::testing::padded_mixer("Honest", "    return causal;"), "", s);
  EXPECT_TRUE(honest.failure.empty()) << honest.failure << honest.log_tail;
  ASSERT_TRUE(honest.result.report) << honest.log_tail;
  EXPECT_TRUE(honest.result.report->gates_passed) << cause(honest);
  EXPECT_FALSE(honest.result.report->tasks.empty());
}

// Class 1: the host (or any process) signalled.
TEST_F(Sandbox, OtherProcessesCannotBeSignalled) {
  const pid_t victim = fork();
  if (victim == 0) {
    pause();
    _exit(0);
  }
  ASSERT_GT(victim, 0);
  auto o = attack("do=signal,arg=" + std::to_string(victim));
  const std::string c = cause(o);
  EXPECT_EQ(c.find("succeeded"), std::string::npos) << c;
  EXPECT_NE(c.find("kill SIGKILL: "), std::string::npos) << c;
  EXPECT_NE(c.find("parent 0"), std::string::npos) << c;  // its parent is outside its PID namespace
  // The victim (and this host) are alive and running.
  int status = 0;
  EXPECT_EQ(waitpid(victim, &status, WNOHANG | WUNTRACED), 0);
  kill(victim, SIGKILL);
  waitpid(victim, &status, 0);
}

// Class 3: what leaks in — environment, files outside, inherited descriptors, sockets, the terminal.
TEST_F(Sandbox, NoSecretReachesTheWorker) {
  const std::string secret = "s3cr3t-" + std::to_string(::getpid());
  ::setenv("ASIARCH_TEST_SECRET", secret.c_str(), 1);
  ::setenv("OPENAI_API_KEY", ("sk-" + secret).c_str(), 1);
  const fs::path file = outside("secret.txt");
  ASSERT_TRUE(asiarch::write_file_atomic(file, secret));
  auto o = attack("do=secrets,arg=" + file.string());
  ::unsetenv("ASIARCH_TEST_SECRET");
  ::unsetenv("OPENAI_API_KEY");
  const std::string c = cause(o);
  EXPECT_EQ(c.find(secret), std::string::npos) << c;
  EXPECT_EQ(o.log.find(secret), std::string::npos);
  EXPECT_NE(c.find("env (none); key (none)"), std::string::npos) << c;
  EXPECT_NE(c.find("file (unreadable: Permission denied)"), std::string::npos) << c;
}

TEST_F(Sandbox, InheritedDescriptorsAreClosed) {
  const fs::path file = outside("fd.txt");
  ASSERT_TRUE(asiarch::write_file_atomic(file, "before\n"));
  // No O_CLOEXEC: inherited by a careless launcher. Above the worker's own 0-3.
  const int opened = ::open(file.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(opened, 0);
  const int fd = ::fcntl(opened, F_DUPFD, 100);
  ::close(opened);
  ASSERT_GE(fd, 100);
  auto o = attack("do=fd,arg=" + std::to_string(fd));
  ::close(fd);
  EXPECT_NE(cause(o).find("write to inherited fd: Bad file descriptor"), std::string::npos) << cause(o);
  EXPECT_EQ(asiarch::read_file(file).value(), "before\n");
}

TEST_F(Sandbox, UnixSocketsCannotBeOpenedOrConnected) {
  const fs::path path = outside("listener.sock");
  const int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  auto o = attack("do=unix,arg=" + path.string());
  const std::string c = cause(o);
  EXPECT_NE(c.find("socket AF_UNIX: Operation not permitted"), std::string::npos) << c;
  EXPECT_NE(c.find("connect fd 3: Operation not permitted"), std::string::npos) << c;
  fcntl(l, F_SETFL, O_NONBLOCK);
  EXPECT_LT(::accept(l, nullptr, nullptr), 0);  // nothing connected
  ::close(l);
}

TEST_F(Sandbox, NoTerminalAndNoInputPushedIntoOne) {
  auto o = attack("do=tty");
  const std::string c = cause(o);
  EXPECT_EQ(c.find("succeeded"), std::string::npos) << c;
  EXPECT_NE(c.find("open /dev/tty: "), std::string::npos) << c;  // no controlling terminal, and not readable
  EXPECT_NE(c.find("TIOCSTI on stdin: Operation not permitted"), std::string::npos) << c;
}

TEST_F(Sandbox, MetadataOutsideScratchDoesNotChange) {
  const fs::path file = outside("meta.txt");
  ASSERT_TRUE(asiarch::write_file_atomic(file, "x"));
  ::chmod(file.c_str(), 0644);
  struct stat before {};
  ASSERT_EQ(::stat(file.c_str(), &before), 0);
  auto o = attack("do=metadata,arg=" + file.string());
  const std::string c = cause(o);
  EXPECT_EQ(c.find("succeeded"), std::string::npos) << c;
  struct stat after {};
  ASSERT_EQ(::stat(file.c_str(), &after), 0);
  EXPECT_EQ(before.st_mode, after.st_mode);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_uid, after.st_uid);
  char v[8];
  EXPECT_LT(::getxattr(file.c_str(), "user.pwned", v, sizeof v), 0);
}

TEST_F(Sandbox, NoSetUidFilesOrDeviceNodes) {
  auto o = attack("do=setuid");
  const std::string c = cause(o);
  EXPECT_NE(c.find("open with S_ISUID: Operation not permitted"), std::string::npos) << c;
  EXPECT_NE(c.find("fchmod S_ISUID: Operation not permitted"), std::string::npos) << c;
  EXPECT_NE(c.find("mknod: Operation not permitted"), std::string::npos) << c;
}

// The soft limit of /proc/self/limits' row `name` ("Max data size") in what a worker reported.
std::string soft_limit(const std::string& report, const std::string& name) {
  const auto at = report.find(name);
  if (at == std::string::npos) return "(no row " + name + ")";
  std::istringstream row(report.substr(at + name.size()));
  std::string v;
  row >> v;
  return v;
}

// A worker of a run with GPUs has its memory limit on data, not on address space (the CUDA driver
// reserves address space far beyond any such limit without using it); every other worker keeps the
// address-space limit.
TEST_F(Sandbox, AGpuRunsWorkersLimitDataInsteadOfAddressSpace) {
  const std::string limit = std::to_string(int64_t{8192} * 1024 * 1024);
  const std::string cpu = cause(attack("do=limits"));
  ASSERT_NE(cpu.find("limits; "), std::string::npos) << cpu;
  EXPECT_EQ(soft_limit(cpu, "Max address space"), limit) << cpu;
  EXPECT_EQ(soft_limit(cpu, "Max data size"), "unlimited") << cpu;
  WorkerSettings s = settings();
  s.gpu = true;
  const std::string gpu = cause(attack("do=limits", s));
  ASSERT_NE(gpu.find("limits; "), std::string::npos) << gpu;
  EXPECT_EQ(soft_limit(gpu, "Max address space"), "unlimited") << gpu;
  EXPECT_EQ(soft_limit(gpu, "Max data size"), limit) << gpu;
}

// Only a worker of a run with GPUs may open the GPU's device nodes.
TEST_F(Sandbox, OnlyAGpuRunsWorkersOpenTheGpu) {
  if (::access("/dev/nvidiactl", F_OK) != 0) GTEST_SKIP() << "no /dev/nvidiactl on this machine";
  const std::string cpu = cause(attack("do=device,arg=/dev/nvidiactl"));
  EXPECT_NE(cpu.find("open /dev/nvidiactl: Permission denied"), std::string::npos) << cpu;
  WorkerSettings s = settings();
  s.gpu = true;
  const std::string gpu = cause(attack("do=device,arg=/dev/nvidiactl", s));
  EXPECT_NE(gpu.find("open /dev/nvidiactl: succeeded"), std::string::npos) << gpu;
}

TEST_F(Sandbox, ThreadsAreLimited) {
  WorkerSettings s = settings();
  s.limits.max_processes = 64;
  auto o = attack("do=threads", s);
  const std::string c = cause(o);
  ASSERT_NE(c.find("threads made "), std::string::npos) << c;
  EXPECT_LT(std::stoi(c.substr(c.find("threads made ") + 13)), 64) << c;
}

// Class 2: the host reading the scratch folder by path; output that floods the host.
TEST_F(Sandbox, TheHostNeverReadsTheScratchFolder) {
  const fs::path target = outside("target.txt");
  ASSERT_TRUE(asiarch::write_file_atomic(target, "untouched"));
  WorkerSettings s = settings();
  s.limits.scratch_mb = 64;
  auto o = attack("do=scratch,arg=" + target.string(), s);
  const std::string c = cause(o);
  // The disk: a private tmpfs of 64 MiB fills, and the host's folder stays empty.
  ASSERT_NE(c.find("filled "), std::string::npos) << c;
  EXPECT_LT(std::stoi(c.substr(c.find("filled ") + 7)), 65) << c;
  EXPECT_NE(c.find("No space left on device"), std::string::npos) << c;
  EXPECT_EQ(asiarch::read_file(target).value(), "untouched");
  EXPECT_TRUE(fs::is_empty(o.scratch)) << o.scratch;
}

namespace {

// A field of /proc/self/status in KiB (VmRSS, VmHWM), or -1.
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

}  // namespace

TEST_F(Sandbox, EndlessOutputIsKeptAsABoundedTail) {
  // The host's peak from here on: ru_maxrss (and VmHWM) hold the process's peak since it started,
  // which an earlier test may have set higher than anything this one does. Writing 5 to
  // clear_refs resets the peak to the current size (Linux 4.0).
  {
    std::ofstream reset("/proc/self/clear_refs");
    ASSERT_TRUE(reset << "5" << std::flush) << "cannot reset the peak resident size";
  }
  const long start = status_kib("VmRSS");
  ASSERT_EQ(status_kib("VmHWM"), start);  // the reset took
  auto o = attack("do=flood,arg=200");
  const long grew = status_kib("VmHWM") - start;
  EXPECT_NE(cause(o).find("flooded"), std::string::npos) << cause(o).substr(0, 300);
  EXPECT_LE(o.log.size(), (64u << 10) + 8);
  // 200 MiB went through the pipe; the host's peak grew by far less.
  EXPECT_LT(grew, 100 * 1024) << grew << " KiB";
}

TEST_F(Sandbox, CandidateTextIsShownWithControlCharactersEscaped) {
  auto o = attack("do=escape");
  const std::string c = cause(o);
  for (const std::string& s : {c, o.log, o.log_tail}) {
    EXPECT_EQ(s.find('\x1b'), std::string::npos) << s;
    EXPECT_EQ(s.find('\r'), std::string::npos) << s;
    EXPECT_EQ(s.find('\x07'), std::string::npos) << s;
  }
  EXPECT_NE(o.log.find("\\x1b]0;pwned\\x07"), std::string::npos) << o.log;
}

TEST_F(Sandbox, AnOversizedFrameEndsTheWorkerNotTheHost) {
  auto o = attack("do=frame");
  EXPECT_NE(o.failure.find("broke the protocol: a frame of 1073741824 bytes"), std::string::npos) << o.failure;
}

// Stage time limits: an endless forward ends at the gates' limit, with the stage named.
TEST_F(Sandbox, AnEndlessForwardEndsAtTheGatesTimeLimit) {
  WorkerSettings s = settings(600);
  s.stage_limits.gates_seconds = 5;
  const auto t0 = std::chrono::steady_clock::now();
  auto o = attack("do=hang", s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(o.failure.find("stage \"gates\" ran over its time limit of 5 s"), std::string::npos) << o.failure;
  EXPECT_LT(took, 120);  // not the 600 s wall clock (a bound, not a timing measurement)
}

// Class 5: any plugin could declare itself the quadratic reference; only the shipped one is exempt.
TEST_F(Sandbox, OnlyTheShippedSoftmaxReferenceIsExemptFromTheComplexityLimit) {
  auto o = run(kDeclaredQuadratic, "");
  ASSERT_TRUE(o.result.report) << cause(o);
  bool seen = false;
  for (const auto& g : o.result.report->gates)
    if (g.name == "complexity") {
      seen = true;
      EXPECT_FALSE(g.passed) << g.reason;
      EXPECT_NE(g.reason.find("not sub-quadratic"), std::string::npos) << g.reason;
    }
  EXPECT_TRUE(seen);
}

// Class 5: a mixer that reads the future only after the gates: the trained model's probes catch it.
TEST_F(Sandbox, AMixerThatCheatsAfterTheGatesIsCaughtOnTheTrainedModel) {
  auto o = run(kLateCheat, "params=" + std::to_string(reference_parameters_));
  ASSERT_TRUE(o.result.report) << cause(o);
  ASSERT_TRUE(o.result.report->gates_passed) << cause(o);  // honest while the gates look
  ASSERT_EQ(o.result.report->tasks.size(), 1u);
  const auto& t = o.result.report->tasks[0];
  ASSERT_TRUE(t.causality_probe);
  EXPECT_FALSE(t.causality_probe->passed);
  EXPECT_NE(t.stop_reason.find("the trained model reads the future"), std::string::npos) << t.stop_reason;
  EXPECT_EQ(t.metric, 0);  // the task failed: its accuracy is not reported
}
