#include "results/report.h"

#include "lab/names.h"

#include <algorithm>
#include <cstdio>

#include "archive/views.h"
#include "util/format.h"

namespace asiarch::host {

std::optional<int64_t> reference_experiment(const archive::Archive& a) { return a.baseline_named(lab::kReferenceDesign); }

std::optional<double> fitness_on(const archive::Archive& a, int64_t id, const std::string& preset,
                                 const std::string& first_preset) {
  if (preset == first_preset) {
    auto s = a.score(id);
    return s ? std::optional<double>(s->total) : std::nullopt;
  }
  for (const auto& st : a.stages(id))
    if (st.preset == preset && st.status == archive::ExperimentStatus::scored) return st.score.total;
  return std::nullopt;
}

std::vector<DesignRow> design_rows(const archive::Archive& a, const std::vector<int64_t>& ids, const std::string& preset,
                                   const std::string& first_preset) {
  const auto ref = reference_experiment(a);
  SeedMetrics ref_seeds;
  if (ref) ref_seeds = metrics_by_seed(a.measurements(*ref), preset);
  std::vector<DesignRow> rows;
  for (int64_t id : ids) {
    auto e = a.experiment(id);
    if (!e) continue;
    DesignRow r;
    r.id = id;
    r.name = e->name;
    r.origin = archive::to_string(e->origin);
    r.preset = preset;
    r.fitness = fitness_on(a, id, preset, first_preset);
    const auto seeds = metrics_by_seed(a.measurements(id), preset);
    r.measured = replicated(seeds);
    r.reference = ref && *ref == id;
    if (ref && !r.reference && !seeds.empty() && !ref_seeds.empty()) r.against_reference = compare_paired(seeds, ref_seeds);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::vector<DesignRow> measured_rows(const archive::Archive& a, int64_t id) {
  const auto runs = a.training_runs(id);
  const std::string first = runs.empty() ? "" : runs.front().preset;
  std::vector<std::string> presets;
  for (const auto& m : a.measurements(id))
    if (std::find(presets.begin(), presets.end(), m.preset) == presets.end()) presets.push_back(m.preset);
  std::stable_partition(presets.begin(), presets.end(), [&](const std::string& p) { return p == first; });
  std::vector<DesignRow> rows;
  for (const auto& p : presets) {
    auto r = design_rows(a, {id}, p, first);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  return rows;
}

Result<nlohmann::json> experiment_view(const archive::Archive& a, int64_t id) {
  auto j = archive::detail_view(a, id);
  if (!j) return j.error();
  (*j)["measured"] = nlohmann::json::array();
  for (const auto& row : measured_rows(a, id)) (*j)["measured"].push_back(to_json(row));
  return j;
}

std::string verdict_text(const Comparison& c) {
  if (c.pairs == 0) return "no seed measured on both";
  std::string s = c.verdict;
  s += ": fitness " + std::string(c.fitness.mean >= 0 ? "+" : "") + format_interval(c.fitness);
  s += " (" + std::to_string(c.pairs) + (c.pairs == 1 ? " seed)" : " seeds)");
  // A verdict resting on diverged runs says so: their figures are the worst the task allows.
  auto diverged = [&](int n, const char* whose) {
    return "; " + std::string(whose) + " training diverged on " + std::to_string(n) + " of " + std::to_string(c.pairs) +
           (c.pairs == 1 ? " seed" : " seeds") + " (scored as the worst)";
  };
  if (c.diverged_seeds) s += diverged(c.diverged_seeds, "its");
  if (c.reference_diverged_seeds) s += diverged(c.reference_diverged_seeds, "the reference's");
  // The fitness parts saturate (a gain of 10% scores as much as one of 50%) and can cancel: the
  // metrics' own paired differences say which way each went.
  auto part = [](const char* name, const lab::Interval& i, bool lower_better) {
    std::string t = std::string("; ") + name + " " + (i.mean >= 0 ? "+" : "") + format_interval(i);
    if (i.excludes_zero()) t += (i.mean < 0) == lower_better ? " (better)" : " (worse)";
    return t;
  };
  if (c.loss) s += part("bits/byte", *c.loss, true);
  if (c.accuracy) s += part("accuracy", *c.accuracy, false);
  return s;
}

void print_rows(std::ostream& out, const std::vector<DesignRow>& rows) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-5s %-32s %-12s %8s %5s  %-16s %-16s %s\n", "id", "name", "origin", "fitness",
                "seeds", "bits/byte", "mean accuracy", "against DeltaNet, paired by seed");
  out << buf;
  int max_seeds = 0;
  bool any_diverged = false;
  for (const auto& r : rows) {
    max_seeds = std::max(max_seeds, r.measured.seeds);
    const std::string fit = r.fitness ? [&] {
      char f[32];
      std::snprintf(f, sizeof f, "%.3f", *r.fitness);
      return std::string(f);
    }()
                                      : std::string("-");
    const std::string bpb = r.measured.loss ? format_interval(*r.measured.loss) : "-";
    const std::string acc = r.measured.accuracy ? format_interval(*r.measured.accuracy) : "-";
    const std::string vs = r.reference ? "the reference" : r.against_reference ? verdict_text(*r.against_reference) : "-";
    // "3!" : three seeds, training diverged on some (explained below the table).
    const std::string seeds = std::to_string(r.measured.seeds) + (r.measured.diverged_seeds ? "!" : "");
    any_diverged = any_diverged || r.measured.diverged_seeds;
    std::snprintf(buf, sizeof buf, "  %-5lld %-32s %-12s %8s %5s  ", static_cast<long long>(r.id),
                  r.name.substr(0, 32).c_str(), r.origin.c_str(), fit.c_str(), seeds.c_str());
    out << buf << pad_right(bpb, 16) << " " << pad_right(acc, 16) << " " << vs << "\n";
  }
  if (any_diverged)
    out << "  ! training diverged (loss became NaN or infinite) on some seeds: those tasks are scored as the worst\n"
           "    the task allows, not from the state the run had reached.\n";
  if (max_seeds >= 2)
    out << "  ± is a 95% interval over seeds (Student's t). \"better\" or \"worse\" only where the interval of the\n"
           "  paired fitness difference (seed k against the reference's seed k) excludes zero.\n";
  else
    out << "  one seed each: no intervals, and no difference can be called significant (--seeds 3 measures the noise).\n";
}

void print_against(std::ostream& out, const archive::Archive& a, const std::vector<int64_t>& ids, int64_t other,
                   const std::string& preset) {
  auto b = a.experiment(other);
  const auto other_seeds = metrics_by_seed(a.measurements(other), preset);
  if (!b || other_seeds.size() < 2) return;  // one seed: no interval, nothing to say
  bool heading = false;
  for (int64_t id : ids) {
    auto e = a.experiment(id);
    if (!e || e->origin == archive::Origin::baseline) continue;
    const auto seeds = metrics_by_seed(a.measurements(id), preset);
    if (seeds.empty()) continue;
    if (!heading) out << "  against " << b->name << " (#" << other << "), paired by seed:\n";
    heading = true;
    char buf[64];
    std::snprintf(buf, sizeof buf, "    #%-5lld %-32s ", static_cast<long long>(id), e->name.substr(0, 32).c_str());
    out << buf << verdict_text(compare_paired(seeds, other_seeds)) << "\n";
  }
}

nlohmann::json to_json(const DesignRow& r) {
  nlohmann::json j = {{"id", r.id}, {"name", r.name}, {"origin", r.origin}, {"preset", r.preset}, {"reference", r.reference},
                      {"measured", to_json(r.measured)}};
  j["fitness"] = r.fitness ? nlohmann::json(*r.fitness) : nlohmann::json(nullptr);
  if (r.against_reference) j["against_reference"] = to_json(*r.against_reference);
  return j;
}

}  // namespace asiarch::host
