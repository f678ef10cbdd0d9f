// Causality of a trained model, probed as it is used. A mixer that reads the
// future only after training, at the task's real length and batch size, in
// one mode, or once it has seen many calls, passes the gates before training;
// these probes catch it on the trained model.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "lab/model.h"
#include "lab/tasks.h"

namespace asiarch::lab {

struct ProbeResult {
  bool passed = true;
  std::string reason;     // what changed, where, in which mode; or what was checked
  double max_change = 0;  // relative to the states' scale
  double seconds = 0;
};

// Each probe row is a test row whose tokens after a random position are
// replaced at random. Probe rows and their originals fill one ordinary batch
// of `batch_size` rows, in random order, so the model cannot tell them from
// the rest. Four passes: train and eval mode, grad on and off; three without
// eval mode without grad when `eval_without_grad` is false (where the test's
// own rows carry probe rows checked outside, lab/test_set.h). The model's
// per-position states at or before each probe's position must not change;
// any non-finite state fails.
ProbeResult probe_causality(LanguageModel& model, const TaskData& task, int64_t batch_size, std::uint64_t seed,
                            double tolerance = 1e-4, bool eval_without_grad = true);

void to_json(nlohmann::json& j, const ProbeResult& p);
void from_json(const nlohmann::json& j, ProbeResult& p);

}  // namespace asiarch::lab
