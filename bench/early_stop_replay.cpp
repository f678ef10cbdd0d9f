// Early stopping, replayed on a stored archive whose candidates all trained their whole budget
// (a run with `early_stop off`): where the quality monitor's rule (lab/train.h) would have stopped
// each one, what compute that saves per experiment (the reference: the same experiments at full
// budget, as stored), and whether the top ten by fitness keep their ranking.
//
//   early_stop_replay WORKDIR [PRESET] [PRESETS_FILE]
//
// A training run is deterministic in its seed, so a run stopped at step s has, up to s, the curve
// the stored full run has: the replay is exact for the first seed's runs. What it cannot replay is
// the search itself: with early stopping the loop would have drawn other parents afterwards.
//
// The ranking check: the designs in the full-budget top ten are ranked again with the stopped ones
// placed after every survivor (they have no score), and Spearman's rho is taken between the two
// rankings. 1 means no top-ten design was stopped.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "archive/archive.h"
#include "lab/names.h"
#include "lab/presets.h"
#include "lab/stats.h"
#include "lab/train.h"
#include "util/files.h"
#include "util/format.h"

using namespace asiarch;

namespace {

lab::Curve curve_of(const nlohmann::json& j) {
  lab::Curve c;
  if (!j.is_array()) return c;
  for (const auto& p : j) c.emplace_back(p.at(0).get<int64_t>(), p.at(1).get<double>());
  return c;
}

struct Design {
  int64_t id = 0;
  std::string name;
  double fitness = 0;
  double full_seconds = 0;  // the lab's time at full budget: every seed, gates, recheck
  double rule_seconds = 0;  // the same with the rule: a stopped design loses its later steps and seeds
  std::string stopped_on;   // "task at step s of S", empty when it survives
};

// Where the rule stops `runs` (the first seed's, in evaluation order), and the seconds it saves.
std::pair<std::string, double> replay(const std::vector<archive::TrainingRun>& runs,
                                      const std::map<std::string, lab::Reference>& refs, const lab::MonitorConfig& m) {
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    auto ref = refs.find(r.task);
    if (ref == refs.end() || r.steps <= 0) continue;
    const lab::Curve c = curve_of(r.curve);
    size_t next = 0;
    for (const auto& [step, loss] : c) {
      while (next < m.stop_at.size() && m.stop_at[next] * static_cast<double>(r.steps) <= static_cast<double>(step)) {
        ++next;
        if (step >= r.steps) continue;
        auto bound = lab::early_stop_bound(ref->second, m, step);
        if (!bound || loss <= *bound) continue;
        const double train = r.config.value("train_seconds", r.seconds), eval = r.config.value("eval_seconds", 0.0);
        double saved = train * (1.0 - static_cast<double>(step) / static_cast<double>(r.steps)) + eval;
        for (size_t k = i + 1; k < runs.size(); ++k) saved += runs[k].seconds;
        return {r.task + " at step " + std::to_string(step) + " of " + std::to_string(r.steps), saved};
      }
    }
  }
  return {"", 0.0};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: early_stop_replay WORKDIR [PRESET] [PRESETS_FILE]\n";
    return 2;
  }
  const std::string workdir = argv[1], preset_name = argc > 2 ? argv[2] : "explore";
  auto preset = [&]() -> Result<lab::Preset> {
    if (argc <= 3) return lab::load_preset(preset_name);
    auto text = read_file(argv[3]);
    if (!text) return text.error();
    return lab::load_preset(preset_name, *text, argv[3]);
  }();
  if (!preset) {
    std::cerr << "early_stop_replay: " << preset.error().message << "\n";
    return 1;
  }
  auto opened = archive::Archive::open_read_only(std::filesystem::path(workdir) / "archive.db");
  if (!opened) {
    std::cerr << "early_stop_replay: " << opened.error().message << "\n";
    return 1;
  }
  const auto& a = **opened;
  auto ref_id = a.baseline_named(lab::kReferenceDesign);
  if (!ref_id) {
    std::cerr << "early_stop_replay: no " << lab::kReferenceDesign << " baseline in " << workdir << "\n";
    return 1;
  }
  // The reference as the loop hands it over (engine/discovery.cpp, references_on).
  std::map<std::string, lab::Reference> refs;
  for (const auto& t : a.training_runs(*ref_id))
    if (t.preset == preset_name && t.stop_reason == "completed") {
      refs[t.task].curve = curve_of(t.curve);
      refs[t.task].seconds = t.config.value("train_seconds", t.seconds);
    }
  std::map<std::string, std::vector<lab::Curve>> seeds;
  for (const auto& m : a.measurements(*ref_id))
    if (m.preset == preset_name && m.stop_reason == "completed" && !m.curve.empty()) seeds[m.task].push_back(curve_of(m.curve));
  int ref_seeds = 1;
  for (const auto& [task, curves] : seeds)
    if (auto over = lab::reference_over_seeds(curves); over && refs.count(task)) {
      over->seconds = refs[task].seconds;
      refs[task] = *over;
      ref_seeds = over->seeds;
    }
  if (refs.empty()) {
    std::cerr << "early_stop_replay: " << lab::kReferenceDesign << " has no completed run on " << preset_name << "\n";
    return 1;
  }

  // The candidates that trained their whole budget, by fitness.
  std::vector<archive::Experiment> candidates;
  for (const auto& e : a.experiments())
    if (e.origin != archive::Origin::baseline && e.status == archive::ExperimentStatus::scored && a.score(e.id))
      candidates.push_back(e);
  std::printf("archive %s, preset %s: %zu candidates trained at full budget; the reference over %d seed(s)\n\n",
              workdir.c_str(), preset_name.c_str(), candidates.size(), ref_seeds);
  if (candidates.size() < 2) {
    std::cerr << "early_stop_replay: fewer than two candidates to rank\n";
    return 1;
  }

  // The settings of the preset first, then a grid around them.
  std::vector<lab::MonitorConfig> settings{preset->monitor};
  for (double sig : {2.0, 4.0, 6.0, 8.0})
    for (double gap : {0.1, 0.2})
      for (const std::vector<double>& at : std::vector<std::vector<double>>{{0.25, 0.5}, {0.5}, {0.75}}) {
        lab::MonitorConfig m = preset->monitor;
        m.stop_sigmas = sig;
        m.stop_min_gap = gap;
        m.stop_at = at;
        settings.push_back(m);
      }
  std::printf("%-12s %7s %7s %8s %11s %11s %7s %9s %8s\n", "stop_at", "sigmas", "min_gap", "stopped", "full s/exp",
              "rule s/exp", "ratio", "top10 out", "rho10");
  for (size_t si = 0; si < settings.size(); ++si) {
    const auto& m = settings[si];
    std::vector<Design> ds;
    for (const auto& e : candidates) {
      Design d;
      d.id = e.id;
      d.name = e.name;
      d.fitness = a.score(e.id)->total;
      d.full_seconds = e.timing.value("lab", 0.0);
      std::vector<archive::TrainingRun> first;
      for (const auto& t : a.training_runs(e.id))
        if (t.preset == preset_name) first.push_back(t);
      auto [where, saved] = replay(first, refs, m);
      d.stopped_on = where;
      d.rule_seconds = d.full_seconds;
      if (!where.empty()) {
        // A stopped design runs no further seed (nor a recheck): only the first seed's stored part remains.
        double other_seeds = 0;
        const auto seed0 = first.empty() ? 0 : first.front().config.value("seed", std::uint64_t{0});
        for (const auto& ms : a.measurements(e.id))
          if (ms.preset == preset_name && ms.seed != seed0) other_seeds += ms.seconds;
        d.rule_seconds = std::max(0.0, d.full_seconds - saved - other_seeds);
      }
      ds.push_back(d);
    }
    std::stable_sort(ds.begin(), ds.end(), [](const Design& x, const Design& y) { return x.fitness > y.fitness; });
    const size_t top = std::min<size_t>(10, ds.size());
    std::vector<double> full_rank, rule_rank;
    int survivors_before = 0, stopped_in_top = 0;
    // Survivors keep their order; stopped designs go after every survivor, in their order.
    int survivors_total = 0;
    for (const auto& d : ds) survivors_total += d.stopped_on.empty();
    int stopped_seen = 0;
    for (size_t i = 0; i < top; ++i) {
      full_rank.push_back(static_cast<double>(i + 1));
      if (ds[i].stopped_on.empty()) {
        rule_rank.push_back(static_cast<double>(++survivors_before));
      } else {
        ++stopped_in_top;
        rule_rank.push_back(static_cast<double>(survivors_total + ++stopped_seen));
      }
    }
    // Survivors outside the top ten that move into it do not change these ten's order among
    // themselves; the rank of a stopped one is what rho sees.
    const auto rho = lab::spearman(full_rank, rule_rank);
    double full = 0, rule = 0;
    int stopped = 0;
    for (const auto& d : ds) {
      full += d.full_seconds;
      rule += d.rule_seconds;
      stopped += !d.stopped_on.empty();
    }
    std::string at;
    for (double f : m.stop_at) at += (at.empty() ? "" : ",") + format_number(f, "%.2g");
    std::printf("%-12s %7.3g %7.3g %5d/%-3zu %11.1f %11.1f %6.2fx %6d/%-3zu %8s%s\n", at.c_str(), m.stop_sigmas,
                m.stop_min_gap, stopped, ds.size(), full / ds.size(), rule / ds.size(), rule > 0 ? full / rule : 0.0,
                stopped_in_top, top, rho ? format_number(*rho, "%.3f").c_str() : "undef", si == 0 ? "   (the preset's)" : "");
    if (si == 0) {
      for (size_t i = 0; i < ds.size(); ++i)
        if (!ds[i].stopped_on.empty())
          std::printf("    #%-4lld %-28s fitness %.3f (rank %zu of %zu): stopped on %s\n", static_cast<long long>(ds[i].id),
                      ds[i].name.c_str(), ds[i].fitness, i + 1, ds.size(), ds[i].stopped_on.c_str());
    }
  }
  std::printf("\nratio: compute per experiment at full budget over that with the rule (higher saves more);\n"
              "rho10: Spearman of the full-budget top ten against their ranks with the rule (stopped ones last).\n");
  return 0;
}
