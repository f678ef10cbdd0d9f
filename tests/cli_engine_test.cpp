// The engine end to end, through the CLI: hand-written plugins as parents,
// runtime failures handed to the Engineer, a compile worker that dies, the
// ordered event stream of an experiment, `asiarch events --follow` on a run
// that is going on, and bad agent configuration.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <set>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "engine/llm_calls.h"
#include "llm/fake_server.h"
#include "cli_run.h"
#include "util/files.h"

namespace fs = std::filesystem;
using asiarch::testing::fresh_dir;
using asiarch::testing::run_cli;
using asiarch::testing::text_of;
using asiarch::testing::wait_exit;

namespace {

std::unique_ptr<asiarch::archive::Archive> open_archive(const fs::path& w) {
  auto a = asiarch::archive::Archive::open(w / "archive.db");
  EXPECT_TRUE(a) << (a ? "" : a.error().message);
  return a ? std::move(*a) : nullptr;
}

const asiarch::archive::Experiment* by_name(const std::vector<asiarch::archive::Experiment>& all,
                                            const std::string& name) {
  for (const auto& e : all)
    if (e.name == name) return &e;
  return nullptr;
}

// Throws from forward once it sees a training batch (16 on smoke); the gates use batches of 2 and 3.
const char* kThrowsInTraining = R"cpp(
#include <asiarch/plugin.h>
class ThrowsInTraining : public asiarch::TokenMixer {
 public:
  // About DeltaNet's parameter count at the same width, so the budget gate passes.
  explicit ThrowsInTraining(const asiarch::MixerConfig& cfg)
      : up_(register_module("up", torch::nn::Linear(cfg.d_model, 2 * cfg.d_model))),
        down_(register_module("down", torch::nn::Linear(2 * cfg.d_model, cfg.d_model))) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    if (x.size(0) >= 8) throw std::runtime_error("state cache overflow at batch " + std::to_string(x.size(0)));
    return down_->forward(torch::silu(up_->forward(x)));
  }
 private:
  torch::nn::Linear up_, down_;
};
ASIARCH_REGISTER_MIXER(ThrowsInTraining, "throws_in_training")
)cpp";

// Its static initialiser runs when the object is loaded, in the compile worker.
const char* kCrashesOnLoad = R"cpp(
#include <asiarch/plugin.h>
struct CrashOnLoad {
  CrashOnLoad() {
    volatile int* p = nullptr;
    *p = 1;
  }
} crash_on_load;
class Harmless : public asiarch::TokenMixer {
 public:
  explicit Harmless(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(Harmless, "crashes_on_load")
)cpp";

// Steps on smoke's selective copying by half of which DeltaNet is clearly ahead of a mixer without
// token mixing (measured: training loss 2.05 against 2.65 at step 120 of 240, seed 0).
constexpr int64_t kCopySteps = 240;

}  // namespace

TEST(Engine, AHandWrittenPluginIsChosenAsAParent) {
  const auto w = fresh_dir("engine-parent");
  // No baselines: the dropped plugin is the only scored experiment, so it must be the parent.
  std::ofstream(w / "asiarch.json") << R"({"baselines": [], "tasks": ["compression", "byte_lm"], "timeout_seconds": 120})";
  fs::create_directories(w / "plugins");
  std::string source = text_of(fs::path(ASIARCH_SOURCE_DIR) / "plugins" / "baselines" / "delta_net.cpp");
  ASSERT_FALSE(source.empty());
  const auto at = source.find("\"delta_net\"");
  ASSERT_NE(at, std::string::npos);
  source.replace(at, 11, "\"my_delta\"");
  std::ofstream(w / "plugins" / "my_delta.cpp") << "// my own DeltaNet\n" << source;
  auto r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke --seed 2");
  ASSERT_EQ(r.status, 0) << r.output;
  auto a = open_archive(w);
  ASSERT_TRUE(a);
  const auto all = a->experiments();
  const auto* hand = by_name(all, "my_delta");
  ASSERT_TRUE(hand);
  EXPECT_EQ(hand->origin, asiarch::archive::Origin::hand_written);
  EXPECT_EQ(hand->status, asiarch::archive::ExperimentStatus::scored) << hand->fail_reason;
  int children = 0;
  for (const auto& e : all) {
    if (e.origin != asiarch::archive::Origin::evolved) continue;
    ++children;
    ASSERT_TRUE(e.parent);
    EXPECT_EQ(*e.parent, hand->id);
    EXPECT_NE(e.motivation.find("has no design in the gene space"), std::string::npos) << e.motivation;
    EXPECT_NE(e.motivation.find("nearest design-bearing"), std::string::npos) << e.motivation;
    EXPECT_FALSE(e.design.empty());
    EXPECT_TRUE(e.status == asiarch::archive::ExperimentStatus::scored || e.status == asiarch::archive::ExperimentStatus::failed);
  }
  EXPECT_EQ(children, 1);
  fs::remove_all(w);
}

// A mixer without token mixing (a per-token MLP) cannot copy: on selective copying it is clearly
// behind DeltaNet by half of its steps. The monitor stops it there: recorded as stopped with the
// figures it had, never scored, never a parent; the evolved child after it draws DeltaNet.
const char* kNoMixing = R"cpp(
#include <asiarch/plugin.h>
class NoMixing : public asiarch::TokenMixer {
 public:
  explicit NoMixing(const asiarch::MixerConfig& cfg)
      : up_(register_module("up", torch::nn::Linear(cfg.d_model, 2 * cfg.d_model))),
        down_(register_module("down", torch::nn::Linear(2 * cfg.d_model, cfg.d_model))) {}
  torch::Tensor forward(const torch::Tensor& x) override { return down_->forward(torch::silu(up_->forward(x))); }
 private:
  torch::nn::Linear up_, down_;
};
ASIARCH_REGISTER_MIXER(NoMixing, "no_mixing")
)cpp";

TEST(Engine, AClearLoserIsStoppedEarlyRecordedWithItsFiguresAndNeverAParent) {
  const auto w = fresh_dir("engine-early-stop");
  auto presets = nlohmann::json::parse(text_of(fs::path(ASIARCH_SOURCE_DIR) / "lab" / "presets.json"));
  presets["smoke"]["train"]["steps"] = kCopySteps;
  presets["smoke"]["monitor"] = {{"stop_at", {0.5}}, {"stop_sigmas", 6}, {"stop_min_gap", 0.2}, {"time_factor", 6}};
  std::ofstream(w / "presets.json") << presets.dump(2);
  // DeltaNet and the dropped loser on two tasks, on the default single seed: with early stopping
  // on, DeltaNet is trained on two seeds all the same, since the rule measures its spread over
  // seeds and stops nothing against one.
  auto workdir = [&](const fs::path& dir, const std::string& early_stop) {
    std::ofstream(dir / "asiarch.json") << R"({"baselines": ["delta_net"], "tasks": ["selective_copying", "compression"],
      "timeout_seconds": 300, "early_stop": ")" << early_stop << R"(", "presets_file": ")"
                                        << (w / "presets.json").string() << R"("})";
    fs::create_directories(dir / "plugins");
    std::ofstream(dir / "plugins" / "no_mixing.cpp") << kNoMixing;
  };
  workdir(w, "on");
  auto r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke --seed 3");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("STOPPED EARLY"), std::string::npos) << r.output;
  auto a = open_archive(w);
  ASSERT_TRUE(a);
  const auto all = a->experiments();
  const auto* loser = by_name(all, "no_mixing");
  ASSERT_TRUE(loser);
  EXPECT_EQ(loser->status, asiarch::archive::ExperimentStatus::stopped) << loser->fail_reason;
  EXPECT_NE(loser->fail_reason.find("selective_copying: stopped early: loss "), std::string::npos) << loser->fail_reason;
  EXPECT_FALSE(a->score(loser->id));  // never a completed score
  const auto runs = a->training_runs(loser->id);
  ASSERT_EQ(runs.size(), 2u);  // the stopped task with its figures, the later one not trained
  EXPECT_EQ(runs[0].task, "selective_copying");
  EXPECT_EQ(runs[0].stop_reason.rfind("stopped early:", 0), 0u) << runs[0].stop_reason;
  EXPECT_EQ(runs[0].steps, kCopySteps / 2);
  EXPECT_FALSE(runs[0].curve.empty());
  EXPECT_EQ(runs[1].task, "compression");
  EXPECT_EQ(runs[1].steps, 0);
  EXPECT_NE(runs[1].stop_reason.find("not trained: the evaluation stopped early on selective_copying"), std::string::npos)
      << runs[1].stop_reason;
  EXPECT_GE(a->count_events({"stopped_early"}), 1);  // the evolved child may be a loser too
  auto seeds_of = [](const asiarch::archive::Archive& archive, int64_t id) {
    std::set<int64_t> seeds;
    for (const auto& m : archive.measurements(id)) seeds.insert(m.seed);
    return seeds.size();
  };
  const auto* delta = by_name(all, "delta_net");
  ASSERT_TRUE(delta);
  EXPECT_EQ(seeds_of(*a, delta->id), 2u);
  EXPECT_EQ(seeds_of(*a, loser->id), 0u);  // stopped: its training runs, never a measurement
  int children = 0;
  for (const auto& e : all) {
    if (e.origin != asiarch::archive::Origin::evolved) continue;
    ++children;
    ASSERT_TRUE(e.parent);
    EXPECT_NE(*e.parent, loser->id);
    for (int64_t ref : e.references) EXPECT_NE(ref, loser->id);
  }
  EXPECT_EQ(children, 1);
  // The same run with early stopping off trains the loser to the end and scores it.
  const auto w2 = fresh_dir("engine-early-stop-off");
  workdir(w2, "off");
  auto off = run_cli("run --workdir " + w2.string() + " --budget 0 --preset smoke --seed 3");
  ASSERT_EQ(off.status, 0) << off.output;
  auto a2 = open_archive(w2);
  ASSERT_TRUE(a2);
  const auto all2 = a2->experiments();
  const auto* trained = by_name(all2, "no_mixing");
  ASSERT_TRUE(trained);
  EXPECT_EQ(trained->status, asiarch::archive::ExperimentStatus::scored) << trained->fail_reason;
  for (const auto& t : a2->training_runs(trained->id)) EXPECT_EQ(t.steps, kCopySteps) << t.task;
  const auto* delta2 = by_name(all2, "delta_net");
  ASSERT_TRUE(delta2);
  EXPECT_EQ(seeds_of(*a2, delta2->id), 1u);  // without the rule, the run's one seed
  fs::remove_all(w);
  fs::remove_all(w2);
}

TEST(Engine, RuntimeFailureGoesToTheEngineerAndADeadCompileWorkerIsRecorded) {
  const auto w = fresh_dir("engine-runtime");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "tasks": ["compression"], "timeout_seconds": 120})";
  fs::create_directories(w / "plugins");
  std::ofstream(w / "plugins" / "throws_in_training.cpp") << kThrowsInTraining;
  std::ofstream(w / "plugins" / "crashes_on_load.cpp") << kCrashesOnLoad;
  auto r = run_cli("run --workdir " + w.string() + " --budget 0 --preset smoke");
  ASSERT_EQ(r.status, 0) << r.output;
  auto a = open_archive(w);
  ASSERT_TRUE(a);
  const auto all = a->experiments();

  // The exception in the first training step is a runtime attempt given to the Engineer.
  const auto* thrower = by_name(all, "throws_in_training");
  ASSERT_TRUE(thrower);
  auto ra = a->runtime_attempts(thrower->id);
  ASSERT_EQ(ra.size(), 1u);
  EXPECT_EQ(ra[0].revision, 1);
  EXPECT_EQ(ra[0].stage, "training");
  EXPECT_NE(ra[0].failure.find("state cache overflow at batch"), std::string::npos) << ra[0].failure;
  EXPECT_NE(ra[0].failure.find("compression"), std::string::npos) << ra[0].failure;
  EXPECT_FALSE(ra[0].revised);  // the offline Engineer has no rule for it, and says so
  EXPECT_NE(ra[0].method.find("declined"), std::string::npos) << ra[0].method;
  EXPECT_NE(ra[0].source.find("ThrowsInTraining"), std::string::npos);
  // The gates passed: they saw batches of 2 and 3.
  for (const auto& g : a->gates(thrower->id))
    if (g.name != "parameter_budget" && g.name != "complexity") EXPECT_TRUE(g.passed) << g.name << ": " << g.reason;

  // The compile worker died loading the object: the attempt says why, and the run went on.
  const auto* crasher = by_name(all, "crashes_on_load");
  ASSERT_TRUE(crasher);
  EXPECT_EQ(crasher->status, asiarch::archive::ExperimentStatus::failed);
  auto attempts = a->compile_attempts(crasher->id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_FALSE(attempts[0].ok);
  EXPECT_NE(attempts[0].failure.find("SIGSEGV"), std::string::npos) << attempts[0].failure;
  EXPECT_NE(crasher->fail_reason.find("SIGSEGV"), std::string::npos) << crasher->fail_reason;
  const auto* dn = by_name(all, "delta_net");
  ASSERT_TRUE(dn);
  EXPECT_EQ(dn->status, asiarch::archive::ExperimentStatus::scored);

  // The history view shows the runtime attempt beside the compile attempts.
  auto h = run_cli("history " + std::to_string(thrower->id) + " --json --workdir " + w.string());
  ASSERT_EQ(h.status, 0) << h.output;
  auto hj = nlohmann::json::parse(h.output);
  ASSERT_EQ(hj["runtime_attempts"].size(), 1u) << h.output;
  EXPECT_EQ(hj["runtime_attempts"][0]["stage"], "training");
  fs::remove_all(w);
}

TEST(Engine, AnExperimentsEventsComeInOrderAndFollowSeesThemAsTheyHappen) {
  const auto w = fresh_dir("engine-events");
  // No recheck: whether the child beats DeltaNet on smoke is chance (the design space decides the
  // child), and a recheck is a second evaluation with its own worker; this test follows one.
  std::ofstream(w / "asiarch.json")
      << R"({"baselines": ["delta_net"], "tasks": ["compression", "byte_lm"], "timeout_seconds": 120, "recheck": 0})";
  const pid_t run = asiarch::testing::spawn_cli({"run", "--workdir", w.string(), "--budget", "1", "--preset", "smoke", "--seed", "5"},
                          w / "run.log");
  // Follow from as soon as the archive exists.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (!fs::exists(w / "archive.db") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(w / "archive.db")) << text_of(w / "run.log");
  const pid_t follow = asiarch::testing::spawn_cli({"events", "--follow", "--json", "--workdir", w.string()}, w / "follow.log");
  // While the run goes on, the follower must show an evolved experiment's training progress
  // before that experiment is recorded as finished.
  bool seen_live = false;
  int64_t evolved = 0;
  while (!seen_live && std::chrono::steady_clock::now() < deadline && waitpid(run, nullptr, WNOHANG) == 0) {
    std::istringstream lines(text_of(w / "follow.log"));
    std::string line;
    while (std::getline(lines, line)) {
      nlohmann::json e;
      try {
        e = nlohmann::json::parse(line);
      } catch (const std::exception&) {
        continue;
      }
      if (e["kind"] == "experiment_proposed") evolved = e["experiment"];
      if (evolved && e["kind"] == "training_progress" && e["experiment"] == evolved) {
        auto a = asiarch::archive::Archive::open(w / "archive.db");
        if (a && (*a)->experiment(evolved)->status == asiarch::archive::ExperimentStatus::proposed) seen_live = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(seen_live) << text_of(w / "follow.log");
  EXPECT_EQ(wait_exit(run), 0) << text_of(w / "run.log");
  ::kill(follow, SIGTERM);
  EXPECT_EQ(wait_exit(follow), 0) << text_of(w / "follow.log");

  // The evolved experiment's event kinds, in order.
  auto a = open_archive(w);
  ASSERT_TRUE(a);
  std::vector<std::string> kinds;
  int64_t last = 0;
  for (const auto& e : a->events_since(0, 100000)) {
    EXPECT_GT(e.seq, last);
    last = e.seq;
    if (e.experiment && *e.experiment == evolved) kinds.push_back(e.kind);
  }
  auto pos = [&](const std::string& k) {
    auto it = std::find(kinds.begin(), kinds.end(), k);
    return it == kinds.end() ? -1 : static_cast<int>(it - kinds.begin());
  };
  const std::vector<std::string> order = {"experiment_proposed", "experiment_started", "compile_attempt",
                                          "gates_started",       "gate",
                                          "task_started",        "training_progress",  "task_finished"};
  int prev = -1;
  std::string all;
  for (const auto& k : kinds) all += k + " ";
  for (const auto& k : order) {
    const int p = pos(k);
    EXPECT_GT(p, prev) << k << " out of order in: " << all;
    prev = std::max(prev, p);
  }
  const int end = std::max(pos("scored"), pos("failed"));
  EXPECT_GT(end, prev) << all;
  EXPECT_EQ(kinds.back(), "analysed") << all;
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "gate"), 6) << all;
  // One worker: it compiled the source and was reused for the evaluation (or, when an earlier
  // test had built the same design, the cached object went straight to an evaluating worker).
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "worker_started"), 1) << all;
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "worker_ended"), 1) << all;
  EXPECT_LT(pos("worker_started"), pos("gates_started")) << all;
  if (pos("worker_reused") >= 0) EXPECT_LT(pos("compile_attempt"), pos("worker_reused")) << all;
  EXPECT_LT(pos("task_finished"), pos("worker_ended")) << all;
  // The run's own start and end.
  auto events = a->events_since(0, 100000);
  EXPECT_EQ(events.front().kind, "note");
  EXPECT_EQ(events.back().kind, "run_stopped");
  fs::remove_all(w);
}

TEST(Engine, RunPrintsEventsAsJsonLines) {
  const auto w = fresh_dir("engine-jsonl");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "tasks": ["compression"], "timeout_seconds": 120})";
  const std::string cmd = "ASIARCH_CACHE_DIR=" ASIARCH_TEST_CACHE " " ASIARCH_BINARY " run --workdir " + w.string() +
                          " --budget 0 --preset smoke --events jsonl 2>/dev/null";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(WEXITSTATUS(::pclose(p)), 0) << out;
  std::istringstream lines(out);
  std::string line;
  std::vector<std::string> kinds;
  int64_t last = 0;
  while (std::getline(lines, line)) {
    auto e = nlohmann::json::parse(line);  // every line of stdout is one event
    for (const char* k : {"seq", "time", "kind", "experiment", "data"}) EXPECT_TRUE(e.contains(k)) << line;
    EXPECT_GT(e["seq"].get<int64_t>(), last);
    last = e["seq"];
    kinds.push_back(e["kind"]);
  }
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "scored"), kinds.end());
  EXPECT_EQ(kinds.back(), "run_stopped");
  fs::remove_all(w);
}

TEST(Engine, AnUnknownAgentBackendOrExecutorIsRefusedBeforeAnythingIsWritten) {
  const auto w = fresh_dir("engine-backend");
  std::ofstream(w / "asiarch.json") << R"({"agents": {"engineer": "gpt-9"}})";
  auto r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("agents.engineer: unknown backend \"gpt-9\"; known backends: offline"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));
  std::ofstream(w / "asiarch.json") << R"({"executor": "kubernetes"})";
  r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("unknown executor \"kubernetes\"; known executors: local"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));
  fs::remove_all(w);
}

namespace {

// How many times the JSON-lines log `log` says experiment `id` was started.
int starts_of(const fs::path& log, int64_t id) {
  int n = 0;
  std::istringstream in(text_of(log));
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.value("kind", "") == "experiment_started" && j["experiment"] == id) ++n;
  }
  return n;
}

}  // namespace

// The host dies (here: killed) twice while the same experiment is in flight: on the next start that
// experiment is failed as having killed the host, and the run goes on; once is not enough.
TEST(CliEngine, AnExperimentInFlightWhenTheHostDiedTwiceIsFailedAndTheRunGoesOn) {
  const auto w = fresh_dir("poison-pill");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0})";
  const std::vector<std::string> args = {"run", "--workdir", w.string(), "--preset", "smoke", "--budget", "1",
                                         "--events", "jsonl", "--seed", "3"};
  for (int death = 1; death <= 2; ++death) {
    const auto log = w / ("run-" + std::to_string(death) + ".log");
    const pid_t host = asiarch::testing::spawn_cli(args, log);
    ASSERT_TRUE(asiarch::testing::wait_until([&] { return starts_of(log, 2) > 0; }, 300)) << text_of(log);
    ::kill(host, SIGKILL);
    wait_exit(host);
    auto a = asiarch::archive::Archive::open_read_only(w / "archive.db");
    ASSERT_TRUE(a);
    ASSERT_EQ((*a)->experiment(2)->status, asiarch::archive::ExperimentStatus::proposed) << "death " << death;
  }
  auto r = run_cli("run --workdir " + w.string() + " --preset smoke --budget 1 --seed 3");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("killed the host"), std::string::npos) << r.output;
  auto a = asiarch::archive::Archive::open_read_only(w / "archive.db");
  ASSERT_TRUE(a);
  const auto e = (*a)->experiment(2);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, asiarch::archive::ExperimentStatus::failed);
  EXPECT_NE(e->fail_reason.find("killed the host"), std::string::npos) << e->fail_reason;
  EXPECT_EQ((*a)->experiment(1)->status, asiarch::archive::ExperimentStatus::scored);  // the reference is unharmed
}

// A resumed run asks its LLM nothing it was already answered: the answer comes from the archive
// (not a log in memory), is marked replayed and costs nothing again; a failed call is not replayed.
TEST(CliEngine, LlmAnswersAreReplayedFromTheArchiveAndFailuresAreAskedAgain) {
  namespace llm = asiarch::agents::llm;
  const auto d = fresh_dir("replay-archive");
  asiarch::testing::FakeLlm server(d / "server", {{"answers", {{{"status", 500}, {"content", "down"}},
                                                               {{"content", "the answer"},
                                                                {"usage", {{"prompt_tokens", 100}, {"completion_tokens", 10}}}}}}});
  llm::Config c;
  c.url = server.url();
  c.model = "test-model";
  c.max_retries = 0;
  c.timeout_seconds = 5;
  c.prices = {{"test-model", {{"input_per_mtok", 1.0}, {"output_per_mtok", 1.0}}}};
  const llm::Request ask{"researcher", "propose", "researcher", 1, {{"system", "be brief"}, {"user", "propose"}}};
  auto session = [&](const std::function<void(llm::Client&)>& body) {
    auto a = asiarch::archive::Archive::open(d / "archive.db");
    ASSERT_TRUE(a) << a.error().message;
    asiarch::host::ArchiveCallLog log;
    log.bind(a->get(), nullptr);
    llm::Client client(c, "", &log);
    body(client);
  };
  session([&](llm::Client& client) {
    auto failed = client.chat(ask);
    EXPECT_FALSE(failed.ok);
    client.finish(failed.call, llm::Use::unusable, "error");
    auto answered = client.chat(ask);  // the same request again: the failure is not replayed
    ASSERT_TRUE(answered.ok) << answered.error;
    EXPECT_FALSE(answered.call.replayed);
    client.finish(answered.call, llm::Use::usable, "parsed");
  });
  ASSERT_EQ(server.requests().size(), 2u);
  session([&](llm::Client& client) {  // a new process on the same archive: a resumed run
    auto again = client.chat(ask);
    ASSERT_TRUE(again.ok) << again.error;
    EXPECT_TRUE(again.call.replayed);
    EXPECT_EQ(again.content, "the answer");
    client.finish(again.call, llm::Use::usable, "parsed");
  });
  EXPECT_EQ(server.requests().size(), 2u) << "the endpoint was asked again";
  auto a = asiarch::archive::Archive::open_read_only(d / "archive.db");
  ASSERT_TRUE(a);
  const auto calls = (*a)->llm_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_FALSE(calls[0].error.empty());
  EXPECT_TRUE(calls[2].replayed);
  EXPECT_EQ(calls[2].cost_usd, 0);
  EXPECT_DOUBLE_EQ((*a)->llm_spent_usd(), calls[1].cost_usd);
  EXPECT_GT(calls[1].cost_usd, 0);
}

// An answer its role could not use is stored as such and never replayed, in this process or a
// resumed one; and once the newest answer to a request is unusable (a replayed one found unusable
// under a stricter check), the request is asked again.
TEST(CliEngine, AnUnusableLlmAnswerIsNeverReplayedFromTheArchive) {
  namespace llm = asiarch::agents::llm;
  const auto d = fresh_dir("replay-unusable");
  asiarch::testing::FakeLlm server(d / "server", {{"default", {{"content", "prose, no design"}}}});
  llm::Config c;
  c.url = server.url();
  c.model = "test-model";
  c.max_retries = 0;
  c.timeout_seconds = 5;
  const llm::Request ask{"researcher", "propose", "researcher", 1, {{"system", "be brief"}, {"user", "propose"}}};
  auto session = [&](const std::function<void(llm::Client&)>& body) {
    auto a = asiarch::archive::Archive::open(d / "archive.db");
    ASSERT_TRUE(a) << a.error().message;
    asiarch::host::ArchiveCallLog log;
    log.bind(a->get(), nullptr);
    llm::Client client(c, "", &log);
    body(client);
  };
  session([&](llm::Client& client) {
    auto first = client.chat(ask);
    ASSERT_TRUE(first.ok) << first.error;
    client.finish(first.call, llm::Use::unusable, "unusable: no code");
    auto second = client.chat(ask);
    ASSERT_TRUE(second.ok) << second.error;
    EXPECT_FALSE(second.call.replayed);
    client.finish(second.call, llm::Use::usable, "parsed: json");
  });
  ASSERT_EQ(server.requests().size(), 2u);
  session([&](llm::Client& client) {  // resumed: the usable answer is replayed, then found unusable
    auto again = client.chat(ask);
    ASSERT_TRUE(again.ok);
    EXPECT_TRUE(again.call.replayed);
    client.finish(again.call, llm::Use::unusable, "unusable: a stricter check");
    auto fresh = client.chat(ask);
    EXPECT_FALSE(fresh.call.replayed);
    client.finish(fresh.call, llm::Use::unusable, "unusable: no code");
  });
  EXPECT_EQ(server.requests().size(), 3u);
  auto a = asiarch::archive::Archive::open_read_only(d / "archive.db");
  ASSERT_TRUE(a);
  const auto calls = (*a)->llm_calls();
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_FALSE(calls[0].usable);
  EXPECT_TRUE(calls[1].usable);
  EXPECT_FALSE(calls[2].usable);
  EXPECT_FALSE((*a)->answered_llm_call(calls[0].key)) << "the newest answer was unusable";
}
