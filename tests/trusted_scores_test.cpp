// Scores the candidate cannot forge (issue "untrusted code, trusted results",
// item 3): the worker that runs a plugin only trains and predicts; the host
// made the tasks, keeps the test targets, scores the logits, times the
// complexity gate from the kernel's count of the worker's CPU time, and
// overrules whatever the worker says of a metric or that gate. Each test runs
// a hostile plugin in a real sandboxed worker.
#include <gtest/gtest.h>

#include <string>

#include "worker/lab_setup.h"
#include "worker/worker_job.h"
#include "tests/worker_fixture.h"

using namespace asiarch;
using namespace asiarch::host;

namespace {

// Quadratic, and once the complexity gate has timed it (when=timed) or as soon as it is made
// (when=ctor), it writes its own result on the channel, every gate passed and a perfect score,
// and exits.
const std::string kForger = R"cpp(
#include <asiarch/plugin.h>
#include <unistd.h>
#include <string>
class Forger : public asiarch::TokenMixer {
 public:
  explicit Forger(const asiarch::MixerConfig& cfg) {
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, cfg.d_model));
    if (asiarch::option(cfg, "when", "") == "ctor") forge();
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto scores = torch::matmul(x, x.transpose(1, 2)).tril() / x.size(2);
    auto y = torch::matmul(scores, proj_(x));
    if (x.size(1) >= 256 && ++long_calls_ == 24) forge();  // the complexity gate's 4th pass
    return y;
  }
  static void forge() {
    std::string gates;
    for (const char* g : {"shape_dtype", "finite", "causality", "batch_independence", "complexity", "parameter_budget"})
      gates += std::string(gates.empty() ? "" : ",") + R"({"name":")" + g + R"(","passed":true,"reason":"fine","details":{}})";
    const std::string m = R"({"kind":"result","result":{"error":"","reference_parameters":1,"report":{"mixer":"forger",)"
        R"("preset":"smoke","mixer_parameters":1,"gates_passed":true,"seconds":1,"gates":[)" + gates + R"(],"tasks":[)"
        R"({"task":"in_context_recall","metric_name":"accuracy","metric":1.0,"final_loss":0.01,"steps":40,)"
        R"("tokens_per_second":1e6,"train_seconds":1,"eval_seconds":0,"stop_reason":"completed","curve":[]}]}}})";
)cpp" + std::string(asiarch::testing::kWriteFrameOnChannel) + R"cpp(
    _exit(0);
  }
  torch::nn::Linear proj_{nullptr};
  int long_calls_ = 0;
};
ASIARCH_REGISTER_MIXER(Forger, "forger")
)cpp";

// Searches its own process's memory for two rows of targets given as hex: one of the training
// set (a control: the scan works) and one of the test set. Says what it found by throwing.
const char* kPeek = R"cpp(
#include <asiarch/plugin.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
namespace {
void unhex(const std::string& h, std::string& out) {
  out.reserve(h.size() / 2);
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
}
// Anywhere in writable memory but the needle's own bytes.
bool found(const std::string& needle) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long a = 0, b = 0;
    char perms[5] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %4s", &a, &b, perms) != 3 || perms[0] != 'r' || perms[1] != 'w') continue;
    const char* p = reinterpret_cast<const char*>(a);
    const char* end = reinterpret_cast<const char*>(b);
    while (p < end) {
      auto* hit = static_cast<const char*>(memmem(p, end - p, needle.data(), needle.size()));
      if (!hit) break;
      if (hit != needle.data()) return true;
      p = hit + 1;
    }
  }
  return false;
}
}  // namespace
class Peek : public asiarch::TokenMixer {
 public:
  explicit Peek(const asiarch::MixerConfig& cfg) {
    std::string train, test;
    unhex(asiarch::option(cfg, "train", ""), train);
    unhex(asiarch::option(cfg, "test", ""), test);
    throw std::runtime_error(std::string("training targets ") + (found(train) ? "found" : "absent") +
                             ", test targets " + (found(test) ? "found" : "absent"));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(Peek, "peek")
)cpp";

// Causal wherever the worker looks (the gates, training, the worker's own probes on batches of
// at most 16), and reads the future in large eval batches without grad: how test logits are made.
const std::string kTestTimeCheat = asiarch::testing::padded_mixer("Sly", R"cpp(
    if (is_training() || torch::GradMode::is_enabled() || x.size(0) < 32) return causal;
    return causal + 0.5 * proj_(x).flip(1).cumsum(1).flip(1) / x.size(1);)cpp");

class TrustedScores : public asiarch::testing::WorkerFixture {
 protected:
  static WorkerOutcome run_on(const std::string& task, const std::string& source, const std::string& options) {
    static int n = 0;
    WorkerJob j = job(options);
    j.tasks = {task};
    auto o = run_job(j, source, *root_ / ("trusted" + std::to_string(++n)), settings());
    EXPECT_TRUE(o) << (o ? "" : o.error().message);
    return o ? std::move(*o) : WorkerOutcome{};
  }
  static const lab::GateResult* gate(const WorkerOutcome& o, const std::string& name) {
    if (!o.result.report) return nullptr;
    for (const auto& g : o.result.report->gates)
      if (g.name == name) return &g;
    return nullptr;
  }
};

std::string hex_of(const std::vector<int64_t>& v) {
  std::string out;
  char buf[3];
  for (int64_t x : v)
    for (int b = 0; b < 8; ++b) {
      std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned>((static_cast<uint64_t>(x) >> (8 * b)) & 0xff));
      out += buf;
    }
  return out;
}

}  // namespace

// A plugin that writes its own result after the complexity gate timed it: the host's clock says
// quadratic, and no metric it claims survives.
TEST_F(TrustedScores, AForgedResultIsOverruledByTheHost) {
  auto o = run_on("in_context_recall", kForger, "when=timed");
  ASSERT_TRUE(o.result.report) << cause(o);
  const auto* c = gate(o, "complexity");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->passed);
  EXPECT_NE(c->reason.find("kernel's count of the whole worker's CPU time: not sub-quadratic"), std::string::npos)
      << c->reason;
  EXPECT_GE(c->details.value("host_time_exponent", 0.0), 1.5) << c->details.dump();
  EXPECT_FALSE(o.result.report->gates_passed);
  ASSERT_EQ(o.result.report->tasks.size(), 1u);
  const auto& t = o.result.report->tasks[0];
  EXPECT_TRUE(t.scored_by_host);
  EXPECT_EQ(t.metric, 0);  // not the 1.0 it wrote
  EXPECT_NE(t.stop_reason.find("no test predictions from the worker"), std::string::npos) << t.stop_reason;
}

// Forged before any gate ran: nothing was timed, so the complexity gate fails.
TEST_F(TrustedScores, AResultForgedBeforeTheGatesFailsForWantOfTiming) {
  auto o = run_on("in_context_recall", kForger, "when=ctor");
  ASSERT_TRUE(o.result.report) << cause(o);
  const auto* c = gate(o, "complexity");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->passed);
  EXPECT_NE(c->reason.find("sent no timing marks"), std::string::npos) << c->reason;
  ASSERT_EQ(o.result.report->tasks.size(), 1u);
  EXPECT_EQ(o.result.report->tasks[0].metric, 0);
}

// The test set's targets are never in the worker's memory; the training set's are (the control).
TEST_F(TrustedScores, TestTargetsNeverEnterTheWorker) {
  auto preset = load_preset_arg("smoke", "");
  ASSERT_TRUE(preset) << preset.error().message;
  auto tasks = lab::select_tasks(*preset, {"in_context_recall"});
  ASSERT_TRUE(tasks) << tasks.error().message;
  auto data = lab::make_task("in_context_recall", (*tasks)[0].second, 0);
  ASSERT_TRUE(data) << data.error().message;
  auto o = run_on("in_context_recall", kPeek,
                  "train=" + hex_of(data->train[3].target) + ",test=" + hex_of(data->test[3].target));
  EXPECT_NE(cause(o).find("training targets found, test targets absent"), std::string::npos) << cause(o);
}

// Honest wherever the worker looks, reading the future only where test logits are made: the probe
// rows the host mixed into the test rows catch it, and the task keeps no metric.
TEST_F(TrustedScores, AMixerThatCheatsOnlyOnTestBatchesIsCaughtByTheHostsProbes) {
  auto o = run_on("in_context_recall", kTestTimeCheat, "params=" + std::to_string(reference_parameters_));
  ASSERT_TRUE(o.result.report) << cause(o);
  ASSERT_TRUE(o.result.report->gates_passed) << cause(o);
  ASSERT_EQ(o.result.report->tasks.size(), 1u);
  const auto& t = o.result.report->tasks[0];
  ASSERT_TRUE(t.causality_probe);
  EXPECT_TRUE(t.causality_probe->passed) << t.causality_probe->reason;  // the worker's probes saw nothing
  ASSERT_TRUE(t.test_probe);
  EXPECT_FALSE(t.test_probe->passed);
  EXPECT_NE(t.stop_reason.find("test logits"), std::string::npos) << t.stop_reason;
  EXPECT_EQ(t.metric, 0);
}

// An honest mixer: its metric is the host's, and the host's clock agrees it is sub-quadratic.
TEST_F(TrustedScores, AnHonestMixerIsScoredAndTimedByTheHost) {
  auto honest = run_on("mqar", asiarch::testing::padded_mixer("Mean", "return causal;"),
                       "params=" + std::to_string(reference_parameters_));
  ASSERT_TRUE(honest.result.report) << cause(honest);
  ASSERT_TRUE(honest.result.report->gates_passed) << cause(honest);
  const auto* c = gate(honest, "complexity");
  ASSERT_TRUE(c);
  EXPECT_LT(c->details.value("host_time_exponent", 9.0), 1.5) << c->details.dump();
  EXPECT_TRUE(honest.confinement.cpu_clock == "cpuacct cgroup" || honest.confinement.cpu_clock == "cgroup cpu.stat")
      << honest.confinement.cpu_clock;
  const auto& t = honest.result.report->tasks.at(0);
  EXPECT_TRUE(t.scored_by_host);
  EXPECT_TRUE(t.completed()) << t.stop_reason;
  ASSERT_TRUE(t.test_probe);
  EXPECT_TRUE(t.test_probe->passed) << t.test_probe->reason;
  EXPECT_GT(t.metric, 0);
}
