// The offline Judge: a qualitative 1..10 score from measured properties,
// each part with its reason: complexity (fitted exponents), parameter
// efficiency (against DeltaNet), training stability (stop reasons, loss
// curves) and distance from the designs already in the archive.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/roles.h"
#include "lab/eval.h"

namespace asiarch::agents {

struct JudgeInputs {
  const lab::EvalReport* report = nullptr;
  int64_t reference_parameters = 0;   // DeltaNet's
  std::optional<double> novelty;      // distance to the nearest archived design, 0..1
  std::string novelty_reason;         // how it was measured; empty: by genes
};

Judgement judge(const JudgeInputs& in);

}  // namespace asiarch::agents
