// What the checks against cheating cost per experiment: the causality gate
// (four situations) and the causality probes on each trained model, as a
// share of the whole evaluation of DeltaNet in a sandboxed worker
// (`asiarch eval --json`), measured in the same run. Target: <= 5%.
//   sandbox_cost [preset...]   (default: smoke)
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
  std::vector<std::string> presets;
  for (int i = 1; i < argc; ++i) presets.push_back(argv[i]);
  if (presets.empty()) presets = {"smoke"};
  int status = 0;
  for (const auto& preset : presets) {
    const std::string cmd = std::string(ASIARCH_BINARY) + " eval " ASIARCH_SOURCE_DIR "/plugins/baselines/delta_net.cpp --preset " +
                            preset + " --json --quiet 2>/dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return 1;
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(out).at("report");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox_cost: %s: no report (%s)\n", preset.c_str(), e.what());
      status = 1;
      continue;
    }
    const double total = j.at("seconds").get<double>();
    double gates = 0, causality = 0, probes = 0;
    for (const auto& g : j.at("gates")) {
      const double s = g.at("details").value("gate_seconds", 0.0);
      gates += s;
      if (g.at("name") == "causality") causality = s;
    }
    for (const auto& t : j.at("tasks"))
      if (t.contains("causality_probe")) probes += t["causality_probe"].at("seconds").get<double>();
    std::printf("%-8s evaluation %8.2f s | gates %7.2f s | causality gate %6.3f s (%.2f%%) | probes %6.3f s (%.2f%%) | "
                "checks together %.2f%% (target <= 5%%)\n",
                preset.c_str(), total, gates, causality, 100 * causality / total, probes, 100 * probes / total,
                100 * (causality + probes) / total);
  }
  return status;
}
