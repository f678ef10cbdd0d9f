#include "agents/offline/judge.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace asiarch::agents {
namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// 10 at `good`, 1 at `bad`, linear between (either direction).
double scale(double v, double good, double bad) {
  const double t = std::clamp((v - good) / (bad - good), 0.0, 1.0);
  return 10.0 - 9.0 * t;
}

}  // namespace

Judgement judge(const JudgeInputs& in) {
  Judgement j;
  double total = 0, weights = 0;
  auto part = [&](const std::string& name, double score, double weight, const std::string& reason) {
    j.parts[name] = {{"score", score}, {"weight", weight}, {"reason", reason}};
    total += score * weight;
    weights += weight;
  };
  if (in.report) {
    for (const auto& g : in.report->gates) {
      if (g.name != "complexity" || !g.details.contains("time_exponent")) continue;
      const double te = g.details["time_exponent"].get<double>(), me = g.details["memory_exponent"].get<double>();
      const double e = std::max(te, me);
      part("complexity", scale(e, 1.1, 1.5), 0.3,
           "time ~ L^" + fmt(te) + ", memory ~ L^" + fmt(me) + "; full marks up to 1.1, none from 1.5");
    }
    if (in.reference_parameters > 0 && in.report->mixer_parameters > 0) {
      const double r = static_cast<double>(in.report->mixer_parameters) / static_cast<double>(in.reference_parameters);
      part("parameter_efficiency", scale(r, 0.9, 1.3), 0.2,
           std::to_string(in.report->mixer_parameters) + " parameters = " + fmt(r) + "x DeltaNet's");
    }
    if (!in.report->tasks.empty()) {
      int completed = 0, spikes = 0, points = 0;
      for (const auto& t : in.report->tasks) {
        completed += t.completed();
        for (size_t i = 1; i < t.curve.size(); ++i, ++points)
          spikes += t.curve[i].second > 1.1 * t.curve[i - 1].second;
      }
      const double frac = static_cast<double>(completed) / static_cast<double>(in.report->tasks.size());
      const double spike_rate = points ? static_cast<double>(spikes) / points : 0.0;
      part("stability", std::clamp(1.0 + 9.0 * frac - 20.0 * spike_rate, 1.0, 10.0), 0.3,
           std::to_string(completed) + "/" + std::to_string(in.report->tasks.size()) +
               " tasks completed; loss rose >10% between " + std::to_string(spikes) + " of " +
               std::to_string(points) + " logged points");
    }
  }
  if (in.novelty)
    part("novelty", 1.0 + 9.0 * std::min(1.0, *in.novelty * 4.0), 0.2,
         in.novelty_reason.empty() ? "nearest archived design differs in " + fmt(*in.novelty * 100) + "% of its genes"
                                   : in.novelty_reason);
  if (weights > 0) j.score = total / weights;
  return j;
}

}  // namespace asiarch::agents
