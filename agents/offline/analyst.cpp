#include "agents/offline/analyst.h"
#include "util/format.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace asiarch::agents {
namespace {

const Lineage* find(const std::vector<Lineage>& all, int64_t id) {
  for (const auto& e : all)
    if (e.id == id) return &e;
  return nullptr;
}

}  // namespace

nlohmann::json to_json(const Effect& e) {
  return {{"change", e.change}, {"mean_delta", e.mean_delta}, {"count", e.count}, {"failures", e.failures}};
}

std::vector<Effect> aggregate_effects(const std::vector<Lineage>& all) {
  std::map<std::string, Effect> by_change;
  for (const auto& child : all) {
    if (!child.parent || !child.design || (!child.fitness && !child.failed)) continue;
    const Lineage* parent = find(all, *child.parent);
    if (!parent || !parent->design || !parent->fitness) continue;
    const double delta = child.fitness ? *child.fitness - *parent->fitness : kFailurePenalty;
    for (const auto& [gene, from, to] : differences(*parent->design, *child.design)) {
      Effect& e = by_change[gene + "=" + to];
      e.change = gene + "=" + to;
      e.mean_delta += delta;
      e.count += 1;
      e.failures += child.fitness ? 0 : 1;
    }
  }
  std::vector<Effect> out;
  for (auto& [k, e] : by_change) {
    e.mean_delta /= e.count;
    out.push_back(e);
  }
  std::stable_sort(out.begin(), out.end(), [](const Effect& a, const Effect& b) { return a.mean_delta > b.mean_delta; });
  return out;
}

AnalystReport analyse(const Lineage& child, const std::vector<Lineage>& all) {
  AnalystReport r;
  const Lineage* parent = child.parent ? find(all, *child.parent) : nullptr;
  std::string t = "#" + std::to_string(child.id) + " " + child.name;
  if (child.fitness) t += " scored " + format_number(*child.fitness);
  else t += " failed" + (child.fail_reason.empty() ? std::string() : " (" + child.fail_reason + ")");
  t += ".";
  if (parent) {
    t += " Parent #" + std::to_string(parent->id) + " " + parent->name;
    if (parent->fitness) t += " scored " + format_number(*parent->fitness);
    if (parent->fitness && child.fitness) t += "; change " + format_number(*child.fitness - *parent->fitness, "%+.3f");
    t += ".";
    if (parent->design && child.design) {
      auto diffs = differences(*parent->design, *child.design);
      if (!diffs.empty()) {
        t += " Changes:";
        for (const auto& [gene, from, to] : diffs)
          t += " " + gene + " " + (from.empty() ? "(none)" : from) + " -> " + (to.empty() ? "(none)" : to) + ";";
      }
    }
    // Siblings: the parent's other children, best first.
    std::vector<const Lineage*> sibs;
    for (const auto& e : all)
      if (e.parent == child.parent && e.id != child.id && e.fitness) sibs.push_back(&e);
    std::sort(sibs.begin(), sibs.end(), [](auto* a, auto* b) { return *a->fitness > *b->fitness; });
    if (!sibs.empty()) {
      int better = 0;
      for (auto* s : sibs) better += child.fitness && *child.fitness > *s->fitness;
      t += " Among " + std::to_string(sibs.size() + 1) + " children of this parent it ranks " +
           std::to_string(sibs.size() + 1 - better) + "; best sibling #" + std::to_string(sibs[0]->id) + " (" +
           format_number(*sibs[0]->fitness) + ").";
    }
  }
  auto effects = aggregate_effects(all);
  if (!effects.empty()) {
    t += " Across the archive, helpful changes:";
    int shown = 0;
    for (const auto& e : effects) {
      if (e.mean_delta <= 0 || shown == 3) break;
      t += " " + e.change + " (" + format_number(e.mean_delta, "%+.3f") + ", n=" + std::to_string(e.count) + ")";
      ++shown;
    }
    if (!shown) t += " none yet";
    t += "; harmful:";
    shown = 0;
    for (auto it = effects.rbegin(); it != effects.rend() && shown < 3 && it->mean_delta < 0; ++it, ++shown)
      t += " " + it->change + " (" + format_number(it->mean_delta, "%+.3f") + ", n=" + std::to_string(it->count) + ")";
    if (!shown) t += " none yet";
    t += ".";
  }
  r.text = t;
  for (const auto& e : effects) r.insights.push_back(to_json(e));
  return r;
}

}  // namespace asiarch::agents
