#include "results/ladder.h"

#include <algorithm>
#include <map>
#include <set>

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

// Spearman over those of `ids` with a fitness on both `below` and `preset`.
template <typename Fitness>
RankAgreement agreement_of(const std::vector<int64_t>& ids, const std::string& below, const std::string& preset,
                           const Fitness& fitness) {
  std::vector<double> x, y;
  for (int64_t id : ids) {
    auto f0 = fitness(id, below), f1 = fitness(id, preset);
    if (f0 && f1) {
      x.push_back(*f0);
      y.push_back(*f1);
    }
  }
  return {lab::spearman(x, y), x.size()};
}

}  // namespace

RankAgreement rank_agreement(const archive::Archive& a, const std::vector<int64_t>& ids, const std::string& below,
                             const std::string& preset, const std::string& first_preset) {
  return agreement_of(ids, below, preset, [&](int64_t id, const std::string& p) { return fitness_on(a, id, p, first_preset); });
}

std::vector<Rung> ladder_of(const archive::Archive& a) {
  std::vector<std::string> order = a.ladder();
  if (order.empty()) {
    const auto first = inferred_first_preset(a);
    if (!first.empty()) order.push_back(first);
  }
  if (order.empty()) return {};
  const std::string first = order.front();
  // Each experiment's score and stages, read once: fitness per preset, and where it failed.
  struct Seen {
    std::map<std::string, double> fitness;
    std::set<std::string> failed;
  };
  std::map<int64_t, Seen> seen;
  std::vector<std::string> held;
  for (const auto& e : a.experiments()) {
    Seen& s = seen[e.id];
    if (auto score = a.score(e.id)) s.fitness[first] = score->total;
    for (const auto& st : a.stages(e.id)) {
      add_once(lab::is_held_out(st.preset) ? held : order, st.preset);
      if (st.preset == first) continue;
      if (st.status == archive::ExperimentStatus::scored) s.fitness[st.preset] = st.score.total;
      else s.failed.insert(st.preset);
    }
  }
  for (const auto& h : held) add_once(order, h);
  auto fitness = [&](int64_t id, const std::string& preset) -> std::optional<double> {
    const auto& f = seen.at(id).fitness;
    auto it = f.find(preset);
    return it == f.end() ? std::nullopt : std::optional<double>(it->second);
  };

  std::vector<Rung> out;
  std::string below;
  for (const auto& preset : order) {
    Rung r;
    r.preset = preset;
    r.held_out = lab::is_held_out(preset);
    std::vector<std::pair<double, int64_t>> scored;
    for (const auto& [id, s] : seen) {
      if (auto f = fitness(id, preset)) scored.emplace_back(*f, id);
      else if (s.failed.count(preset)) r.failed.push_back(id);
    }
    std::stable_sort(scored.begin(), scored.end(), [](const auto& l, const auto& r) { return l.first > r.first; });
    for (const auto& [f, id] : scored) r.scored.push_back(id);
    if (!r.held_out) {
      if (!below.empty()) {
        r.below = below;
        r.agreement = agreement_of(r.scored, below, preset, fitness);
      }
      below = preset;
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace asiarch::host
