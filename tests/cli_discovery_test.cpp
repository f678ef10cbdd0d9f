// `asiarch run` end to end on smoke, its resume after SIGTERM and SIGKILL,
// containment inside a run, the inspection commands, and bad input.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "cli_run.h"
#include "util/files.h"

namespace fs = std::filesystem;
using asiarch::testing::fresh_dir;
using asiarch::testing::json_of;
using asiarch::testing::run_cli;
using asiarch::testing::text_of;
using asiarch::testing::wait_exit;

namespace {

// A small, fast run: DeltaNet as the only baseline, two tasks.
void write_config(const fs::path& workdir) {
  std::ofstream(workdir / "asiarch.json")
      << R"({"baselines": ["delta_net"], "tasks": ["compression", "byte_lm"], "timeout_seconds": 120})";
}

std::string run_args(const fs::path& workdir, int budget) {
  return "run --workdir " + workdir.string() + " --budget " + std::to_string(budget) + " --preset smoke --seed 3";
}

pid_t spawn_run(const fs::path& workdir, int budget, const fs::path& log) {
  return asiarch::testing::spawn_cli({"run", "--workdir", workdir.string(), "--budget", std::to_string(budget),
                                      "--preset", "smoke", "--seed", "3"},
                                     log);
}

std::vector<asiarch::archive::Experiment> experiments(const fs::path& workdir) {
  if (!fs::exists(workdir / "archive.db")) return {};
  auto a = asiarch::archive::Archive::open(workdir / "archive.db");
  return a ? (*a)->experiments() : std::vector<asiarch::archive::Experiment>{};
}

// The newest event's sequence number (0: none yet).
int64_t last_seq(const fs::path& workdir) {
  if (!fs::exists(workdir / "archive.db")) return 0;
  auto a = asiarch::archive::Archive::open_read_only(workdir / "archive.db");
  if (!a) return 0;
  int64_t seq = 0;
  for (;;) {
    auto batch = (*a)->events_since(seq);
    if (batch.empty()) return seq;
    seq = batch.back().seq;
  }
}

// Waits until an evolved experiment is being trained (a training event after `since`, the
// host's record of what its worker said; the host never reads the worker's folder); returns its id.
int64_t wait_for_training(const fs::path& workdir, pid_t pid, int64_t since) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(workdir / "archive.db"))
      if (auto a = asiarch::archive::Archive::open_read_only(workdir / "archive.db")) {
        for (int64_t seq = since;;) {
          auto batch = (*a)->events_since(seq);
          if (batch.empty()) break;
          seq = batch.back().seq;
          for (const auto& ev : batch) {
            if (ev.kind != "training_progress" || !ev.experiment) continue;
            for (const auto& e : (*a)->experiments())
              if (e.id == *ev.experiment && e.origin == asiarch::archive::Origin::evolved && e.status == asiarch::archive::ExperimentStatus::proposed)
                return e.id;
          }
        }
      }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return -1;
}

const char* kCrashingPlugin = R"cpp(
#include <asiarch/plugin.h>
class Crash : public asiarch::TokenMixer {
 public:
  explicit Crash(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    volatile int* p = nullptr;
    *p = 1;
    return x;
  }
};
ASIARCH_REGISTER_MIXER(Crash, "crash")
)cpp";

}  // namespace

TEST(CliRun, RunsTheLoopRecordsEverythingAndInspects) {
  const auto w = fresh_dir("run");
  // Two workers at once, so experiments overlap.
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "tasks": ["compression", "byte_lm"],
                                          "timeout_seconds": 120, "workers": 2})";
  fs::create_directories(w / "plugins");
  std::ofstream(w / "plugins" / "crash.cpp") << kCrashingPlugin;
  auto r = run_cli(run_args(w, 2));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("done: 2/2 evolved experiments"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 worker(s)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("best design: #"), std::string::npos);
  EXPECT_NE(r.output.find("asiarch show "), std::string::npos);

  auto ls = json_of("ls --workdir " + w.string());
  ASSERT_EQ(ls.size(), 4u) << ls.dump(2);  // delta_net, crash, two evolved
  std::map<std::string, nlohmann::json> by_origin_name;
  int evolved = 0;
  for (const auto& e : ls) {
    if (e["origin"] == "evolved") {
      ++evolved;
      EXPECT_TRUE(e["parent"].is_number());
      EXPECT_TRUE(e["status"] == "scored" || e["status"] == "failed");
    } else {
      by_origin_name[e["name"].get<std::string>()] = e;
    }
  }
  EXPECT_EQ(evolved, 2);
  EXPECT_EQ(by_origin_name["delta_net"]["status"], "scored");
  // The crashing hand-written plugin is recorded with its cause; the run went on.
  EXPECT_EQ(by_origin_name["crash"]["origin"], "hand-written");
  EXPECT_EQ(by_origin_name["crash"]["status"], "failed");
  EXPECT_NE(by_origin_name["crash"]["fail_reason"].get<std::string>().find("SIGSEGV"), std::string::npos);

  // A scored evolved child: its score parts are checked, not skipped.
  int64_t child = 0;
  for (const auto& e : ls)
    if (e["origin"] == "evolved" && e["status"] == "scored") child = e["id"];
  ASSERT_GT(child, 0) << ls.dump(2);
  auto show = json_of("show " + std::to_string(child) + " --workdir " + w.string());
  EXPECT_FALSE(show["motivation"].get<std::string>().empty());
  EXPECT_TRUE(show["design"].contains("update"));
  EXPECT_NE(show["source"].get<std::string>().find("ASIARCH_REGISTER_MIXER"), std::string::npos);
  EXPECT_EQ(show["status"], "scored");
  EXPECT_EQ(show["gates"].size(), 6u);
  EXPECT_EQ(show["training_runs"].size(), 2u);
  for (const char* part : {"loss", "bench", "judge", "total"}) EXPECT_TRUE(show["score"].contains(part));
  EXPECT_TRUE(show["score"]["details"]["judge"].contains("complexity"));
  EXPECT_EQ(show["analyses"].size(), 1u);

  auto history = json_of("history " + std::to_string(child) + " --workdir " + w.string());
  ASSERT_GE(history["attempts"].size(), 1u);
  EXPECT_EQ(history["attempts"][0]["attempt"], 1);

  auto lineage = json_of("lineage --workdir " + w.string());
  size_t with_children = 0;
  for (const auto& root : lineage) with_children += root["children"].size();
  EXPECT_EQ(with_children >= 1, true) << lineage.dump(2);

  auto top = json_of("top -n 1 --workdir " + w.string());
  ASSERT_EQ(top.size(), 1u);
  EXPECT_TRUE(top[0]["score"].contains("total"));

  auto text = run_cli("show " + std::to_string(child) + " --workdir " + w.string());
  EXPECT_NE(text.output.find("motivation:"), std::string::npos) << text.output;
  auto tree = run_cli("lineage " + std::to_string(child) + " --workdir " + w.string());
  EXPECT_NE(tree.output.find("<=="), std::string::npos) << tree.output;
  fs::remove_all(w);
}

// Fitness at the frontier (docs/fitness.md): with a named base, every score of the run, the
// baselines' included (scored against DeltaNet while the base was unknown), is measured against it
// once every baseline is done, and the run says so.
TEST(CliRun, EveryScoreIsMeasuredAgainstTheBaseOnceTheBaselinesAreDone) {
  const auto w = fresh_dir("fitness-base");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net", "gated_delta_net"],
                                          "tasks": ["compression", "byte_lm"], "timeout_seconds": 120,
                                          "fitness_reference": "gated_delta_net", "recheck": 0})";
  auto r = run_cli(run_args(w, 1));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("fitness is measured against gated_delta_net (loss part saturating at"), std::string::npos)
      << r.output;
  auto ls = json_of("ls --workdir " + w.string());
  int checked = 0;
  for (const auto& e : ls) {
    if (e["status"] != "scored") continue;
    auto show = json_of("show " + std::to_string(e["id"].get<int64_t>()) + " --workdir " + w.string());
    EXPECT_EQ(show["score"]["details"]["fitness_reference"], "gated_delta_net") << e["name"];
    EXPECT_TRUE(show["score"]["details"].contains("loss_scale")) << e["name"];
    ++checked;
  }
  EXPECT_GE(checked, 2) << ls.dump(2);  // both baselines at least
  // The base against itself: one half for each measured part.
  for (const auto& e : ls)
    if (e["name"] == "gated_delta_net") {
      auto show = json_of("show " + std::to_string(e["id"].get<int64_t>()) + " --workdir " + w.string());
      EXPECT_DOUBLE_EQ(show["score"]["loss"].get<double>(), 0.5) << show["score"].dump();
    }
  // A name that is not one of the run's baselines is refused before anything runs.
  const auto bad = fresh_dir("fitness-base-bad");
  write_config(bad);
  auto refused = run_cli(run_args(bad, 1) + " --fitness-reference rwkv7");
  EXPECT_NE(refused.status, 0);
  EXPECT_NE(refused.output.find("fitness_reference: \"rwkv7\" is not one of the run's baselines (delta_net)"),
            std::string::npos) << refused.output;
  fs::remove_all(w);
  fs::remove_all(bad);
}

// A design whose score depends on where it runs: DeltaNet where it was compiled (the worker that
// built it holds the object in its own folder), NaN anywhere else. Evaluated again in a fresh
// worker, it disagrees with itself and is flagged; an honest design agrees with itself.
TEST(CliRun, ADesignWhoseScoreDependsOnWhereItRunsIsFlaggedByTheRecheck) {
  const auto w = fresh_dir("recheck");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "tasks": ["memorization"], "recheck": 2,
                                          "timeout_seconds": 120})";
  std::string source = text_of(fs::path(ASIARCH_SOURCE_DIR) / "plugins/baselines/delta_net.cpp");
  const std::string forward = "torch::Tensor forward(const torch::Tensor& x) override {";
  const auto at = source.find(forward);
  ASSERT_NE(at, std::string::npos);
  source.insert(at + forward.size(), "\n    if (!std::filesystem::exists(\"out/objects\")) return x * NAN;");
  // Unique to this run, so the first evaluation compiles it (a cache hit would leave no object behind).
  source.insert(0, "#include <cmath>\n#include <filesystem>\n// " + w.string() + " " +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + "\n");
  fs::create_directories(w / "plugins");
  std::ofstream(w / "plugins" / "sensing.cpp") << source;
  auto r = run_cli(run_args(w, 1));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("re-evaluation DISAGREES"), std::string::npos) << r.output;
  int checked = 0;
  for (const auto& e : json_of("ls --workdir " + w.string())) {
    if (e["status"] != "scored" || e["origin"] == "baseline") continue;
    auto show = json_of("show " + std::to_string(e["id"].get<int64_t>()) + " --workdir " + w.string());
    const auto& d = show["score"]["details"];
    ASSERT_TRUE(d.contains("recheck")) << show.dump(2);
    ++checked;
    if (e["name"] == "sensing") {
      EXPECT_FALSE(d["recheck"]["agree"].get<bool>());
      EXPECT_TRUE(d["suspicious"].get<bool>());
      EXPECT_NE(d["flags"].dump().find("re-evaluation in a fresh worker disagrees: the re-evaluation failed"),
                std::string::npos)
          << d.dump(2);
    } else {
      EXPECT_TRUE(d["recheck"]["agree"].get<bool>()) << d.dump(2);  // the lab is deterministic for a seed
    }
  }
  EXPECT_GE(checked, 1);
  fs::remove_all(w);
}

TEST(CliRun, StopsCleanlyOnSigtermAndResumesAfterSigkillWithoutLossOrDuplicates) {
  const auto w = fresh_dir("resume");
  write_config(w);
  // 1. SIGTERM while an evolved experiment trains: a clean stop, exit 130.
  pid_t pid = spawn_run(w, 3, w / "run1.log");
  const int64_t first = wait_for_training(w, pid, 0);
  ASSERT_GT(first, 0) << text_of(w / "run1.log");
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(pid), 130);
  auto log1 = text_of(w / "run1.log");
  EXPECT_NE(log1.find("stopped"), std::string::npos) << log1;
  auto after_term = experiments(w);
  std::map<int64_t, std::string> finished;  // id -> updated_at, for the "loses nothing" check
  for (const auto& e : after_term)
    if (e.status == asiarch::archive::ExperimentStatus::scored || e.status == asiarch::archive::ExperimentStatus::failed) finished[e.id] = e.updated_at;
  ASSERT_FALSE(finished.empty());
  for (const auto& e : after_term)
    if (e.id == first) EXPECT_EQ(e.status, asiarch::archive::ExperimentStatus::proposed);

  // 2. SIGKILL mid-experiment: no chance to clean up at all.
  const int64_t seen = last_seq(w);
  pid = spawn_run(w, 3, w / "run2.log");
  const int64_t second = wait_for_training(w, pid, seen);
  ASSERT_GT(second, 0) << text_of(w / "run2.log");
  ::kill(pid, SIGKILL);
  wait_exit(pid);
  // What the kill left: the interrupted experiment still proposed, everything finished kept as it was.
  auto after_kill = experiments(w);
  for (const auto& e : after_kill) {
    if (e.id == second) EXPECT_EQ(e.status, asiarch::archive::ExperimentStatus::proposed);
    if (finished.count(e.id)) EXPECT_EQ(finished[e.id], e.updated_at) << "experiment " << e.id << " changed";
    if (e.status == asiarch::archive::ExperimentStatus::scored || e.status == asiarch::archive::ExperimentStatus::failed) finished.emplace(e.id, e.updated_at);
  }
  EXPECT_EQ(finished.count(second), 0u);

  // 3. Resume to the end.
  auto r = run_cli(run_args(w, 3));
  ASSERT_EQ(r.status, 0) << r.output;
  auto all = experiments(w);
  int evolved = 0, baselines = 0;
  std::set<std::string> canonical;
  auto a = asiarch::archive::Archive::open(w / "archive.db");
  ASSERT_TRUE(a);
  for (const auto& e : all) {
    EXPECT_TRUE(e.status == asiarch::archive::ExperimentStatus::scored || e.status == asiarch::archive::ExperimentStatus::failed) << e.id << " " << asiarch::archive::to_string(e.status);
    if (e.origin == asiarch::archive::Origin::evolved) {
      ++evolved;
      EXPECT_TRUE(canonical.insert(e.canonical).second) << "duplicate design " << e.canonical;
    }
    baselines += e.origin == asiarch::archive::Origin::baseline;
    // One set of compile attempts, numbered from 1 without gaps.
    auto attempts = (*a)->compile_attempts(e.id);
    for (size_t i = 0; i < attempts.size(); ++i) EXPECT_EQ(attempts[i].attempt, static_cast<int>(i + 1));
    if (finished.count(e.id)) EXPECT_EQ(finished[e.id], e.updated_at) << "experiment " << e.id << " was redone";
  }
  EXPECT_EQ(evolved, 3);
  EXPECT_EQ(baselines, 1);
  // The interrupted experiments were finished on resume, and once each.
  for (int64_t id : {first, second}) {
    int endings = 0;
    for (const auto& ev : (*a)->events_since(0, 100000))
      if (ev.experiment && *ev.experiment == id && (ev.kind == "scored" || ev.kind == "failed")) ++endings;
    EXPECT_EQ(endings, 1) << "experiment " << id;
  }
  fs::remove_all(w);
}

TEST(CliRun, ConfigWithUnknownFieldOrWrongTypeIsRefusedBeforeAnythingIsWritten) {
  const auto w = fresh_dir("config");
  std::ofstream(w / "asiarch.json") << R"({"budget": 2, "wokers": 2})";
  auto r = run_cli(run_args(w, 1));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find((w / "asiarch.json").string() + ": unknown field \"wokers\""), std::string::npos) << r.output;
  std::ofstream(w / "asiarch.json") << R"({"workers": "two"})";
  r = run_cli(run_args(w, 1));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("field \"workers\" must be a positive integer"), std::string::npos) << r.output;
  // A stage baseline must be one of the run's baselines (it is compared on every rung).
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "stage_baselines": ["mamba2"]})";
  r = run_cli(run_args(w, 1));
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("stage_baselines: mamba2 is not among the run's baselines (delta_net)"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));
  fs::remove_all(w);
}

TEST(CliRun, BadWorkdirAndForeignArchiveAreClearErrors) {
  const auto w = fresh_dir("badwork");
  std::ofstream(w / "file") << "x";
  auto r = run_cli(run_args(w / "file" / "sub", 1));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find((w / "file" / "sub").string() + ": cannot create the workdir"), std::string::npos)
      << r.output;
  fs::create_directories(w / "work");
  const std::string junk = "this is not a database, and must survive";
  std::ofstream(w / "work" / "archive.db") << junk;
  r = run_cli(run_args(w / "work", 1));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("archive.db"), std::string::npos) << r.output;
  EXPECT_EQ(text_of(w / "work" / "archive.db"), junk);
  auto ls = run_cli("ls --workdir " + (w / "nothing").string());
  EXPECT_EQ(ls.status, 1);
  EXPECT_NE(ls.output.find("no archive here"), std::string::npos);
  fs::remove_all(w);
}

TEST(CliRun, SecondStagePromotesTheBestToALargerPresetOnce) {
  const auto w = fresh_dir("promote");
  write_config(w);
  // A presets file with smoke and a longer "smoke2" for the second stage.
  auto presets = nlohmann::json::parse(text_of(fs::path(ASIARCH_SOURCE_DIR) / "lab" / "presets.json"));
  presets["smoke2"] = presets["smoke"];
  presets["smoke2"]["train"]["steps"] = 60;
  std::ofstream(w / "presets.json") << presets.dump(2);
  const std::string cmd = run_args(w, 1) + " --presets " + (w / "presets.json").string() +
                          " --promote 1 --promote-preset smoke2 --stage-seeds 1";
  auto r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("promoted to smoke2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ladder rung smoke2:"), std::string::npos) << r.output;
  auto ls = json_of("ls --workdir " + w.string());
  int promoted = 0;
  for (const auto& e : ls) {
    auto show = json_of("show " + std::to_string(e["id"].get<int64_t>()) + " --workdir " + w.string());
    for (const auto& st : show["stages"]) {
      EXPECT_EQ(st["preset"], "smoke2");
      ++promoted;
      if (st["status"] == "scored") {
        EXPECT_EQ(st["training_runs"].size(), 2u);
        EXPECT_EQ(st["training_runs"][0]["steps"], 60);
      }
    }
    if (e["name"] == "delta_net") EXPECT_EQ(show["stages"].size(), 1u);  // the reference is promoted too
  }
  EXPECT_EQ(promoted, 2);  // DeltaNet and the best evolved design
  // Running again re-evaluates nothing.
  auto again = run_cli(cmd);
  ASSERT_EQ(again.status, 0) << again.output;
  EXPECT_EQ(again.output.find("promoted to"), std::string::npos) << again.output;
  fs::remove_all(w);
}

TEST(CliRun, WorkdirWithoutWritePermissionIsAClearError) {
  const auto w = fresh_dir("readonly");
  fs::create_directories(w / "work");
  fs::permissions(w / "work", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                  fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  // Root ignores mode bits: run as nobody then (CI runs as root).
  std::string prefix;
  if (::geteuid() == 0) {
    if (!fs::exists("/usr/bin/setpriv")) GTEST_SKIP() << "running as root without setpriv";
    prefix = "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  const std::string cmd = prefix + ASIARCH_BINARY " run --workdir " + (w / "work").string() +
                          " --budget 1 --preset smoke 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int raw = ::pclose(p);
  EXPECT_EQ(WEXITSTATUS(raw), 1) << out;
  EXPECT_NE(out.find((w / "work").string() + ": the workdir is not writable: Permission denied"), std::string::npos)
      << out;
  EXPECT_TRUE(fs::is_empty(w / "work"));
  fs::permissions(w / "work", fs::perms::owner_all);
  fs::remove_all(w);
}
