// The ladder as a researcher reads it, computed from what the archive stores and nothing else: the
// run's own preset, its rungs in the order it climbed them (Archive::ladder), then any other stage
// (a rung of an earlier configuration), the held-out task sets last; on each, the designs scored
// there best first, those that failed there, and how well the order below predicts it (Spearman).
// The run's summary and `asiarch ladder` both print this; the loop's `ladder_rung` event uses the
// same rank agreement.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace asiarch::host {

struct RankAgreement {
  std::optional<double> spearman;  // undefined with fewer than two designs or no spread
  size_t pairs = 0;                // designs scored on both
};

// Spearman between fitness on `below` and on `preset` over those of `ids` scored on both.
RankAgreement rank_agreement(const archive::Archive& a, const std::vector<int64_t>& ids, const std::string& below,
                             const std::string& preset, const std::string& first_preset);

struct Rung {
  std::string preset;
  bool held_out = false;
  std::vector<int64_t> scored;  // best first by fitness on this preset
  std::vector<int64_t> failed;  // evaluated here (a stage) and failed
  std::string below;            // the rung it was promoted from (empty: the first, and held-out sets)
  RankAgreement agreement;      // with `below`
};

// Every rung, the run's own preset first. An archive with no stored ladder (older, or a run that
// never set one) has its own preset inferred from its training runs, and no order among its stages
// but the order they were first recorded in.
std::vector<Rung> ladder_of(const archive::Archive& a);

}  // namespace asiarch::host
