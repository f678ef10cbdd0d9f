// Loop overhead of `asiarch run`: per experiment, the wall time the host
// spends (proposal, worker start-up, JIT set-up, recording, analysis) outside
// compiling and the lab's gates and training, as a share of the time spent
// compiling and in the lab, measured in the same run. Target: <= 2% on smoke.
// Compiled objects are removed from the cache first (the PCH stays), so each
// new design compiles as it would the first time; DeltaNet's object is then
// rebuilt by the cache preparation, as in any run on a fresh cache.
//   loop_overhead [budget=4] [workdir=/tmp/asiarch-loop-overhead]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "archive/archive.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  const int budget = argc > 1 ? std::atoi(argv[1]) : 4;
  const fs::path w = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "asiarch-loop-overhead";
  fs::remove_all(w);
  fs::create_directories(w);
  const char* env = std::getenv("ASIARCH_CACHE_DIR");
  const fs::path cache = env && *env ? fs::path(env) : fs::path(std::getenv("HOME") ? std::getenv("HOME") : "/tmp") / ".cache" / "asiarch";
  std::error_code ec;
  for (const auto& root : fs::directory_iterator(cache, ec)) fs::remove_all(root.path() / "objects", ec);
  std::ofstream(w / "asiarch.json") << R"({"baselines": ["delta_net"]})";
  const std::string cmd = std::string(ASIARCH_BINARY) + " run --quiet --preset smoke --seed 1 --budget " +
                          std::to_string(budget) + " --workdir " + w.string() + " > " + (w / "run.log").string() +
                          " 2>&1";
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = std::system(cmd.c_str());
  const double run_wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (rc != 0) {
    std::fprintf(stderr, "asiarch run failed (%d); see %s\n", rc, (w / "run.log").c_str());
    return 1;
  }
  auto a = asiarch::archive::Archive::open(w / "archive.db");
  if (!a) return std::fprintf(stderr, "%s\n", a.error().message.c_str()), 1;
  std::printf("loop overhead on smoke (%d evolved experiments + DeltaNet), seconds\n", budget);
  std::printf("  %-4s %-34s %8s %8s %8s %8s %8s %9s\n", "id", "name", "wall", "compile", "lab", "worker", "propose",
              "overhead");
  double wall = 0, inside = 0;
  for (const auto& e : (*a)->experiments()) {
    const auto& t = e.timing;
    if (!t.contains("wall")) continue;
    const double w_ = t["wall"], c = t["compile"], l = t["lab"];
    wall += w_;
    inside += c + l;
    std::printf("  %-4lld %-34s %8.2f %8.2f %8.2f %8.2f %8.3f %8.2f%%\n", static_cast<long long>(e.id),
                e.name.substr(0, 34).c_str(), w_, c, l, t["worker"].get<double>(), t["propose"].get<double>(),
                100.0 * (w_ - c - l) / (c + l));
  }
  std::printf("\nper experiment: overhead %.2f s of %.2f s wall; overhead / (compile + lab) = %.2f%% (target <= 2%%)\n",
              wall - inside, wall, 100.0 * (wall - inside) / inside);
  std::printf("whole command (adds cache preparation, seeding, summary): %.1f s wall, %.2f%% outside compile + lab\n",
              run_wall, 100.0 * (run_wall - inside) / inside);
  return 0;
}
