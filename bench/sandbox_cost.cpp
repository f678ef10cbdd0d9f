// What the checks against cheating cost per experiment, as a share of the
// whole evaluation of DeltaNet in a sandboxed worker (`asiarch eval --json`),
// measured in the same run. Target: <= 5%.
//   checks:        the causality gate (four situations) and the worker's
//                  causality probes on each trained model;
//   trusted split: the host's own work (making the tasks, scoring the test
//                  logits), the complexity gate's waits on the host's clock,
//                  and the probe rows mixed into the test rows;
//   round three:   the trainer's parameters probe (learning outside the
//                  registered parameters, once per task), and the gates judging
//                  the mixer at every layer index: the layers beyond the first
//                  are (n-1)/n of the stacked gates' time (every gate but the
//                  parameter budget), an estimate from the measured gate times.
//   sandbox_cost [preset...]   (default: smoke)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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
    const auto t0 = std::chrono::steady_clock::now();
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return 1;
    std::string out;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
    // The whole experiment as `asiarch eval` runs it: compile (a cache hit after the first run),
    // worker start-up, the host's task making, the evaluation.
    const double experiment = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j;
    double trusted = 0;
    try {
      auto whole = nlohmann::json::parse(out);
      j = whole.at("report");
      trusted = whole.value("trusted_seconds", 0.0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sandbox_cost: %s: no report (%s)\n", preset.c_str(), e.what());
      status = 1;
      continue;
    }
    const double total = j.at("seconds").get<double>();
    double gates = 0, causality = 0, probes = 0, marks = 0, probe_rows = 0;
    double params_probe = 0, stacked = 0;  // stacked: every gate but the parameter budget ran the layer stack
    for (const auto& g : j.at("gates")) {
      const double s = g.at("details").value("gate_seconds", 0.0);
      gates += s;
      if (g.at("name") == "causality") causality = s;
      if (g.at("name") == "complexity") marks = g.at("details").value("mark_seconds", 0.0);
      if (g.at("name") != "parameter_budget") stacked += s;
    }
    for (const auto& t : j.at("tasks")) {
      if (t.contains("causality_probe")) probes += t["causality_probe"].at("seconds").get<double>();
      if (t.contains("test_probe")) probe_rows += t["test_probe"].at("seconds").get<double>();
      if (t.contains("parameters_probe")) params_probe += t["parameters_probe"].at("seconds").get<double>();
    }
    // The model's layer count, from the built-in presets the worker used: every stacked gate ran it.
    int layers = 1;
    {
      std::ifstream in(ASIARCH_SOURCE_DIR "/lab/presets.json");
      auto all = nlohmann::json::parse(in, nullptr, false);
      if (all.is_object() && all.contains(preset)) layers = all[preset]["model"].value("num_layers", 1);
    }
    const double extra_layers = stacked * (layers - 1) / layers;
    const double split = trusted + marks + probe_rows;
    std::printf("%-8s evaluation %8.2f s | gates %7.2f s | causality gate %6.3f s (%.2f%%) | probes %6.3f s (%.2f%%) | "
                "checks together %.2f%% (target <= 5%%)\n",
                preset.c_str(), total, gates, causality, 100 * causality / total, probes, 100 * probes / total,
                100 * (causality + probes) / total);
    std::printf("%-8s round three: parameters probe %6.3f s (%.2f%%), gates' layers beyond the first ~%6.3f s "
                "(%.2f%%, %d layers): %.2f%% of the evaluation\n",
                preset.c_str(), params_probe, 100 * params_probe / total, extra_layers, 100 * extra_layers / total, layers,
                100 * (params_probe + extra_layers) / total);
    const double all = causality + probes + split + params_probe + extra_layers;
    std::printf("%-8s trusted split: host work %6.3f s, clock waits %6.3f s, probe rows %6.3f s: %.2f%% | "
                "all checks %.2f%% of the evaluation, %.2f%% of the experiment (%.2f s; target <= 5%%)\n",
                preset.c_str(), trusted, marks, probe_rows, 100 * split / total, 100 * all / total,
                100 * all / experiment, experiment);
  }
  return status;
}
