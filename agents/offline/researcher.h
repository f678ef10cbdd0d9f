// The offline Researcher: proposes a child of a parent design by crossover
// with reference designs and mutation, choosing changes by the Analyst's
// measured effects (with a bonus for changes never tried), emits the plugin
// source and writes the motivation. Refuses designs already in the archive.
#pragma once

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "agents/offline/analyst.h"
#include "agents/offline/design.h"
#include "util/result.h"

namespace asiarch::agents {

struct DesignRef {
  int64_t id = 0;
  std::string name;
  Design design;
  double fitness = 0;
};

struct ResearchInput {
  DesignRef parent;
  std::vector<DesignRef> references;
  std::vector<Effect> effects;  // from aggregate_effects
  // The cognition base (ResearchContext::retrieve): the motivation cites what it holds on the change.
  std::function<std::vector<Knowledge>(const std::string& query, int k)> retrieve;
};

struct DesignProposal {
  Design design;
  std::string name;
  std::string motivation;
  std::string source;
  std::string canonical;
  std::string source_hash;
  std::vector<std::string> changes;  // "gene: from -> to"
  // What the choice drew on: "effect:gene=value" where the archive's measured effect of the change
  // weighed the pick, the cognition entry the motivation cites.
  std::vector<std::string> drew_on;
};

struct ResearcherConfig {
  double crossover_probability = 0.3;  // when there are references
  double temperature = 0.1;            // softmax temperature over expected fitness change
  double exploration_bonus = 0.05;     // added to changes the archive has not tried
  int max_tries = 64;
};

// `known(canonical, source_hash)` says whether the archive already has it.
Result<DesignProposal> propose(const ResearchInput& input, std::mt19937_64& rng,
                         const std::function<bool(const std::string&, const std::string&)>& known,
                         const ResearcherConfig& config = {});

}  // namespace asiarch::agents
