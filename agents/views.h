// What the roles read off archived experiments beyond the view itself: the
// closest archived source (novelty for free-form code, which has no genes to
// compare) and a design's measured figures as one block of text (every prompt
// that shows a design's results shows them this way).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/roles.h"

namespace asiarch::agents {

struct Closest {
  int64_t id = 0;
  std::string name;
  double similarity = 0;  // 0..1, names ignored (util/similarity.h renamed_similarity)
  std::string statement;  // "closest archived source: #3 delta_net, 84% alike once names are ignored"
};

// The archived experiment (not `of` itself) whose source reads most like `of`'s; none without sources.
std::optional<Closest> closest_source(const ExperimentView& of, const std::vector<ExperimentView>& archive);

// Fitness and its parts, each task's metric, throughput and final loss, and the parameter counts,
// from `v.results` (as the engine fills it); "not evaluated" or the failure where there are none.
std::string figures(const ExperimentView& v);

// The label a prompt shows an experiment's analysis under, and the Researcher's answer names.
std::string analysis_label(int64_t experiment);

// Where a proposal's idea came from, as experiment_proposed records it: {"stated", "cognition":
// [labels], "analysis": [labels]}. The archive's own analysis is the Analyst's insights
// ("insight-..."), an experiment's analysis ("analysis-N") and measured effects ("effect:...");
// every other label is a cognition-base entry (built-in or the user's notes).
nlohmann::json provenance_record(const Proposal& p);

}  // namespace asiarch::agents
