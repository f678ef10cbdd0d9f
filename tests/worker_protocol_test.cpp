// The typed worker protocol (worker/protocol.h): every kind has one name on the wire, a message of
// any other kind or one the job does not allow ends the worker as a protocol violation, a message
// nested past the limit is refused before it is built, and what a worker's progress becomes is the
// host's choice of fields. The last tests run hostile plugins that write their own frames on the
// worker's channel in a real sandboxed worker.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/worker_fixture.h"
#include "worker/protocol.h"
#include "worker/wire.h"
#include "worker/worker_job.h"

using namespace asiarch;
using namespace asiarch::host;

namespace {

template <typename E, typename Named>
void round_trips(int count, Named named) {
  ASSERT_GT(count, 0);
  std::set<std::string> names;
  for (int i = 0; i < count; ++i) {
    const auto e = static_cast<E>(i);
    const std::string name = name_of(e);
    EXPECT_NE(name, "?");
    EXPECT_TRUE(names.insert(name).second) << "two kinds named " << name;
    auto back = named(name);
    ASSERT_TRUE(back) << name;
    EXPECT_EQ(static_cast<int>(*back), i) << name;
  }
  EXPECT_FALSE(named("")) << "the empty name";
  EXPECT_FALSE(named("scored")) << "an archive event kind";
}

TEST(WorkerProtocol, EveryKindHasOneNameThatParsesBack) {
  round_trips<JobKind>(3, job_kind_named);
  round_trips<HostMessage>(3, host_message_named);
  round_trips<WorkerMessage>(13, worker_message_named);
  round_trips<Stage>(12, stage_named);
  round_trips<ProgressKind>(11, progress_kind_named);
  EXPECT_EQ(std::string(name_of(static_cast<WorkerMessage>(13))), "?");
}

TEST(WorkerProtocol, StagesReadAsPeopleSayThem) {
  EXPECT_EQ(stage_label(Stage::training, "mqar"), "training mqar");
  EXPECT_EQ(stage_label(Stage::gates), "gates");
  EXPECT_EQ(stage_label(Stage::gates, "mqar"), "gates");  // only training names a task
  EXPECT_EQ(stage_label(Stage::setting_up_compiler), "setting up the compiler");
}

TEST(WorkerProtocol, EachJobKindAllowsOnlyItsMessages) {
  for (auto m : {WorkerMessage::gate, WorkerMessage::clock, WorkerMessage::test_logits, WorkerMessage::task_finished,
                 WorkerMessage::training_progress}) {
    EXPECT_TRUE(may_send(JobKind::evaluate, m)) << name_of(m);
    EXPECT_FALSE(may_send(JobKind::compile, m)) << name_of(m);
    EXPECT_FALSE(may_send(JobKind::prepare, m)) << name_of(m);
  }
  EXPECT_TRUE(may_send(JobKind::compile, WorkerMessage::object));
  EXPECT_FALSE(may_send(JobKind::prepare, WorkerMessage::object));
  EXPECT_TRUE(may_send(JobKind::prepare, WorkerMessage::result));
}

TEST(WorkerProtocol, ADeeplyNestedMessageIsRefusedBeforeItIsBuilt) {
  const int depth = 200000;  // far past any stack a recursive parse or copy could take
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  auto m = parse_message(deep);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("nested deeper than 32 levels"), std::string::npos) << m.error().message;
  // At the limit it parses; past it, not.
  EXPECT_TRUE(parse_message(std::string(32, '[') + std::string(32, ']')));
  EXPECT_FALSE(parse_message(std::string(33, '[') + std::string(33, ']')));
  auto bad = parse_message("{\"kind\": ");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "a message that is not JSON");
}

TEST(WorkerProtocol, AMessageKindIsOneOfTheProtocolsOrAnError) {
  auto forged = worker_message_of(nlohmann::json{{"kind", "scored"}, {"fitness", 99}});
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().message, "a message of an unknown kind");
  EXPECT_FALSE(worker_message_of(nlohmann::json{{"kind", 3}}));
  EXPECT_FALSE(worker_message_of(nlohmann::json::array()));
  auto ok = worker_message_of(message(WorkerMessage::gate, {{"name", "finite"}}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, WorkerMessage::gate);
}

TEST(WorkerProtocol, AProgressLineNamingAnyOtherEventIsRefused) {
  // A node's progress file (the Slurm executor) can only carry progress kinds.
  for (const char* kind : {"scored", "rechecked", "promoted", "note", "plugin_refused", "stage"}) {
    auto p = progress_from(nlohmann::json{{"kind", kind}, {"fitness", 99}});
    EXPECT_FALSE(p) << kind;
  }
  auto p = progress_from(nlohmann::json{{"kind", "task_started"}, {"task", "mqar"}, {"steps", 4}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->kind, ProgressKind::task_started);
  EXPECT_FALSE(p->data.contains("kind"));
  EXPECT_EQ(to_message(*p), (nlohmann::json{{"kind", "task_started"}, {"task", "mqar"}, {"steps", 4}}));
}

TEST(WorkerProtocol, AJobCrossesTheWireWithItsKind) {
  WorkerJob j;
  j.kind = JobKind::compile;
  j.name = "x.cpp";
  j.tasks = {"mqar"};
  lab::Reference ref;
  ref.curve = {{10, 2.0}, {20, 1.5}};
  ref.spread = {{10, 0.1}, {20, 0.05}};
  ref.seeds = 3;
  ref.seconds = 2.5;
  j.references["mqar"] = ref;
  j.early_stop = true;
  nlohmann::json w = j;
  EXPECT_EQ(w["kind"], "compile");
  auto back = w.get<WorkerJob>();
  EXPECT_EQ(back.kind, JobKind::compile);
  EXPECT_EQ(back.references.at("mqar").seconds, 2.5);
  EXPECT_EQ(back.references.at("mqar").spread, ref.spread);  // the early-stopping rule's noise
  EXPECT_EQ(back.references.at("mqar").seeds, 3);
  EXPECT_TRUE(back.early_stop);
  w["kind"] = "format_disk";
  EXPECT_THROW(w.get<WorkerJob>(), std::exception);
}

// A plugin that writes `frame` (a JSON message) `times` times on the worker's channel when it is made, then
// exits: what the host makes of it is all that happens.
std::string frame_writer(const std::string& frame, int times = 1) {
  return R"cpp(
#include <asiarch/plugin.h>
#include <unistd.h>
#include <string>
class Writer : public asiarch::TokenMixer {
 public:
  explicit Writer(const asiarch::MixerConfig&) {
    const std::string m = )cpp" + frame + ";\n    for (int i = 0; i < " + std::to_string(times) + "; ++i) {" +
         asiarch::testing::kWriteFrameOnChannel + R"cpp(
    }
    _exit(0);
  }
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(Writer, "writer")
)cpp";
}

class HostileChannel : public asiarch::testing::WorkerFixture {
 protected:
  // Runs a plugin, collecting the progress the host kept.
  static WorkerOutcome run_collecting(const std::string& source, std::vector<Progress>& progress) {
    static int n = 0;
    auto o = run_job(job(""), source, *root_ / ("hostile" + std::to_string(++n)), settings(),
                     [&](const Progress& p) { progress.push_back(p); });
    EXPECT_TRUE(o) << (o ? "" : o.error().message);
    return o ? std::move(*o) : WorkerOutcome{};
  }
};

TEST_F(HostileChannel, AForgedEventKindIsAProtocolViolationNotAnEvent) {
  std::vector<Progress> progress;
  auto o = run_collecting(frame_writer(R"("{\"kind\":\"scored\",\"fitness\":99}")"), progress);
  EXPECT_NE(o.failure.find("the worker broke the protocol: a message of an unknown kind"), std::string::npos)
      << o.failure;
  EXPECT_FALSE(o.result.report);
  for (const auto& p : progress) EXPECT_NE(std::string(name_of(p.kind)), "scored");
}

TEST_F(HostileChannel, AStageTheHostDidNotPlanEndsTheWorkerAndLiftsNoLimit) {
  std::vector<Progress> progress;
  auto unknown = run_collecting(frame_writer(R"("{\"kind\":\"stage\",\"stage\":\"resting\"}")"), progress);
  EXPECT_NE(unknown.failure.find("a \"stage\" message: an unknown stage"), std::string::npos) << unknown.failure;
  // Training a task the host never planned: the stage's limit would be none.
  auto unplanned = run_collecting(
      frame_writer(R"("{\"kind\":\"stage\",\"stage\":\"training\",\"task\":\"\\u001b[2Jmqar\"}")"), progress);
  EXPECT_NE(unplanned.failure.find("a task the host did not plan"), std::string::npos) << unplanned.failure;
  EXPECT_EQ(unplanned.failure.find('\x1b'), std::string::npos) << "the worker's text reaches no terminal raw";
}

TEST_F(HostileChannel, ADeeplyNestedFrameFailsTheCandidateAndTheHostGoesOn) {
  std::vector<Progress> progress;
  auto o = run_collecting(frame_writer("std::string(100000, '[') + std::string(100000, ']')"), progress);
  EXPECT_NE(o.failure.find("nested deeper than 32 levels"), std::string::npos) << o.failure;
  // The host (this process) is alive and runs the next job as usual.
  auto fine = run(asiarch::testing::padded_mixer("Fine", "return causal;"),
                  "params=" + std::to_string(reference_parameters_));
  EXPECT_TRUE(fine.failure.empty()) << fine.failure;
}

// A run relabelled as another length (a quadratic mixer timed at 4096 that says 512): the host's
// plan of marks decides what each window measured, and a label out of it ends the worker.
TEST_F(HostileChannel, ATimingMarkOutOfTheHostsPlanEndsTheWorker) {
  std::vector<Progress> progress;
  auto o = run_collecting(frame_writer(R"("{\"kind\":\"clock\",\"label\":\"4096\"}")"), progress);
  EXPECT_NE(o.failure.find("a timing mark out of the host's plan (expected \"start\", got \"4096\")"), std::string::npos)
      << o.failure;
  EXPECT_FALSE(o.result.report);
}

// Words by the megabyte: one message larger than any but a result may be, and many small ones past
// what the host keeps for a job. Each is a protocol violation with its cause, and the host's memory
// holds at most the caps.
TEST_F(HostileChannel, ProgressIsCappedInBytesPerMessageAndPerJob) {
  std::vector<Progress> progress;
  auto big = run_collecting(
      frame_writer(R"(std::string("{\"kind\":\"gate\",\"name\":\"finite\",\"passed\":true,\"reason\":\"") + std::string(100000, 'x') + "\"}")"),
      progress);
  EXPECT_NE(big.failure.find("a \"gate\" message of 100"), std::string::npos) << big.failure;
  EXPECT_NE(big.failure.find("bytes (at most 65536)"), std::string::npos) << big.failure;
  progress.clear();
  const std::string flood = frame_writer(
      R"(std::string("{\"kind\":\"gate\",\"name\":\"finite\",\"passed\":true,\"reason\":\"") + std::string(60000, 'y') + "\"}")",
      3000);
  auto many = run_collecting(flood, progress);
  // Read in bursts, so the bound on unread progress (1 MiB) is met before the job's (4 MiB).
  const bool capped = many.failure.find("more unread progress than the host holds (1 MiB)") != std::string::npos ||
                      many.failure.find("more progress than a job may send (4 MiB)") != std::string::npos;
  EXPECT_TRUE(capped) << many.failure;
  size_t kept = 0;
  for (const auto& p : progress) kept += p.data.dump().size();
  EXPECT_GT(kept, 0u);
  EXPECT_LE(kept, 4u << 20);
}

TEST_F(HostileChannel, ProgressKeepsOnlyTheFieldsOfItsKind) {
  std::vector<Progress> progress;
  auto o = run_collecting(frame_writer(R"("{\"kind\":\"gates_started\",\"experiment\":7,\"event\":\"scored\"}")"),
                          progress);
  // The worker's own gates_started, then the plugin's, made while the gates build it.
  int started = 0;
  for (const auto& p : progress)
    if (p.kind == ProgressKind::gates_started) {
      ++started;
      EXPECT_EQ(p.data, nlohmann::json::object());
    }
  EXPECT_EQ(started, 2) << o.failure;
}

}  // namespace
