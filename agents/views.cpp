#include "agents/views.h"

#include <cstdio>

#include "util/similarity.h"

namespace asiarch::agents {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::optional<Closest> closest_source(const ExperimentView& of, const std::vector<ExperimentView>& archive) {
  std::optional<Closest> best;
  for (const auto& e : archive) {
    if (e.id == of.id || e.source.empty()) continue;
    const double s = renamed_similarity(of.source, e.source);
    if (!best || s > best->similarity) best = Closest{e.id, e.name, s, ""};
  }
  if (best) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", best->similarity * 100);
    best->statement = "closest archived source: #" + std::to_string(best->id) + " " + best->name + ", " + pct +
                      " alike once names are ignored";
  }
  return best;
}

std::string figures(const ExperimentView& v) {
  const auto& r = v.results;
  std::string s;
  if (v.fitness) {
    s = "fitness " + num(*v.fitness);
    if (r.contains("fitness") && r["fitness"].is_object()) {
      const auto& f = r["fitness"];
      s += " (loss score " + num(f.value("loss_score", 0.0)) + ", benchmark score " + num(f.value("bench_score", 0.0)) +
           ", judge score " + num(f.value("judge_score", 0.0)) + ")";
    }
  } else if (v.failed) {
    s = "failed: " + v.fail_reason;
  } else if (v.stopped) {
    s = "stopped early, not scored (clearly behind DeltaNet at the same step; the metrics below are of an "
        "unfinished run): " + v.fail_reason;
  } else if (r.contains("tasks")) {
    s = "measured, not scored yet";
  } else {
    s = "not evaluated yet";
  }
  if (r.contains("tasks") && r["tasks"].is_object())
    for (const auto& [task, t] : r["tasks"].items()) {
      std::string line = "\n- " + task + ":";
      for (const auto& [k, x] : t.items())
        if (x.is_number() && k != "tokens_per_second" && k != "final_loss") line += " " + k + " " + num(x.get<double>());
      if (t.contains("final_loss") && t["final_loss"].is_number())
        line += ", final training loss " + num(t["final_loss"].get<double>());
      if (t.contains("tokens_per_second") && t["tokens_per_second"].is_number())
        line += ", " + num(t["tokens_per_second"].get<double>()) + " tokens/s";
      if (t.contains("stop") && t["stop"].is_string() && t["stop"] != "completed")
        line += ", stopped: " + t["stop"].get<std::string>();
      s += line;
    }
  if (r.contains("parameters") && r["parameters"].is_object()) {
    const auto& p = r["parameters"];
    s += "\n- parameters: mixer " + std::to_string(p.value("mixer", int64_t{0}));
    if (p.value("model", int64_t{0}) > 0) s += ", whole model " + std::to_string(p.value("model", int64_t{0}));
  }
  return s;
}

std::string analysis_label(int64_t experiment) { return "analysis-" + std::to_string(experiment); }

nlohmann::json provenance_record(const Proposal& p) {
  nlohmann::json cognition = nlohmann::json::array(), analysis = nlohmann::json::array();
  for (const auto& l : p.drew_on) {
    const bool own = l.rfind("insight-", 0) == 0 || l.rfind("analysis-", 0) == 0 || l.rfind("effect:", 0) == 0;
    (own ? analysis : cognition).push_back(l);
  }
  return {{"stated", p.drew_on_stated}, {"cognition", cognition}, {"analysis", analysis}};
}

}  // namespace asiarch::agents
