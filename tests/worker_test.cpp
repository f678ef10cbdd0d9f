// Worker containment: untrusted plugins that crash, hang, exhaust memory, or
// try to write outside their directory, open a socket or start a program.
// Each is recorded with its cause and nothing escapes.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "worker/worker_job.h"
#include "tests/worker_fixture.h"
#include "jit/compiler.h"
#include "jit/toolchain.h"

namespace fs = std::filesystem;
using namespace asiarch::host;

namespace {

// One plugin, its misbehaviour chosen by the "do" option.
const char* kEvil = R"cpp(
#include <asiarch/plugin.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
class Evil : public asiarch::TokenMixer {
 public:
  explicit Evil(const asiarch::MixerConfig& cfg) {
    const std::string what = asiarch::option(cfg, "do", "");
    const std::string arg = asiarch::option(cfg, "arg", "");
    if (what == "exec") {
      int rc = std::system(("touch " + arg + ".system").c_str());
      execl("/usr/bin/touch", "touch", (arg + ".exec").c_str(), (char*)nullptr);
      throw std::runtime_error("system() returned " + std::to_string(rc) + "; execl: " + std::strerror(errno));
    }
    if (what == "socket") {
      int s = socket(AF_INET, SOCK_STREAM, 0);
      if (s < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(std::stoi(arg)));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
      throw std::runtime_error(std::string("connect: ") + (rc == 0 ? "connected" : std::strerror(errno)));
    }
    if (what == "write") {
      FILE* f = std::fopen(arg.c_str(), "w");
      throw std::runtime_error(std::string("fopen: ") + (f ? "opened" : std::strerror(errno)));
    }
    if (what == "alloc") {
      auto t = torch::ones({int64_t(300) << 28});  // 300 GiB of floats
      (void)t;
    }
    if (what == "null") {
      volatile int* p = nullptr;
      *p = 1;
    }
    if (what == "loop") {
      volatile bool spin = true;
      while (spin) {
      }
    }
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, cfg.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return proj_(x); }
  torch::nn::Linear proj_{nullptr};
};
ASIARCH_REGISTER_MIXER(Evil, "evil")
)cpp";

class WorkerContainment : public asiarch::testing::WorkerFixture {
 protected:
  static WorkerOutcome run(const std::string& options, double wall = 120) {
    return WorkerFixture::run(kEvil, options, settings(wall));
  }
};

}  // namespace

TEST_F(WorkerContainment, WellBehavedPluginRunsEveryGate) {
  auto o = run("");
  EXPECT_TRUE(o.failure.empty()) << o.failure;
  ASSERT_TRUE(o.result.report);
  EXPECT_TRUE(o.result.built());
  ASSERT_EQ(o.result.report->gates.size(), 6u);
  EXPECT_TRUE(o.result.report->gates[2].passed) << o.result.report->gates[2].reason;  // causality
  // One Linear is far below DeltaNet's mixer, but the budget compares whole models, where it is within 30%.
  const auto& budget = o.result.report->gates[5];
  EXPECT_LT(budget.details.value("mixer_ratio", 1.0), 0.7) << budget.reason;
  EXPECT_TRUE(budget.details.contains("model_parameters")) << budget.reason;
  EXPECT_TRUE(o.confinement.writes_confined) << o.confinement.notes;
}

TEST_F(WorkerContainment, NullDereferenceIsRecordedAsSegfault) {
  auto o = run("do=null");
  EXPECT_NE(o.failure.find("SIGSEGV"), std::string::npos) << o.failure;
  EXPECT_NE(o.failure.find("during gates"), std::string::npos) << o.failure;
  // The compile report survives the crash.
  ASSERT_TRUE(o.result.compile);
  EXPECT_TRUE(o.result.compile->ok);
}

TEST_F(WorkerContainment, EndlessLoopIsKilledAtTheWallClockLimit) {
  auto o = run("do=loop", 8);
  EXPECT_TRUE(o.exit.timed_out);
  EXPECT_NE(o.failure.find("timed out after"), std::string::npos) << o.failure;
}

TEST_F(WorkerContainment, HugeAllocationFailsInsideTheWorker) {
  auto o = run("do=alloc");
  const std::string c = cause(o);
  EXPECT_TRUE(c.find("allocate") != std::string::npos || c.find("SIGKILL") != std::string::npos) << c;
}

TEST_F(WorkerContainment, WritingOutsideTheScratchDirectoryIsDenied) {
  const fs::path target = *root_ / "outside" / "escaped.txt";
  fs::create_directories(target.parent_path());
  auto o = run("do=write,arg=" + target.string());
  EXPECT_NE(cause(o).find("Permission denied"), std::string::npos) << cause(o);
  EXPECT_FALSE(fs::exists(target));
}

TEST_F(WorkerContainment, SocketsAreRefusedAndNothingConnects) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof a;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  auto o = run("do=socket,arg=" + std::to_string(ntohs(a.sin_port)));
  EXPECT_NE(cause(o).find("socket: Operation not permitted"), std::string::npos) << cause(o);
  // No connection is waiting.
  fd_set fds;
  FD_ZERO(&fds);
  FD_SET(listener, &fds);
  timeval tv{0, 0};
  EXPECT_EQ(::select(listener + 1, &fds, nullptr, nullptr, &tv), 0);
  ::close(listener);
}

TEST_F(WorkerContainment, StartingAProgramIsDenied) {
  const fs::path marker = *root_ / "marker";
  auto o = run("do=exec,arg=" + marker.string());
  const std::string c = cause(o);
  EXPECT_NE(c.find("execl: Operation not permitted"), std::string::npos) << c;
  EXPECT_FALSE(fs::exists(marker.string() + ".system"));
  EXPECT_FALSE(fs::exists(marker.string() + ".exec"));
}

// A compile worker's object is filed in the shared cache by the host, so the
// next worker that compiles the same source loads it instead of compiling.
TEST_F(WorkerContainment, SecondCompileOfASeenSourceInANewWorkerIsACacheHit) {
  // A source no earlier run has compiled: its first compile must miss.
  const std::string source = std::string(kEvil) + "\n// unique " + std::to_string(::getpid()) + "-" +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "\n";
  WorkerJob j = job("");
  j.kind = JobKind::compile;
  auto first = run_job(j, source, *root_ / "compile1", settings());
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->failure.empty()) << first->failure;
  ASSERT_TRUE(first->result.compile);
  EXPECT_TRUE(first->result.compile->ok);
  EXPECT_FALSE(first->result.compile->cache_hit);
  EXPECT_FALSE(first->result.report);  // a compile job runs no gates
  auto tc = asiarch::jit::Toolchain::create({ASIARCH_TEST_CACHE});
  ASSERT_TRUE(tc);
  const auto shared = tc->shared_object_dir();
  const std::string key = first->result.compile->cache_key;
  EXPECT_FALSE(fs::exists(shared / (key + ".o")));  // the worker could not write the shared cache
  EXPECT_EQ(key, asiarch::jit::object_cache_key(*tc, j.name, source));
  // Only under the key the host computed for the source it sent.
  EXPECT_FALSE(file_compiled_object(*first, shared, "0123abcd"));
  auto filed = file_compiled_object(*first, shared, key);
  ASSERT_TRUE(filed) << filed.error().message;
  EXPECT_TRUE(fs::exists(shared / (key + ".o")));

  auto second = run_job(j, source, *root_ / "compile2", settings());
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_TRUE(second->result.compile);
  EXPECT_TRUE(second->result.compile->ok);
  EXPECT_TRUE(second->result.compile->cache_hit);
  EXPECT_EQ(second->result.compile->cache_key, key);
  // Reported, not asserted (timings are noisy here): docs/performance.md records it.
  std::printf("first compile %.3f s, second compile in a new worker %.3f s\n", first->result.compile->seconds,
              second->result.compile->seconds);
  RecordProperty("second_compile_seconds", std::to_string(second->result.compile->seconds));
  fs::remove(shared / (key + ".o"));
  fs::remove(shared / (key + ".json"));
}
