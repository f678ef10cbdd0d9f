// What a run reports to a researcher: per design, the mean and 95% interval of each metric over
// seeds, and the comparison with the reference paired by seed. Read from the archive only; used by
// the run's summary and by `asiarch top`, `compare` and `ladder`.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "results/replicates.h"

namespace asiarch::host {

struct DesignRow {
  int64_t id = 0;
  std::string name;
  std::string origin;
  std::string preset;             // where it was measured
  std::optional<double> fitness;  // on the preset: the first stage's score or that stage's
  Replicated measured;            // over the seeds measured on the preset
  bool reference = false;
  std::optional<Comparison> against_reference;  // paired by seed; none for the reference itself
};

// DeltaNet's experiment (the reference of every comparison), if archived.
std::optional<int64_t> reference_experiment(const archive::Archive& a);

// A design's fitness on `preset`: the first stage's when `preset` is the run's own (`first_preset`),
// else its scored stage there.
std::optional<double> fitness_on(const archive::Archive& a, int64_t id, const std::string& preset,
                                 const std::string& first_preset);

// Rows for `ids` on `preset`, in the order given.
std::vector<DesignRow> design_rows(const archive::Archive& a, const std::vector<int64_t>& ids, const std::string& preset,
                                   const std::string& first_preset);

// One row for each preset `id` was measured on, in the order first measured (its own preset
// first), each with its paired verdict against the reference there: `asiarch show` and the API.
std::vector<DesignRow> measured_rows(const archive::Archive& a, int64_t id);

// The detail view (archive/views.h) with `measured`: measured_rows as JSON. What
// `asiarch show --json` prints and `GET /api/experiments/{id}` answers.
Result<nlohmann::json> experiment_view(const archive::Archive& a, int64_t id);

// The rows as a table: fitness, bits per byte and mean accuracy (mean ± 95% interval over seeds)
// and the paired verdict against the reference; a line says what ± means.
void print_rows(std::ostream& out, const std::vector<DesignRow>& rows);

// Each candidate (non-baseline) of `ids` against the baseline `other` on `preset`, paired by seed:
// a heading and one verdict line each (nothing when `other` has fewer than two seeds there).
void print_against(std::ostream& out, const archive::Archive& a, const std::vector<int64_t>& ids, int64_t other,
                   const std::string& preset);

// "better: fitness +0.12 ± 0.05 (3 seeds)" and the like.
std::string verdict_text(const Comparison& c);

nlohmann::json to_json(const DesignRow& r);

}  // namespace asiarch::host
