// Experiments per hour of `asiarch run`, against another build of asiarch (the code before a
// change, given as the first argument), measured in the same session on this machine. Each round
// runs both builds on the same fixed offline run (same seed, budget and baselines: DeltaNet only;
// no ladder, no held-out step), alternating which goes first. Before each run the compiled
// objects are removed from the cache (the PCH stays), so every design compiles as a new one does.
//
// Per run: evolved experiments completed (scored, stopped early or failed: what the budget
// counts) per hour of the command's wall time, and where that wall time went, from the archive:
//   compile   building plugins (compile workers, and loading an object in an evaluating worker)
//   gates     the sanity gates (timing.gates; builds before it did not record it: "-")
//   training  training and testing each task, every seed (the measurements' seconds)
//   recheck   training and testing a design again to check its score (timing.recheck; "-" as gates)
//   lab rest  the rest of the lab: making tasks, probes, starting the model (and, for builds
//             that did not record it, the recheck)
//   host      the rest of each experiment's wall: proposing, scoring, judging, recording
//   outside   no experiment in flight: cache preparation, start-up, the summary
//   discovery_throughput REFERENCE_ASIARCH [budget=5] [rounds=1] [preset=explore] [workdir=/tmp/asiarch-discovery-throughput]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace fs = std::filesystem;
using asiarch::archive::Archive;

namespace {

struct Run {
  std::string label;
  double wall = 0;
  int completed = 0, scored = 0, stopped = 0, failed = 0;
  double compile = 0, gates = 0, recheck = 0, training = 0, lab = 0, experiments_wall = 0;
  bool gates_recorded = false, recheck_recorded = false;
};

fs::path cache_dir() {
  const char* env = std::getenv("ASIARCH_CACHE_DIR");
  if (env && *env) return env;
  return fs::path(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") / ".cache" / "asiarch";
}

bool run_one(const std::string& binary, const std::string& label, const fs::path& w, int budget,
             const std::string& preset, Run& out) {
  fs::remove_all(w);
  fs::create_directories(w);
  std::error_code ec;
  for (const auto& root : fs::directory_iterator(cache_dir(), ec)) fs::remove_all(root.path() / "objects", ec);
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"]})";
  const std::string cmd = binary + " run --quiet --preset " + preset + " --seed 1 --budget " + std::to_string(budget) +
                          " --promote 0 --held-out 0 --workdir " + w.string() + " > " + (w / "run.log").string() +
                          " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  out.label = label;
  out.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) {
    std::fprintf(stderr, "%s: asiarch run failed (%d); see %s\n", label.c_str(), rc, (w / "run.log").c_str());
    return false;
  }
  auto a = Archive::open(w / "archive.db");
  if (!a) {
    std::fprintf(stderr, "%s: %s\n", label.c_str(), a.error().message.c_str());
    return false;
  }
  for (const auto& e : (*a)->experiments()) {
    using asiarch::archive::ExperimentStatus;
    if (e.origin == asiarch::archive::Origin::evolved && e.status != ExperimentStatus::proposed) {
      ++out.completed;
      out.scored += e.status == ExperimentStatus::scored;
      out.stopped += e.status == ExperimentStatus::stopped;
      out.failed += e.status == ExperimentStatus::failed;
    }
    const auto& t = e.timing;
    if (!t.contains("wall")) continue;
    out.experiments_wall += t["wall"].get<double>();
    out.compile += t.value("compile", 0.0);
    out.lab += t.value("lab", 0.0);
    if (t.contains("gates")) {
      out.gates += t["gates"].get<double>();
      out.gates_recorded = true;
    }
    if (t.contains("recheck")) {
      out.recheck += t["recheck"].get<double>();
      out.recheck_recorded = true;
    }
    double measured = 0, first = 0;
    for (const auto& m : (*a)->measurements(e.id)) measured += m.seconds;
    for (const auto& r : (*a)->training_runs(e.id)) first += r.seconds;
    out.training += std::max(measured, first);  // a stopped design has runs but no measurements
  }
  return true;
}

void print(const Run& r) {
  const double per_hour = r.completed / (r.wall / 3600.0);
  auto share = [&](double s) { return 100.0 * s / r.wall; };
  const double lab_rest = r.lab - r.gates - r.recheck - r.training;
  const double host = r.experiments_wall - r.compile - r.lab;
  const double outside = r.wall - r.experiments_wall;
  auto optional_share = [&](bool recorded, double s) {
    char buf[16];
    if (recorded)
      std::snprintf(buf, sizeof buf, "%6.1f%%", share(s));
    else
      std::snprintf(buf, sizeof buf, "%7s", "-");
    return std::string(buf);
  };
  std::printf("  %-10s %7.0f %4d (%d/%d/%d) %9.2f   %6.1f%% %s %7.1f%% %s %7.1f%% %5.1f%% %6.1f%%\n", r.label.c_str(),
              r.wall, r.completed, r.scored, r.stopped, r.failed, per_hour, share(r.compile),
              optional_share(r.gates_recorded, r.gates).c_str(), share(r.training),
              optional_share(r.recheck_recorded, r.recheck).c_str(), share(lab_rest), share(host), share(outside));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: discovery_throughput REFERENCE_ASIARCH [budget=5] [rounds=1] [preset=explore] [workdir]\n"
                 "  REFERENCE_ASIARCH: another build of asiarch (e.g. the code before a change, built in a git worktree)\n");
    return 2;
  }
  const std::string reference = fs::absolute(argv[1]).string();
  const int budget = argc > 2 ? std::atoi(argv[2]) : 5;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 1;
  const std::string preset = argc > 4 ? argv[4] : "explore";
  const fs::path w = argc > 5 ? fs::path(argv[5]) : fs::temp_directory_path() / "asiarch-discovery-throughput";
  if (!fs::exists(reference)) return std::fprintf(stderr, "no such program: %s\n", reference.c_str()), 2;
  std::vector<Run> before, after;
  for (int round = 0; round < rounds; ++round) {
    Run b, a;
    const bool before_first = round % 2 == 0;
    for (int k = 0; k < 2; ++k) {
      const bool is_before = (k == 0) == before_first;
      Run& r = is_before ? b : a;
      const std::string binary = is_before ? reference : std::string(ASIARCH_BINARY);
      if (!run_one(binary, is_before ? "before" : "this build", w / (is_before ? "before" : "after"), budget, preset, r))
        return 1;
    }
    before.push_back(b);
    after.push_back(a);
  }
  std::printf("discovery throughput on %s: budget %d evolved + DeltaNet, seed 1, offline agents, %d round(s)\n",
              preset.c_str(), budget, rounds);
  std::printf("  reference: %s\n  this build: %s\n\n", reference.c_str(), ASIARCH_BINARY);
  std::printf("  %-10s %7s %-15s %9s   %7s %7s %8s %7s %8s %6s %7s\n", "run", "wall s", "done (s/st/f)", "exp/hour",
              "compile", "gates", "training", "recheck", "lab rest", "host", "outside");
  double sum_before = 0, sum_after = 0;
  for (int round = 0; round < rounds; ++round) {
    print(before[round]);
    print(after[round]);
    sum_before += before[round].completed / (before[round].wall / 3600.0);
    sum_after += after[round].completed / (after[round].wall / 3600.0);
  }
  std::printf("\nexperiments per hour: this build %.2f, before %.2f: ratio %.2fx (mean over rounds)\n",
              sum_after / rounds, sum_before / rounds, sum_after / sum_before);
  return 0;
}
