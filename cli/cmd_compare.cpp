// `asiarch compare A B [--seeds N] [--preset P]`: a paired comparison of two designs, seed k of
// one against seed k of the other, as a table with 95% intervals. A and B are experiment ids
// (their stored measurements) or plugin files (evaluated here, each seed in a sandboxed worker).
// `asiarch ladder`: each rung of a run's ladder, the designs evaluated there and how well each
// rung's order predicted the next (Spearman).
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/inspect.h"
#include "worker/lab_setup.h"
#include "results/ladder.h"
#include "results/replicates.h"
#include "results/report.h"
#include "engine/scoring.h"
#include "worker/worker_job.h"
#include "lab/presets.h"
#include "lab/stats.h"
#include "util/files.h"
#include "util/format.h"

namespace asiarch::host {
namespace {

struct CompareArgs {
  std::string a, b;
  int seeds = 0;  // 0: every stored seed (ids), 3 (files)
  std::string preset;
  std::string presets_file;
  std::vector<std::string> tasks;
  std::string workdir = "asiarch-work";
  std::string cache_dir;
  double timeout = 24 * 3600;
  bool json = false;
  bool quiet = false;
};

bool is_id(const std::string& s) { return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos; }

struct Side {
  std::string label;
  SeedMetrics seeds;
  std::vector<std::string> failures;
};

// The presets an experiment has measurements on, the first stage's first.
std::vector<std::string> measured_presets(const archive::Archive& ar, int64_t id) {
  std::vector<std::string> out;
  for (const auto& r : ar.training_runs(id))
    if (std::find(out.begin(), out.end(), r.preset) == out.end()) out.push_back(r.preset);
  for (const auto& m : ar.measurements(id))
    if (std::find(out.begin(), out.end(), m.preset) == out.end()) out.push_back(m.preset);
  return out;
}

Result<Side> stored_side(const archive::Archive& ar, int64_t id, const std::string& preset, int seeds) {
  auto e = ar.experiment(id);
  if (!e) return e.error();
  Side s;
  s.label = "#" + std::to_string(id) + " " + e->name;
  s.seeds = metrics_by_seed(ar.measurements(id), preset);
  if (s.seeds.empty()) {
    // Archives from before measurements were kept: the first stage's one seed.
    std::vector<archive::TrainingRun> runs;
    for (const auto& r : ar.training_runs(id))
      if (r.preset == preset) runs.push_back(r);
    if (!runs.empty()) s.seeds = metrics_by_seed(measurements_of(runs, runs.front().config.value("seed", 0ULL)), preset);
  }
  if (s.seeds.empty()) {
    std::string have;
    for (const auto& p : measured_presets(ar, id)) have += (have.empty() ? "" : ", ") + p;
    return make_error("#" + std::to_string(id) + " has no measurements on " + preset +
                      (have.empty() ? "" : " (it has: " + have + ")"));
  }
  while (seeds > 0 && static_cast<int>(s.seeds.size()) > seeds) s.seeds.erase(std::prev(s.seeds.end()));
  return s;
}

Result<Side> evaluated_side(const CompareArgs& a, const std::string& file, WorkerJob job, const WorkerSettings& settings,
                            const std::filesystem::path& scratch) {
  auto source = read_file(file);
  if (!source) return source.error();
  Side s;
  s.label = file;
  job.name = file;
  std::vector<archive::Measurement> ms;
  for (int k = 0; k < a.seeds; ++k) {
    job.seed = static_cast<std::uint64_t>(k);
    job.replica = k > 0;
    if (!a.quiet) std::cerr << "  " << file << ": seed " << k << " of " << a.seeds << "\n";
    auto out = run_job(job, *source, scratch / ("seed-" + std::to_string(k)), settings);
    if (!out) return out.error();
    const WorkerResult& r = out->result;
    if (!out->failure.empty()) return make_error(file + ": seed " + std::to_string(k) + ": " + out->failure);
    if (!r.built()) return make_error(file + ": does not build (`asiarch compile " + file + "` shows why)");
    if (!r.error.empty() || !r.report) return make_error(file + ": " + r.error);
    if (!r.report->gates_passed) return make_error(file + ": fails the sanity gates (`asiarch eval " + file + "` shows which)");
    auto runs = training_runs(*r.report, job);
    for (const auto& run : runs)
      if (run.stop_reason != "completed")
        s.failures.push_back("seed " + std::to_string(k) + " " + run.task + ": " + run.stop_reason);
    auto m = measurements_of(runs, job.seed);
    ms.insert(ms.end(), m.begin(), m.end());
  }
  s.seeds = metrics_by_seed(ms, a.preset);
  return s;
}

std::string cell(const lab::Interval& i) { return format_interval(i); }

void print_comparison(const Side& A, const Side& B, const std::string& preset, const Comparison& c) {
  const auto ra = replicated(A.seeds), rb = replicated(B.seeds);
  std::cout << "A = " << A.label << "\nB = " << B.label << "\non " << preset << ", " << c.pairs
            << " seed(s) measured on both; A - B paired by seed\n\n";
  char buf[512];
  std::snprintf(buf, sizeof buf, "  %-26s %-18s %-18s %-20s %s\n", "metric", "A", "B", "A - B", "significance");
  std::cout << buf;
  auto line = [&](const std::string& name, const std::optional<lab::Interval>& x, const std::optional<lab::Interval>& y,
                  const std::optional<lab::Interval>& d, bool lower_better) {
    std::string sig = "-";
    if (d && d->half_width) sig = d->excludes_zero() ? ((d->mean < 0) == lower_better ? "A better" : "B better") : "not significant";
    std::cout << "  " << pad_right(name, 26) << " " << pad_right(x ? cell(*x) : "-", 18) << " "
              << pad_right(y ? cell(*y) : "-", 18) << " " << pad_right(d ? (d->mean >= 0 ? "+" : "") + cell(*d) : "-", 20)
              << " " << sig << "\n";
  };
  std::set<std::string> tasks;
  for (const auto& [t, i] : ra.tasks) tasks.insert(t);
  for (const auto& [t, i] : rb.tasks) tasks.insert(t);
  auto get = [](const std::map<std::string, lab::Interval>& m, const std::string& k) -> std::optional<lab::Interval> {
    auto it = m.find(k);
    return it == m.end() ? std::nullopt : std::optional<lab::Interval>(it->second);
  };
  for (const auto& t : tasks)
    line(t == "byte_lm" ? "byte_lm (bits/byte)" : t, get(ra.tasks, t), get(rb.tasks, t), get(c.tasks, t), t == "byte_lm");
  line("mean accuracy", ra.accuracy, rb.accuracy, c.accuracy, false);
  line("fitness (ASI-Arch, B = 1)", std::nullopt, std::nullopt, c.fitness, false);
  std::cout << "\nverdict: "
            << (c.verdict == "better"  ? "A is better than B"
                : c.verdict == "worse" ? "A is worse than B"
                                       : c.verdict + " between A and B")
            << (c.pairs >= 2 ? " (95% interval of the paired fitness difference " +
                                   std::string(c.fitness.excludes_zero() ? "excludes" : "includes") + " zero)"
                             : "")
            << "\n";
  for (const auto* s : {&A, &B})
    for (const auto& f : s->failures) std::cout << "note: " << s->label << ": " << f << "\n";
}

int run_compare(CompareArgs a) {
  const bool ids = is_id(a.a) && is_id(a.b);
  if (!ids && (is_id(a.a) || is_id(a.b))) {
    std::cerr << "asiarch compare: give two experiment ids or two plugin files, not one of each\n";
    return 2;
  }
  Side A, B;
  if (ids) {
    auto ar = open_workdir_archive(a.workdir);
    if (!ar) return std::cerr << "asiarch compare: " << ar.error().message << "\n", 1;
    if (a.preset.empty()) {
      auto p = measured_presets(**ar, std::stoll(a.a));
      if (p.empty()) return std::cerr << "asiarch compare: #" << a.a << " has no measurements\n", 1;
      a.preset = p.front();
    }
    auto x = stored_side(**ar, std::stoll(a.a), a.preset, a.seeds);
    auto y = stored_side(**ar, std::stoll(a.b), a.preset, a.seeds);
    if (!x) return std::cerr << "asiarch compare: " << x.error().message << "\n", 1;
    if (!y) return std::cerr << "asiarch compare: " << y.error().message << "\n", 1;
    A = std::move(*x);
    B = std::move(*y);
  } else {
    if (a.preset.empty()) a.preset = "first";
    if (a.seeds <= 0) a.seeds = 3;
    auto preset = load_preset_arg(a.preset, a.presets_file);
    if (!preset) return std::cerr << "asiarch compare: " << preset.error().message << "\n", 2;
    if (auto t = lab::select_tasks(*preset, a.tasks); !t) return std::cerr << "asiarch compare: " << t.error().message << "\n", 2;
    WorkerJob job = plugin_eval_job(a.preset, a.presets_file, a.tasks, a.cache_dir, a.workdir);
    WorkerSettings settings;
    settings.limits.wall_seconds = a.timeout;
    const auto scratch = std::filesystem::absolute(a.workdir) / "scratch" / ("compare-" + std::to_string(::getpid()));
    auto prepared = prepare_cache(job, scratch / "prepare", settings);
    if (!prepared) return std::cerr << "asiarch compare: " << prepared.error().message << "\n", 2;
    job.reference_parameters = prepared->reference_parameters;
    auto x = evaluated_side(a, a.a, job, settings, scratch / "a");
    if (!x) return std::cerr << "asiarch compare: " << x.error().message << "\n", 1;
    auto y = evaluated_side(a, a.b, job, settings, scratch / "b");
    if (!y) return std::cerr << "asiarch compare: " << y.error().message << "\n", 1;
    A = std::move(*x);
    B = std::move(*y);
    std::error_code ec;
    std::filesystem::remove_all(scratch, ec);
  }
  const Comparison c = compare_paired(A.seeds, B.seeds);
  if (a.json) {
    std::cout << nlohmann::json{{"a", {{"label", A.label}, {"measured", to_json(replicated(A.seeds))}, {"notes", A.failures}}},
                                {"b", {{"label", B.label}, {"measured", to_json(replicated(B.seeds))}, {"notes", B.failures}}},
                                {"preset", a.preset},
                                {"a_minus_b", to_json(c)}}
                     .dump(2)
              << "\n";
  } else {
    print_comparison(A, B, a.preset, c);
  }
  return 0;
}

struct LadderArgs {
  std::string workdir = "asiarch-work";
  bool json = false;
};

int run_ladder(const LadderArgs& a) {
  auto opened = open_workdir_archive(a.workdir);
  if (!opened) return std::cerr << "asiarch ladder: " << opened.error().message << "\n", 1;
  const auto& ar = **opened;
  // The rungs as the archive stores them (results/ladder.h), the held-out sets left out.
  std::vector<Rung> rungs;
  for (auto& r : ladder_of(ar))
    if (!r.held_out && (rungs.empty() || !r.scored.empty() || !r.failed.empty())) rungs.push_back(std::move(r));
  const std::string first = rungs.empty() ? std::string() : rungs.front().preset;
  nlohmann::json j = nlohmann::json::array();
  for (size_t k = 0; k < rungs.size(); ++k) {
    const Rung& rung = rungs[k];
    const auto& ids = rung.scored;
    const auto& rho = rung.agreement.spearman;
    const auto rows = design_rows(ar, ids, rung.preset, first);
    if (a.json) {
      nlohmann::json r = {{"preset", rung.preset}, {"designs", nlohmann::json::array()}};
      for (const auto& row : rows) r["designs"].push_back(to_json(row));
      if (k > 0)
        r["spearman_with_below"] = rho ? nlohmann::json(*rho) : nlohmann::json(nullptr), r["pairs"] = rung.agreement.pairs;
      j.push_back(r);
      continue;
    }
    std::cout << (k ? "\n" : "") << "rung " << k << ": " << rung.preset << " (" << ids.size() << " design(s))\n";
    print_rows(std::cout, rows);
    for (const auto& row : rows)  // each candidate against the other baselines measured here
      if (row.origin == "baseline" && !row.reference) print_against(std::cout, ar, ids, row.id, rung.preset);
    if (k > 0)
      std::cout << "  Spearman with " << rung.below << ": " << (rho ? format_number(*rho) : std::string("undefined"))
                << " over " << rung.agreement.pairs << " design(s) scored on both\n";
  }
  if (a.json) std::cout << j.dump(2) << "\n";
  return 0;
}

}  // namespace

void add_compare_commands(CLI::App& app, int& exit_code) {
  {
    auto a = std::make_shared<CompareArgs>();
    CLI::App* cmd = app.add_subcommand(
        "compare",
        "A paired comparison of two designs: seed k of A against seed k of B, per task and in fitness, with\n"
        "95% intervals. A and B are experiment ids (their stored measurements, from --workdir) or plugin\n"
        "files (each trained on --seeds seeds in sandboxed workers). A is called better only where the\n"
        "interval of the paired difference excludes zero.");
    cmd->add_option("a", a->a, "experiment id or plugin file")->required();
    cmd->add_option("b", a->b, "experiment id or plugin file (the reference: DeltaNet is plugins/baselines/delta_net.cpp)")
        ->required();
    cmd->add_option("--seeds", a->seeds, "seeds (files: 3 by default; ids: the first N stored, default all)");
    cmd->add_option("--preset", a->preset, "files: the preset to train on (default first); ids: the preset whose "
                                           "measurements to compare (default the first stage's)");
    cmd->add_option("--presets", a->presets_file, "a presets JSON file to use instead of the built-in one");
    cmd->add_option("--tasks", a->tasks, "files: comma-separated task names (default: all of the preset's)")->delimiter(',');
    cmd->add_option("--workdir", a->workdir, "the run's folder (ids), or scratch space and the baseline table (files)")
        ->capture_default_str();
    cmd->add_option("--cache-dir", a->cache_dir, "compile and corpus cache directory");
    cmd->add_option("--timeout", a->timeout, "wall-clock limit per worker, seconds")->capture_default_str();
    cmd->add_flag("--json", a->json, "print JSON");
    cmd->add_flag("--quiet", a->quiet, "no progress lines");
    cmd->callback([a, &exit_code] { exit_code = run_compare(*a); });
  }
  {
    auto a = std::make_shared<LadderArgs>();
    CLI::App* cmd = app.add_subcommand(
        "ladder", "A run's ladder of scales: per rung, the designs evaluated there with intervals over seeds and\n"
                  "the paired verdict against DeltaNet, and the Spearman correlation with the rung below.");
    cmd->add_option("--workdir", a->workdir, "the run's folder")->capture_default_str();
    cmd->add_flag("--json", a->json, "print JSON");
    cmd->callback([a, &exit_code] { exit_code = run_ladder(*a); });
  }
}

}  // namespace asiarch::host
