// The offline Analyst: compares each child with its parent and siblings, and
// aggregates across the archive the effect on fitness of each kind of change
// ("gene=value" adopted by a child). The Researcher reads those effects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/offline/design.h"
#include "agents/roles.h"

namespace asiarch::agents {

// One experiment as the Analyst sees it.
struct Lineage {
  int64_t id = 0;
  std::string name;
  std::optional<int64_t> parent;
  std::optional<Design> design;  // absent for hand-written plugins outside the design space
  std::optional<double> fitness; // absent when it failed before scoring
  bool failed = false;
  std::string fail_reason;
};

struct Effect {
  std::string change;       // "update=gated_delta"
  double mean_delta = 0;    // mean fitness of children that adopted it, minus their parents'
  int count = 0;
  int failures = 0;         // children with this change that failed (counted as kFailurePenalty)
};

// A failed child counts as this change in fitness (it wasted a slot).
inline constexpr double kFailurePenalty = -1.0;

// Effects of every change, best first; only children whose parent has a design and a fitness.
std::vector<Effect> aggregate_effects(const std::vector<Lineage>& experiments);

AnalystReport analyse(const Lineage& child, const std::vector<Lineage>& experiments);

nlohmann::json to_json(const Effect& e);

}  // namespace asiarch::agents
