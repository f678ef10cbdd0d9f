// The slurm executor against a real one-node Slurm (munged, slurmctld and slurmd, started by
// tests/slurm/cluster.sh with all state in a temporary folder), driven through the CLI as a
// user would: whole runs, a job cancelled by hand, a job over its time limit, a bad
// partition, and the host killed and restarted while its job runs.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "util/process.h"

using namespace asiarch::testing;
namespace fs = std::filesystem;

namespace {

fs::path cluster_dir;

class Slurm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_dir = fresh_dir("slurm-cluster");
    auto r = asiarch::run_process({"bash", ASIARCH_SOURCE_DIR "/tests/slurm/cluster.sh", "start", cluster_dir.string()}, 120);
    ASSERT_TRUE(r && r->code == 0) << (r ? r->out + r->err : r.error().message);
    // The CLI (and sbatch, squeue, ...) find the cluster through SLURM_CONF.
    ::setenv("SLURM_CONF", (cluster_dir / "slurm.conf").c_str(), 1);
  }
  static void TearDownTestSuite() {
    (void)asiarch::run_process({"bash", ASIARCH_SOURCE_DIR "/tests/slurm/cluster.sh", "stop", cluster_dir.string()}, 60);
    fs::remove_all(cluster_dir);
  }
};

void write_config(const fs::path& w, const std::string& slurm_extra = "") {
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "executor": "slurm",
    "slurm": {"shared_dir": ")" << (w / "shared").string() << R"(", "partition": "debug")" << slurm_extra << "}}";
}

std::vector<nlohmann::json> events(const fs::path& w) {
  std::vector<nlohmann::json> out;
  auto r = run_cli("events --json --workdir " + w.string());
  std::istringstream in(r.output);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) out.push_back(j);
  }
  return out;
}

nlohmann::json experiments(const fs::path& w) {
  auto r = run_cli("ls --json --workdir " + w.string());
  return nlohmann::json::parse(r.output, nullptr, false);
}

// The Slurm job id running experiment `e` now (squeue), or "".
std::string running_job_of(int64_t e) {
  auto r = asiarch::run_process({"squeue", "-h", "-n", "asiarch-e" + std::to_string(e), "-t", "RUNNING", "-o", "%i"}, 30);
  if (!r || r->code != 0) return "";
  std::string id = r->out.substr(0, r->out.find('\n'));
  return id;
}

// Starts `run --budget 1 --preset smoke` on `w` (logging to `log`) and waits until experiment 2's
// job runs on the cluster: its Slurm job id, or "" when it never did.
std::string start_until_evaluating(const fs::path& w, const fs::path& log, pid_t& host) {
  write_config(w);
  host = spawn_cli({"run", "--workdir", w.string(), "--budget", "1", "--preset", "smoke"}, log);
  std::string job;
  wait_until([&] { return !(job = running_job_of(2)).empty(); }, 240);
  return job;
}

// Slurm job ids the events say each experiment's evaluation was given.
std::map<int64_t, std::set<std::string>> slurm_jobs(const std::vector<nlohmann::json>& evs) {
  std::map<int64_t, std::set<std::string>> m;
  for (const auto& e : evs)
    if (e["kind"] == "worker_started" && e["data"].value("executor", "") == "slurm")
      m[e["experiment"].get<int64_t>()].insert(e["data"]["slurm_job"].get<std::string>());
  return m;
}

int finished_count(const std::vector<nlohmann::json>& evs, int64_t id) {
  int n = 0;
  for (const auto& e : evs)
    if ((e["kind"] == "scored" || e["kind"] == "failed") && e["experiment"] == id) ++n;
  return n;
}

}  // namespace

TEST_F(Slurm, ARunEvaluatesEachCandidateAsABatchJob) {
  const auto w = fresh_dir("slurm-run");
  write_config(w);
  auto r = run_cli("run --workdir " + w.string() + " --budget 2 --preset smoke");
  ASSERT_EQ(r.status, 0) << r.output;
  auto all = experiments(w);
  ASSERT_EQ(all.size(), 3u) << all.dump();
  for (const auto& e : all) EXPECT_TRUE(e["status"] == "scored" || e["status"] == "failed") << e.dump();
  EXPECT_EQ(all[0]["status"], "scored") << r.output;  // the reference, trained on the cluster
  const auto evs = events(w);
  const auto jobs = slurm_jobs(evs);
  EXPECT_EQ(jobs.size(), 3u);  // every evaluation went to Slurm
  // One job per evaluation, one seed each (smoke never stops early, so DeltaNet gets no second seed).
  for (const auto& [e, ids] : jobs) EXPECT_EQ(ids.size(), 1u) << "experiment " << e;
  // Training progress came back from the node through the shared folder.
  EXPECT_TRUE(std::any_of(evs.begin(), evs.end(), [](const nlohmann::json& e) { return e["kind"] == "gate"; }));
  // Released: nothing left in the shared folder's jobs.
  EXPECT_TRUE(fs::is_empty(w / "shared" / "jobs"));
  fs::remove_all(w);
}

TEST_F(Slurm, ABadPartitionIsAClearErrorBeforeAnythingRuns) {
  const auto w = fresh_dir("slurm-partition");
  std::ofstream(w / "asiarch.json") << R"({"executor": "slurm", "slurm": {"shared_dir": ")" << (w / "shared").string()
                                    << R"(", "partition": "nope"}})";
  auto r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("slurm.partition: Slurm has no partition \"nope\""), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(w / "archive.db"));
  fs::remove_all(w);
}

TEST_F(Slurm, AJobCancelledByHandIsRecordedAndSubmittedOnceMore) {
  const auto w = fresh_dir("slurm-scancel");
  pid_t host = -1;
  const std::string job = start_until_evaluating(w, w / "run.log", host);
  ASSERT_FALSE(job.empty()) << text_of(w / "run.log");
  auto c = asiarch::run_process({"scancel", job}, 30);
  ASSERT_TRUE(c && c->code == 0);
  EXPECT_EQ(wait_exit(host), 0) << text_of(w / "run.log");
  const auto evs = events(w);
  bool resubmitted = false;
  for (const auto& e : evs)
    if (e["kind"] == "slurm_resubmitted" && e["experiment"] == 2) {
      resubmitted = true;
      EXPECT_EQ(e["data"]["previous_job"], job);
      EXPECT_EQ(e["data"]["state"].get<std::string>().rfind("CANCELLED", 0), 0u) << e.dump();
    }
  EXPECT_TRUE(resubmitted) << text_of(w / "run.log");
  EXPECT_EQ(slurm_jobs(evs)[2].size(), 2u);
  EXPECT_EQ(finished_count(evs, 2), 1);
  fs::remove_all(w);
}

TEST_F(Slurm, AJobOverItsTimeLimitIsRecordedAsTimeout) {
  const auto w = fresh_dir("slurm-timeout");
  // explore trains DeltaNet for minutes; the limit is 20 s (Slurm enforces it within about 30 s more).
  write_config(w, R"(, "time_limit": "0:20")");
  auto r = run_cli("run --workdir " + w.string() + " --budget 0 --preset explore --promote 0");
  auto all = experiments(w);
  ASSERT_GE(all.size(), 1u) << r.output;
  EXPECT_EQ(all[0]["status"], "failed") << r.output;
  EXPECT_NE(all[0]["fail_reason"].get<std::string>().find("TIMEOUT"), std::string::npos) << all[0].dump();
  // The worker's end says how long the job was followed: past its 20 s limit, not 0 s.
  bool ended = false;
  for (const auto& e : events(w))
    if (e["kind"] == "worker_ended" && e["experiment"] == 1 && e["data"].value("cause", "").rfind("timed out after", 0) == 0) {
      ended = true;
      EXPECT_GE(e["data"]["seconds"].get<double>(), 20.0) << e.dump();
      EXPECT_EQ(e["data"]["cause"].get<std::string>().find("after 0 s"), std::string::npos) << e.dump();
    }
  EXPECT_TRUE(ended);
  // With no candidate, nothing more runs: no held-out tasks, no rung for DeltaNet alone.
  for (const auto& e : events(w)) EXPECT_NE(e["kind"], "promoted") << e.dump();
  fs::remove_all(w);
}

TEST_F(Slurm, AHostKilledWhileItsJobRunsFindsTheJobAgainOnRestart) {
  const auto w = fresh_dir("slurm-restart");
  pid_t host = -1;
  const std::string job = start_until_evaluating(w, w / "run-1.log", host);
  ASSERT_FALSE(job.empty()) << text_of(w / "run-1.log");
  ::kill(host, SIGKILL);
  wait_exit(host);
  auto r = run_cli("run --workdir " + w.string() + " --budget 1 --preset smoke");
  EXPECT_EQ(r.status, 0) << r.output;
  const auto evs = events(w);
  auto all = experiments(w);
  ASSERT_EQ(all.size(), 2u) << all.dump();
  EXPECT_TRUE(all[1]["status"] == "scored" || all[1]["status"] == "failed");
  // One Slurm job for experiment 2, followed again after the restart, and one outcome.
  EXPECT_EQ(slurm_jobs(evs)[2], std::set<std::string>{job});
  EXPECT_TRUE(std::any_of(evs.begin(), evs.end(), [](const nlohmann::json& e) {
    return e["kind"] == "slurm_adopted" && e["experiment"] == 2;
  })) << r.output;
  EXPECT_EQ(finished_count(evs, 2), 1);
  fs::remove_all(w);
}

TEST_F(Slurm, AStoppedRunCancelsItsJobsAndTheExperimentWaitsForTheNextStart) {
  const auto w = fresh_dir("slurm-stop");
  pid_t host = -1;
  const std::string job = start_until_evaluating(w, w / "run.log", host);
  ASSERT_FALSE(job.empty()) << text_of(w / "run.log");
  ::kill(host, SIGTERM);
  EXPECT_EQ(wait_exit(host), 130) << text_of(w / "run.log");  // interrupted, as `run` says
  // scancel'd: not queued, not running (scontrol remembers it as cancelled).
  auto q = asiarch::run_process({"squeue", "-h", "-j", job, "-o", "%T"}, 30);
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->out.empty() || q->out.find("RUNNING") == std::string::npos) << q->out;
  auto s = asiarch::run_process({"scontrol", "-o", "show", "job", job}, 30);
  ASSERT_TRUE(s);
  EXPECT_NE(s->out.find("JobState=CANCELLED"), std::string::npos) << s->out;
  auto all = experiments(w);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["status"], "proposed");  // evaluated again on the next start
  EXPECT_TRUE(fs::is_empty(w / "shared" / "jobs"));
  fs::remove_all(w);
}

// A node whose compile cache lacks the candidate's object (here: removed from the host's cache
// while the job waits for its start time) installs the one sent in the job's folder and loads it.
TEST_F(Slurm, TheBuiltObjectTravelsWithTheJobSoANodeWithoutItDoesNotCompileAgain) {
  const auto w = fresh_dir("slurm-object");
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "executor": "slurm",
    "cache_dir": ")" << (w / "cache").string() << R"(",
    "slurm": {"shared_dir": ")" << (w / "shared").string() << R"(", "partition": "debug", "extra_args": ["--begin=now+5"]}})";
  const pid_t host = spawn_cli({"run", "--workdir", w.string(), "--budget", "0", "--preset", "smoke"}, w / "run.log");
  // Pending until its begin time: the object is in the job's folder by now; take it from the cache.
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = asiarch::run_process({"squeue", "-h", "-n", "asiarch-e1", "-t", "PENDING", "-o", "%i"}, 30);
        return r && r->code == 0 && !r->out.empty();
      },
      240))
      << text_of(w / "run.log");
  int removed = 0;
  std::vector<fs::path> objects;  // under the toolchain's folder of the cache: cache/<toolchain>/objects/
  for (const auto& e : fs::recursive_directory_iterator(w / "cache"))
    if (e.is_regular_file() && e.path().parent_path().filename() == "objects") objects.push_back(e.path());
  for (const auto& p : objects) removed += fs::remove(p);
  EXPECT_GE(removed, 2);  // at least the candidate's object and its metadata
  EXPECT_EQ(wait_exit(host), 0) << text_of(w / "run.log");
  const auto evs = events(w);
  // The first job: the one that carried the object to the node.
  std::optional<nlohmann::json> first_job, first_node_cache;
  for (const auto& e : evs) {
    if (!first_job && e["kind"] == "worker_started" && e["data"].value("executor", "") == "slurm") first_job = e;
    if (!first_node_cache && e["kind"] == "node_cache") first_node_cache = e;
  }
  ASSERT_TRUE(first_job && first_node_cache) << text_of(w / "run.log");
  EXPECT_TRUE((*first_job)["data"].value("object_sent", false)) << first_job->dump();
  EXPECT_EQ((*first_node_cache)["data"]["objects_sent"], 1) << first_node_cache->dump();
  EXPECT_EQ((*first_node_cache)["data"]["installed"], 1) << first_node_cache->dump();
  EXPECT_TRUE((*first_node_cache)["data"].value("cache_hit", false)) << text_of(w / "run.log");
  EXPECT_EQ(experiments(w)[0]["status"], "scored");
  fs::remove_all(w);
}

namespace {

// The environment of the running `asiarch slurm-job` process of experiment `e`, read from /proc
// (the cluster runs jobs as this test's user); empty when none was found.
std::string job_environment() {
  for (const auto& p : fs::directory_iterator("/proc")) {
    const std::string pid = p.path().filename();
    if (pid.empty() || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
    const std::string cmd = text_of(p.path() / "cmdline");
    if (cmd.find("slurm-job") == std::string::npos) continue;
    std::string env = text_of(p.path() / "environ");
    std::replace(env.begin(), env.end(), '\0', '\n');
    if (!env.empty()) return env;
  }
  return "";
}

// squeue and scontrol that fail as a controller that cannot be reached does while `flag` exists,
// and are Slurm's own otherwise; in front of PATH for the host this test starts.
struct FlakySlurm {
  fs::path dir, flag;
  std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  explicit FlakySlurm(const fs::path& w) : dir(w / "flaky-bin"), flag(w / "controller-down") {
    fs::create_directories(dir);
    for (const std::string tool : {"squeue", "scontrol"}) {
      auto real = asiarch::run_process({"sh", "-c", "command -v " + tool}, 10);
      const std::string path = real ? real->out.substr(0, real->out.find('\n')) : "";
      std::ofstream(dir / tool) << "#!/bin/sh\nif [ -e '" << flag.string()
                                << "' ]; then echo 'slurm_load_jobs error: Unable to contact slurm controller (connect "
                                   "failure)' >&2; exit 1; fi\nexec '"
                                << path << "' \"$@\"\n";
      fs::permissions(dir / tool, fs::perms::owner_all);
    }
    ::setenv("PATH", (dir.string() + ":" + old_path).c_str(), 1);
  }
  ~FlakySlurm() { ::setenv("PATH", old_path.c_str(), 1); }
  void down() const { std::ofstream(flag) << "down\n"; }
  void up() const { fs::remove(flag); }
};

}  // namespace

// The host's environment holds an LLM key; the batch job gets the allow-list only.
TEST_F(Slurm, AJobGetsOnlyTheAllowListedEnvironmentNeverTheHostsSecrets) {
  const auto w = fresh_dir("slurm-env");
  ::setenv("OPENAI_API_KEY", "sk-host-only-secret-4711", 1);
  ::setenv("ASIARCH_TEST_HOST_ONLY", "not-for-the-cluster", 1);
  pid_t host = -1;
  const std::string job = start_until_evaluating(w, w / "run.log", host);
  ::unsetenv("OPENAI_API_KEY");
  ::unsetenv("ASIARCH_TEST_HOST_ONLY");
  ASSERT_FALSE(job.empty()) << text_of(w / "run.log");
  std::string env;
  wait_until([&] { return !(env = job_environment()).empty(); }, 60);
  ASSERT_FALSE(env.empty()) << "no running slurm-job process found";
  EXPECT_TRUE(env.find("\nPATH=") != std::string::npos || env.rfind("PATH=", 0) == 0) << env;
  EXPECT_EQ(env.find("sk-host-only-secret-4711"), std::string::npos) << env;
  EXPECT_EQ(env.find("ASIARCH_TEST_HOST_ONLY"), std::string::npos) << env;
  EXPECT_EQ(wait_exit(host), 0) << text_of(w / "run.log");
  // A secret-looking name, or a widening --export, is refused before anything is submitted.
  const auto bad = fresh_dir("slurm-env-bad");
  std::ofstream(bad / "asiarch.json") << R"({"executor": "slurm", "slurm": {"shared_dir": ")" << (bad / "shared").string()
                                      << R"(", "export_vars": ["OPENAI_API_KEY"]}})";
  auto r = run_cli("run --workdir " + bad.string() + " --budget 0 --preset smoke");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("slurm.export_vars: \"OPENAI_API_KEY\" looks like a secret"), std::string::npos) << r.output;
  std::ofstream(bad / "asiarch.json") << R"({"executor": "slurm", "slurm": {"shared_dir": ")" << (bad / "shared").string()
                                      << R"(", "extra_args": ["--export=ALL"]}})";
  r = run_cli("run --workdir " + bad.string() + " --budget 0 --preset smoke");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("slurm.extra_args: \"--export=ALL\" would widen"), std::string::npos) << r.output;
  fs::remove_all(w);
  fs::remove_all(bad);
}

// squeue and scontrol failing for a while: the job is followed on and finishes; failing for longer
// than slurm.unreachable_seconds: the job is cancelled and its experiment failed with that cause.
TEST_F(Slurm, AnUnreachableControllerIsAskedAgainAndAJobGivenUpIsCancelled) {
  const auto w = fresh_dir("slurm-flaky");
  FlakySlurm flaky(w);
  pid_t host = -1;
  std::string job = start_until_evaluating(w, w / "run.log", host);
  ASSERT_FALSE(job.empty()) << text_of(w / "run.log");
  flaky.down();
  std::this_thread::sleep_for(std::chrono::seconds(8));
  flaky.up();
  EXPECT_EQ(wait_exit(host), 0) << text_of(w / "run.log");
  auto evs = events(w);
  EXPECT_TRUE(std::any_of(evs.begin(), evs.end(), [](const nlohmann::json& e) {
    return e["kind"] == "slurm_state" && e["data"]["state"] == "UNREACHABLE";
  })) << text_of(w / "run.log");
  auto all = experiments(w);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1]["status"], "scored") << all[1].dump();
  EXPECT_EQ(slurm_jobs(evs)[2].size(), 1u);  // followed, not submitted again

  // Held pending (its begin time is minutes away) while the controller "cannot be reached".
  const auto w2 = fresh_dir("slurm-gone");
  FlakySlurm flaky2(w2);
  std::ofstream(w2 / "asiarch.json") << R"({"baselines": ["delta_net"], "recheck": 0, "executor": "slurm",
    "slurm": {"shared_dir": ")" << (w2 / "shared").string() << R"(", "partition": "debug", "unreachable_seconds": 12,
    "extra_args": ["--begin=now+300"]}})";
  host = spawn_cli({"run", "--workdir", w2.string(), "--budget", "0", "--preset", "smoke"}, w2 / "run.log");
  job.clear();
  wait_until([&] {
    auto r = asiarch::run_process({"squeue", "-h", "-n", "asiarch-e1", "-t", "PENDING", "-o", "%i"}, 30);
    if (r && r->code == 0) job = r->out.substr(0, r->out.find('\n'));
    return !job.empty();
  }, 240);
  ASSERT_FALSE(job.empty()) << text_of(w2 / "run.log");
  flaky2.down();
  EXPECT_EQ(wait_exit(host), 0) << text_of(w2 / "run.log");
  flaky2.up();
  all = experiments(w2);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["status"], "failed");
  EXPECT_NE(all[0]["fail_reason"].get<std::string>().find("its state could not be read for"), std::string::npos)
      << all[0].dump();
  EXPECT_NE(all[0]["fail_reason"].get<std::string>().find("the job was cancelled"), std::string::npos) << all[0].dump();
  auto s = asiarch::run_process({"scontrol", "-o", "show", "job", job}, 30);
  ASSERT_TRUE(s);
  EXPECT_NE(s->out.find("JobState=CANCELLED"), std::string::npos) << s->out;
  fs::remove_all(w);
  fs::remove_all(w2);
}
