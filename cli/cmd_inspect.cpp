// Reading the archive: `asiarch ls`, `show ID`, `history ID`, `lineage [ID]`,
// `top [-n K]`, `usage [-k K]`, `provenance [--top N]`, each with --json (the views of archive/views.h). They open the
// archive read-only: looking never migrates or otherwise writes it.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <iostream>

#include "archive/archive.h"
#include "archive/views.h"
#include "cli/commands.h"
#include "cli/inspect.h"
#include "results/replicates.h"
#include "results/report.h"
#include "engine/scoring.h"

namespace asiarch::host {

Result<std::unique_ptr<archive::Archive>> open_workdir_archive(const std::string& workdir) {
  const auto path = std::filesystem::path(workdir) / "archive.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return make_error(path.string() + ": no archive here (run `asiarch run --workdir " + workdir + "` first)");
  return archive::Archive::open_read_only(path);
}

namespace {

struct InspectArgs {
  std::string workdir = "asiarch-work";
  int64_t id = 0;
  int n = 10;
  bool json = false;
  bool source = false;
  bool pareto = false;
};

std::string fitness_text(std::optional<double> total) {
  if (!total) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", *total);
  return buf;
}

std::string fitness_text(const archive::Archive& a, int64_t id) {
  auto s = a.score(id);
  return fitness_text(s ? std::optional<double>(s->total) : std::nullopt);
}

std::string row(const archive::Archive& a, const archive::Experiment& e) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-5lld %-40s %-12s %-7s %8s %7s  %s", static_cast<long long>(e.id),
                e.name.substr(0, 40).c_str(), archive::to_string(e.origin), archive::to_string(e.status),
                fitness_text(a, e.id).c_str(), e.parent ? ("#" + std::to_string(*e.parent)).c_str() : "-",
                e.fail_reason.substr(0, 80).c_str());
  return buf;
}

const char* kHeader = "id    name                                     origin       status   fitness  parent  note";

int cmd_ls(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch ls: " << ar.error().message << "\n", 1;
  if (a.json) {
    std::cout << archive::list_view(**ar).dump(2) << "\n";
    return 0;
  }
  std::cout << kHeader << "\n";
  for (const auto& e : (*ar)->experiments()) std::cout << row(**ar, e) << "\n";
  return 0;
}

// The designs no other design beats on loss (bits per byte, lower), mean accuracy (higher) and
// training throughput (tokens/s, higher) together, each the mean over the seeds measured on the
// first stage's preset. Peak memory (the complexity gate's, at its longest length) is shown beside.
int cmd_pareto(const archive::Archive& ar, const InspectArgs& a) {
  struct Point {
    int64_t id;
    std::string name;
    double fitness;
    std::optional<double> loss, accuracy;
    double tokens_per_second;
    std::optional<double> peak_bytes;
  };
  std::vector<Point> pts;
  for (const auto& [id, total] : ar.top(1000000)) {
    auto e = ar.experiment(id);
    if (!e) continue;
    auto runs = ar.training_runs(id);
    if (runs.empty()) continue;
    const std::string preset = runs.front().preset;
    std::vector<archive::TrainingRun> first;
    for (auto& r : runs)
      if (r.preset == preset) first.push_back(r);
    auto ms = ar.measurements(id);
    const auto mean = metrics_of(with_mean_metrics(first, ms));
    double tps = 0;
    int n = 0;
    for (const auto& m : ms)
      if (m.preset == preset && m.tokens_per_second > 0) tps += m.tokens_per_second, ++n;
    if (!n)
      for (const auto& r : first)
        if (r.tokens_per_second > 0) tps += r.tokens_per_second, ++n;
    if (!n) continue;
    Point p{id, e->name, total, mean.loss, std::nullopt, tps / n, std::nullopt};
    if (!mean.accuracy.empty()) {
      double s = 0;
      for (const auto& [t, v] : mean.accuracy) s += v;
      p.accuracy = s / static_cast<double>(mean.accuracy.size());
    }
    for (const auto& g : ar.gates(id))
      if (g.name == "complexity" && g.details.contains("peak_bytes") && g.details["peak_bytes"].is_array() &&
          !g.details["peak_bytes"].empty())
        p.peak_bytes = g.details["peak_bytes"].back().get<double>();
    pts.push_back(std::move(p));
  }
  // q dominates p: at least as good on every objective both have, better on one.
  auto dominates = [](const Point& q, const Point& p) {
    bool better = false;
    if (q.loss && p.loss) {
      if (*q.loss > *p.loss) return false;
      better = better || *q.loss < *p.loss;
    }
    if (q.accuracy && p.accuracy) {
      if (*q.accuracy < *p.accuracy) return false;
      better = better || *q.accuracy > *p.accuracy;
    }
    if (q.tokens_per_second < p.tokens_per_second) return false;
    return better || q.tokens_per_second > p.tokens_per_second;
  };
  std::vector<Point> front;
  for (const auto& p : pts)
    if (std::none_of(pts.begin(), pts.end(), [&](const Point& q) { return dominates(q, p); })) front.push_back(p);
  if (static_cast<int>(front.size()) > a.n) front.resize(static_cast<size_t>(a.n));
  auto opt = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& p : front)
      j.push_back({{"id", p.id}, {"name", p.name}, {"fitness", p.fitness}, {"bits_per_byte", opt(p.loss)},
                   {"accuracy", opt(p.accuracy)}, {"tokens_per_second", p.tokens_per_second},
                   {"peak_bytes", opt(p.peak_bytes)}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << "Pareto front of " << pts.size() << " scored design(s): none of these is beaten on bits per byte (lower),\n"
            << "mean accuracy (higher) and training tokens/s (higher) together by another design\n\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-5s %-36s %8s %10s %9s %10s %9s\n", "id", "name", "fitness", "bits/byte",
                "accuracy", "tokens/s", "peak MiB");
  std::cout << buf;
  auto num = [](const std::optional<double>& v, const char* f) {
    if (!v) return std::string("-");
    char b[32];
    std::snprintf(b, sizeof b, f, *v);
    return std::string(b);
  };
  for (const auto& p : front) {
    std::snprintf(buf, sizeof buf, "%-5lld %-36s %8.3f %10s %9s %10.0f %9s\n", static_cast<long long>(p.id),
                  p.name.substr(0, 36).c_str(), p.fitness, num(p.loss, "%.3f").c_str(), num(p.accuracy, "%.3f").c_str(),
                  p.tokens_per_second,
                  num(p.peak_bytes ? std::optional<double>(*p.peak_bytes / (1024.0 * 1024.0)) : std::nullopt, "%.2f").c_str());
    std::cout << buf;
  }
  return 0;
}

int cmd_top(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch top: " << ar.error().message << "\n", 1;
  if (a.pareto) return cmd_pareto(**ar, a);
  if (a.json) {
    std::cout << archive::top_view(**ar, a.n).dump(2) << "\n";
    return 0;
  }
  std::cout << kHeader << "\n";
  for (const auto& [id, total] : (*ar)->top(a.n))
    if (auto e = (*ar)->experiment(id)) std::cout << row(**ar, *e) << "\n";
  return 0;
}

int cmd_show(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch show: " << ar.error().message << "\n", 1;
  auto& A = **ar;
  auto e = A.experiment(a.id);
  if (!e) return std::cerr << "asiarch show: " << e.error().message << "\n", 1;
  if (a.json) {
    auto j = experiment_view(A, a.id);
    if (!j) return std::cerr << "asiarch show: " << j.error().message << "\n", 1;
    std::cout << j->dump(2) << "\n";
    return 0;
  }
  auto gates = A.gates(a.id);
  auto runs = A.training_runs(a.id);
  auto score = A.score(a.id);
  auto analyses = A.analyses(a.id);
  if (a.source) {
    std::cout << e->source;
    return 0;
  }
  std::cout << "#" << e->id << " " << e->name << " (" << archive::to_string(e->origin) << ", " << archive::to_string(e->status) << ")\n";
  if (e->parent) std::cout << "parent:     #" << *e->parent << "\n";
  if (!e->references.empty()) {
    std::cout << "references:";
    for (auto r : e->references) std::cout << " #" << r;
    std::cout << "\n";
  }
  if (!e->fail_reason.empty()) std::cout << "failed:     " << e->fail_reason << "\n";
  std::cout << "motivation: " << e->motivation << "\n";
  if (!e->design.empty()) {
    std::cout << "design:    ";
    for (const auto& [k, v] : e->design.items()) std::cout << " " << k << "=" << v.get<std::string>();
    std::cout << "\n";
  }
  if (!gates.empty()) {
    std::cout << "\ngates\n";
    for (const auto& g : gates) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "  %-20s %-4s  %s\n", g.name.c_str(), g.passed ? "pass" : "FAIL", g.reason.c_str());
      std::cout << buf;
    }
  }
  if (!runs.empty()) {
    std::cout << "\n  preset   task                     metric             value   steps   tokens/s   time s  stop\n";
    for (const auto& r : runs) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "  %-8s %-24s %-15s %8.4f %7lld %10.0f %8.1f  %s\n", r.preset.c_str(), r.task.c_str(),
                    r.metric_name.c_str(), r.metric, static_cast<long long>(r.steps), r.tokens_per_second, r.seconds,
                    r.stop_reason.c_str());
      std::cout << buf;
    }
  }
  if (score) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "\nfitness %.3f = loss %.3f + benchmarks %.3f + judge %.3f\n", score->total,
                  score->loss_score, score->bench_score, score->judge_score);
    std::cout << buf;
    const auto& d = score->details;
    if (d.contains("loss") && d.contains("baseline_loss"))
      std::cout << "  bits per byte " << d["loss"].get<double>() << " (DeltaNet " << d["baseline_loss"].get<double>()
                << ")\n";
    if (d.contains("accuracy") && d.contains("baseline_accuracy"))
      std::cout << "  mean accuracy " << d["accuracy"].get<double>() << " (DeltaNet "
                << d["baseline_accuracy"].get<double>() << ")\n";
    if (score->suspicious) {
      std::cout << "  SUSPICIOUS (never a parent):\n";
      for (const auto& f : score->flags) std::cout << "    " << f << "\n";
      // Archives from before the flags were written said only this.
      if (score->flags.empty()) std::cout << "    loss more than 10% below the baseline's\n";
    }
    if (d.contains("judge"))
      for (const auto& [part, v] : d["judge"].items())
        std::cout << "  judge " << part << ": " << v["score"].get<double>() << "/10 (weight " << v["weight"].get<double>()
                  << "): " << v["reason"].get<std::string>() << "\n";
  }
  for (const auto& st : A.stages(a.id)) {
    char buf[256];
    if (st.status == archive::ExperimentStatus::scored)
      std::snprintf(buf, sizeof buf, "\nstage %s: fitness %.3f = loss %.3f + benchmarks %.3f + judge %.3f\n",
                    st.preset.c_str(), st.score.total, st.score.loss_score, st.score.bench_score, st.score.judge_score);
    else
      std::snprintf(buf, sizeof buf, "\nstage %s: FAILED: %s\n", st.preset.c_str(), st.fail_reason.c_str());
    std::cout << buf;
  }
  // Every seed's metrics, per preset: mean ± 95% interval when there are several, and the
  // verdict against DeltaNet paired by seed.
  for (const auto& r : measured_rows(A, a.id)) {
    std::cout << "\nover " << r.measured.seeds << " seed(s) on " << r.preset << ":";
    for (const auto& [task, i] : r.measured.tasks) std::cout << " " << task << " " << format_interval(i) << ";";
    std::cout << "\n";
    if (r.against_reference) std::cout << "  against DeltaNet, paired by seed: " << verdict_text(*r.against_reference) << "\n";
  }
  for (const auto& an : analyses) std::cout << "\nanalysis: " << an.text << "\n";
  std::cout << "\n(source: asiarch show " << e->id << " --source; compile history: asiarch history " << e->id << ")\n";
  return 0;
}

int cmd_history(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch history: " << ar.error().message << "\n", 1;
  auto e = (*ar)->experiment(a.id);
  if (!e) return std::cerr << "asiarch history: " << e.error().message << "\n", 1;
  if (a.json) {
    auto j = archive::history_view(**ar, a.id);
    if (!j) return std::cerr << "asiarch history: " << j.error().message << "\n", 1;
    std::cout << j->dump(2) << "\n";
    return 0;
  }
  auto attempts = (*ar)->compile_attempts(a.id);
  std::cout << "#" << e->id << " " << e->name << ": " << attempts.size() << " compile attempt(s)\n";
  if (attempts.empty()) std::cout << "(none recorded: status " << archive::to_string(e->status) << ")\n";
  for (const auto& t : attempts) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "\nattempt %d: %s in %.2f s", t.attempt, t.ok ? "built" : "failed", t.seconds);
    std::cout << buf << (t.method.empty() ? "" : ", after " + t.method) << "\n";
    if (!t.failure.empty()) std::cout << "  did not finish: " << t.failure << "\n";
    for (const auto& ans : t.answered) std::cout << "  answered: " << ans << "\n";
    if (!t.diff.empty()) std::cout << t.diff;
    if (!t.diagnostics.items.empty()) std::cout << jit::to_text(t.diagnostics);
  }
  // Failures of the built source at run time, each told to the Engineer.
  auto runtime = (*ar)->runtime_attempts(a.id);
  if (!runtime.empty()) std::cout << "\n" << runtime.size() << " runtime attempt(s)\n";
  for (const auto& t : runtime) {
    std::cout << "\nrevision " << t.revision << " failed in " << t.stage << ": " << t.failure << "\n";
    std::cout << "  " << (t.revised ? "revised" : "not revised") << (t.method.empty() ? "" : ": " + t.method) << "\n";
    for (const auto& ans : t.answered) std::cout << "  answered: " << ans << "\n";
    if (!t.diff.empty()) std::cout << t.diff;
  }
  auto calls = (*ar)->llm_calls(a.id);
  if (!calls.empty()) std::cout << "\n" << calls.size() << " LLM call(s)\n";
  for (const auto& c : calls) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "\ncall %lld: %s %s, %s, template %s v%d: %lld+%lld tokens%s, $%.4f, %.1f s, HTTP %d, %d retr%s%s",
                  static_cast<long long>(c.id), c.role.c_str(), c.purpose.c_str(), c.model.c_str(),
                  c.template_name.c_str(), c.template_version, static_cast<long long>(c.prompt_tokens),
                  static_cast<long long>(c.completion_tokens), c.tokens_estimated ? " (estimated)" : "", c.cost_usd,
                  c.latency_seconds, c.http_status, c.retries, c.retries == 1 ? "y" : "ies", c.replayed ? ", replayed" : "");
    std::cout << buf << "\n";
    if (!c.error.empty()) std::cout << "  error: " << c.error << "\n";
    if (!c.outcome.empty()) std::cout << "  outcome: " << c.outcome << "\n";
  }
  return 0;
}

int cmd_usage(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch usage: " << ar.error().message << "\n", 1;
  const auto u = archive::usage_view(**ar, a.n);
  if (a.json) {
    std::cout << u.dump(2) << "\n";
    return 0;
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "%lld LLM call(s), %lld errors, %lld prompt + %lld completion tokens, $%.4f\n",
                static_cast<long long>(u["calls"].get<int64_t>()), static_cast<long long>(u["errors"].get<int64_t>()),
                static_cast<long long>(u["prompt_tokens"].get<int64_t>()),
                static_cast<long long>(u["completion_tokens"].get<int64_t>()), u["cost_usd"].get<double>());
  std::cout << buf;
  if (u["by_role"].empty()) return 0;
  std::cout << "\nrole        model                          calls errors   prompt  complet.      cost\n";
  for (const auto& r : u["by_role"]) {
    std::snprintf(buf, sizeof buf, "%-11s %-30s %5lld %6lld %8lld %9lld %9.4f\n", r["role"].get<std::string>().c_str(),
                  r["model"].get<std::string>().substr(0, 30).c_str(), static_cast<long long>(r["calls"].get<int64_t>()),
                  static_cast<long long>(r["errors"].get<int64_t>()),
                  static_cast<long long>(r["prompt_tokens"].get<int64_t>()),
                  static_cast<long long>(r["completion_tokens"].get<int64_t>()), r["cost_usd"].get<double>());
    std::cout << buf;
  }
  std::cout << "\nmodel                          edits applied  proposals built<=" << a.n << " repairs\n";
  auto pct = [](const nlohmann::json& x) {
    if (x.is_null()) return std::string("-");
    char b[16];
    std::snprintf(b, sizeof b, "%.0f%%", x.get<double>() * 100);
    return std::string(b);
  };
  for (const auto& m : u["by_model"]) {
    std::snprintf(buf, sizeof buf, "%-30s %5lld %7s  %9lld %6s\n", m["model"].get<std::string>().substr(0, 30).c_str(),
                  static_cast<long long>(m["edits"].get<int64_t>()), pct(m["edit_share_applied"]).c_str(),
                  static_cast<long long>(m["proposals"].get<int64_t>()), pct(m["build_share"]).c_str());
    std::cout << buf;
  }
  return 0;
}

int cmd_provenance(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch provenance: " << ar.error().message << "\n", 1;
  const auto v = archive::provenance_view(**ar, a.n);
  if (a.json) {
    std::cout << v.dump(2) << "\n";
    return 0;
  }
  if (v["designs"].empty()) return std::cout << "no evolved designs yet\n", 0;
  char buf[512];
  std::cout << "id    name                             fitness  drew on\n";
  for (const auto& d : v["designs"]) {
    std::string labels;
    for (const auto* part : {"cognition", "analysis"})
      for (const auto& l : d[part]) labels += (labels.empty() ? "" : ", ") + l.get<std::string>();
    std::snprintf(buf, sizeof buf, "#%-4lld %-32s %7s  %s%s\n", static_cast<long long>(d["id"].get<int64_t>()),
                  d["name"].get<std::string>().substr(0, 32).c_str(),
                  d["fitness"].is_null() ? "-" : fitness_text(d["fitness"].get<double>()).c_str(),
                  d["class"].get<std::string>().c_str(), labels.empty() ? "" : (" (" + labels + ")").c_str());
    std::cout << buf;
  }
  auto pct = [](const nlohmann::json& x) {
    if (x.is_null()) return std::string("-");
    char b[16];
    std::snprintf(b, sizeof b, "%.0f%%", x.get<double>() * 100);
    return std::string(b);
  };
  std::cout << "\n                 designs  cognition  analysis  neither  not stated\n";
  for (const auto& [label, key] : {std::pair<std::string, std::string>{"all evolved", "all"},
                                   {"top " + std::to_string(a.n) + " scored", "top"}}) {
    const auto& t = v[key];
    std::snprintf(buf, sizeof buf, "%-16s %8lld %10s %9s %8s %11s\n", label.c_str(),
                  static_cast<long long>(t["designs"].get<int64_t>()), pct(t["share_drawing_on_cognition"]).c_str(),
                  pct(t["share_drawing_on_analysis"]).c_str(), pct(t["share_neither"]).c_str(),
                  pct(t["share_not_stated"]).c_str());
    std::cout << buf;
  }
  std::cout << "(cognition: the cognition base, built-in entries and your notes; analysis: the archive's own "
               "analyses, insights and measured effects; a design drawing on both counts in both)\n";
  return 0;
}

int cmd_lineage(const InspectArgs& a) {
  auto ar = open_workdir_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch lineage: " << ar.error().message << "\n", 1;
  auto trees = archive::lineage_view(**ar, a.id ? std::optional<int64_t>(a.id) : std::nullopt);
  if (!trees) return std::cerr << "asiarch lineage: " << trees.error().message << "\n", 1;
  if (a.json) {
    std::cout << trees->dump(2) << "\n";
    return 0;
  }
  std::function<void(const nlohmann::json&, const std::string&, bool)> print = [&](const nlohmann::json& node,
                                                                                 const std::string& indent, bool last) {
    const int64_t id = node["id"];
    const std::string status = node["status"];
    const auto fitness =
        node["fitness"].is_null() ? std::nullopt : std::optional<double>(node["fitness"].get<double>());
    std::cout << indent << (indent.empty() ? "" : (last ? "`- " : "|- ")) << "#" << id << " "
              << node["name"].get<std::string>() << "  "
              << (status == "scored" ? "fitness " + fitness_text(fitness) : status) << (id == a.id ? "   <==" : "")
              << "\n";
    const auto& kids = node["children"];
    const std::string next = indent + (indent.empty() ? "" : (last ? "   " : "|  "));
    for (size_t i = 0; i < kids.size(); ++i) print(kids[i], next.empty() ? " " : next, i + 1 == kids.size());
  };
  for (const auto& root : *trees) print(root, "", true);
  return 0;
}

CLI::App* add(CLI::App& app, const char* name, const char* help, std::shared_ptr<InspectArgs> a) {
  CLI::App* cmd = app.add_subcommand(name, help);
  cmd->add_option("--workdir", a->workdir, "the run's workdir")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON");
  return cmd;
}

}  // namespace

void add_inspect_commands(CLI::App& app, int& exit_code) {
  {
    auto a = std::make_shared<InspectArgs>();
    add(app, "ls", "List every experiment: id, name, origin, status, fitness, parent, failure reason.", a)
        ->callback([a, &exit_code] { exit_code = cmd_ls(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    auto* c = add(app, "show", "One experiment: design, motivation, gates, metrics, fitness parts, analysis.", a);
    c->add_option("id", a->id, "experiment id")->required();
    c->add_flag("--source", a->source, "print only its plugin source");
    c->callback([a, &exit_code] { exit_code = cmd_show(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    auto* c = add(app, "history", "Every compile and repair attempt of an experiment, with diagnostics and diffs.", a);
    c->add_option("id", a->id, "experiment id")->required();
    c->callback([a, &exit_code] { exit_code = cmd_history(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    auto* c = add(app, "lineage", "The family tree of every experiment, or of the one given.", a);
    c->add_option("id", a->id, "experiment id");
    c->callback([a, &exit_code] { exit_code = cmd_lineage(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    auto* c = add(app, "top", "The best experiments by fitness.", a);
    c->add_option("-n", a->n, "how many")->capture_default_str();
    c->add_flag("--pareto", a->pareto,
                "only the designs on the Pareto front of loss, accuracy and training throughput (peak memory shown)");
    c->callback([a, &exit_code] { exit_code = cmd_top(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    a->n = 2;
    auto* c = add(app, "usage", "LLM calls, tokens and cost per role and model; per model, how often edits applied and "
                                "proposals built within k repairs.", a);
    c->add_option("-k", a->n, "repairs allowed for a proposal to count as built")->capture_default_str();
    c->callback([a, &exit_code] { exit_code = cmd_usage(*a); });
  }
  {
    auto a = std::make_shared<InspectArgs>();
    a->n = 10;
    auto* c = add(app, "provenance", "Where the evolved designs' ideas came from: the cognition base, the archive's own "
                                     "analysis, both or neither, for all designs and for the best scored.", a);
    c->add_option("--top", a->n, "how many of the best scored designs to count apart")->capture_default_str();
    c->callback([a, &exit_code] { exit_code = cmd_provenance(*a); });
  }
}

}  // namespace asiarch::host
