#include "results/ladder.h"

#include <algorithm>

#include "lab/names.h"
#include "lab/stats.h"
#include "results/report.h"

namespace asiarch::host {
namespace {

// The preset of the experiments' own runs: one that is no stage's.
std::string inferred_first_preset(const archive::Archive& a) {
  for (const auto& e : a.experiments())
    for (const auto& r : a.training_runs(e.id)) {
      bool staged = false;
      for (const auto& st : a.stages(e.id)) staged = staged || st.preset == r.preset;
      if (!staged) return r.preset;
    }
  return "";
}

void add_once(std::vector<std::string>& v, const std::string& p) {
  if (std::find(v.begin(), v.end(), p) == v.end()) v.push_back(p);
}

}  // namespace

RankAgreement rank_agreement(const archive::Archive& a, const std::vector<int64_t>& ids, const std::string& below,
                             const std::string& preset, const std::string& first_preset) {
  std::vector<double> x, y;
  for (int64_t id : ids) {
    auto f0 = fitness_on(a, id, below, first_preset), f1 = fitness_on(a, id, preset, first_preset);
    if (f0 && f1) {
      x.push_back(*f0);
      y.push_back(*f1);
    }
  }
  return {lab::spearman(x, y), x.size()};
}

std::vector<Rung> ladder_of(const archive::Archive& a) {
  std::vector<std::string> order = a.ladder();
  if (order.empty()) {
    const auto first = inferred_first_preset(a);
    if (!first.empty()) order.push_back(first);
  }
  if (order.empty()) return {};
  const std::string first = order.front();
  const auto experiments = a.experiments();
  std::vector<std::string> held;
  for (const auto& e : experiments)
    for (const auto& st : a.stages(e.id)) add_once(lab::is_held_out(st.preset) ? held : order, st.preset);
  for (const auto& h : held) add_once(order, h);

  std::vector<Rung> out;
  std::string below;
  for (const auto& preset : order) {
    Rung r;
    r.preset = preset;
    r.held_out = lab::is_held_out(preset);
    std::vector<std::pair<double, int64_t>> scored;
    for (const auto& e : experiments) {
      if (auto f = fitness_on(a, e.id, preset, first)) {
        scored.emplace_back(*f, e.id);
        continue;
      }
      if (preset == first) continue;
      for (const auto& st : a.stages(e.id))
        if (st.preset == preset && st.status != archive::ExperimentStatus::scored) r.failed.push_back(e.id);
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& l, const auto& r) { return l.first > r.first; });
    for (const auto& [f, id] : scored) r.scored.push_back(id);
    if (!r.held_out) {
      if (!below.empty()) {
        r.below = below;
        r.agreement = rank_agreement(a, r.scored, below, preset, first);
      }
      below = preset;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace asiarch::host
