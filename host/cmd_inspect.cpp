// Reading the archive: `asiarch ls`, `show ID`, `history ID`, `lineage [ID]`,
// `top [-n K]`, each with --json.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <iostream>

#include "archive/archive.h"
#include "host/commands.h"

namespace asiarch::host {
namespace {

struct InspectArgs {
  std::string workdir = "asiarch-work";
  int64_t id = 0;
  int n = 10;
  bool json = false;
  bool source = false;
};

Result<std::unique_ptr<archive::Archive>> open_archive(const std::string& workdir) {
  const auto path = std::filesystem::path(workdir) / "archive.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return make_error(path.string() + ": no archive here (run `asiarch run --workdir " + workdir + "` first)");
  return archive::Archive::open(path);
}

std::string fitness_text(const archive::Archive& a, int64_t id) {
  auto s = a.score(id);
  if (!s) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s->total);
  return buf;
}

nlohmann::json summary_json(const archive::Archive& a, const archive::Experiment& e) {
  nlohmann::json j = {{"id", e.id},         {"name", e.name},
                      {"origin", archive::to_string(e.origin)}, {"status", e.status},
                      {"fail_reason", e.fail_reason}, {"created_at", e.created_at}};
  j["parent"] = e.parent ? nlohmann::json(*e.parent) : nlohmann::json(nullptr);
  if (auto s = a.score(e.id)) j["fitness"] = s->total;
  else j["fitness"] = nullptr;
  return j;
}

std::string row(const archive::Archive& a, const archive::Experiment& e) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-5lld %-40s %-12s %-7s %8s %7s  %s", static_cast<long long>(e.id),
                e.name.substr(0, 40).c_str(), archive::to_string(e.origin), e.status.c_str(),
                fitness_text(a, e.id).c_str(), e.parent ? ("#" + std::to_string(*e.parent)).c_str() : "-",
                e.fail_reason.substr(0, 80).c_str());
  return buf;
}

const char* kHeader = "id    name                                     origin       status   fitness  parent  note";

int cmd_ls(const InspectArgs& a) {
  auto ar = open_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch ls: " << ar.error().message << "\n", 1;
  auto all = (*ar)->experiments();
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : all) j.push_back(summary_json(**ar, e));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  std::cout << kHeader << "\n";
  for (const auto& e : all) std::cout << row(**ar, e) << "\n";
  return 0;
}

int cmd_top(const InspectArgs& a) {
  auto ar = open_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch top: " << ar.error().message << "\n", 1;
  nlohmann::json j = nlohmann::json::array();
  if (!a.json) std::cout << kHeader << "\n";
  for (const auto& [id, total] : (*ar)->top(a.n)) {
    auto e = (*ar)->experiment(id);
    if (!e) continue;
    if (a.json) {
      auto s = summary_json(**ar, *e);
      auto sc = (*ar)->score(id);
      s["score"] = {{"loss", sc->loss_score}, {"bench", sc->bench_score}, {"judge", sc->judge_score},
                    {"total", sc->total}, {"details", sc->details}};
      j.push_back(s);
    } else {
      std::cout << row(**ar, *e) << "\n";
    }
  }
  if (a.json) std::cout << j.dump(2) << "\n";
  return 0;
}

int cmd_show(const InspectArgs& a) {
  auto ar = open_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch show: " << ar.error().message << "\n", 1;
  auto& A = **ar;
  auto e = A.experiment(a.id);
  if (!e) return std::cerr << "asiarch show: " << e.error().message << "\n", 1;
  auto gates = A.gates(a.id);
  auto runs = A.training_runs(a.id);
  auto score = A.score(a.id);
  auto analyses = A.analyses(a.id);
  if (a.json) {
    auto j = summary_json(A, *e);
    j["references"] = e->references;
    j["motivation"] = e->motivation;
    j["design"] = e->design;
    j["canonical"] = e->canonical;
    j["source"] = e->source;
    j["gates"] = nlohmann::json::array();
    for (const auto& g : gates)
      j["gates"].push_back({{"name", g.name}, {"passed", g.passed}, {"reason", g.reason}, {"details", g.details}});
    j["training_runs"] = nlohmann::json::array();
    for (const auto& r : runs)
      j["training_runs"].push_back({{"preset", r.preset}, {"task", r.task}, {"metric_name", r.metric_name},
                                    {"metric", r.metric}, {"steps", r.steps}, {"tokens_per_second", r.tokens_per_second},
                                    {"seconds", r.seconds}, {"stop_reason", r.stop_reason}, {"curve", r.curve}});
    if (score)
      j["score"] = {{"loss", score->loss_score}, {"bench", score->bench_score}, {"judge", score->judge_score},
                    {"total", score->total}, {"details", score->details}};
    j["stages"] = nlohmann::json::array();
    for (const auto& st : A.stages(a.id)) {
      nlohmann::json runs_j = nlohmann::json::array();
      for (const auto& r : st.runs)
        runs_j.push_back({{"task", r.task}, {"metric_name", r.metric_name}, {"metric", r.metric}, {"steps", r.steps},
                          {"stop_reason", r.stop_reason}});
      j["stages"].push_back({{"preset", st.preset}, {"status", st.status}, {"fail_reason", st.fail_reason},
                             {"score", {{"loss", st.score.loss_score}, {"bench", st.score.bench_score},
                                        {"judge", st.score.judge_score}, {"total", st.score.total},
                                        {"details", st.score.details}}},
                             {"training_runs", runs_j}});
    }
    j["analyses"] = nlohmann::json::array();
    for (const auto& an : analyses) j["analyses"].push_back({{"text", an.text}, {"insights", an.insights}});
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  if (a.source) {
    std::cout << e->source;
    return 0;
  }
  std::cout << "#" << e->id << " " << e->name << " (" << archive::to_string(e->origin) << ", " << e->status << ")\n";
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
    if (d.value("suspicious", false)) std::cout << "  SUSPICIOUS: loss more than 10% below the baseline's\n";
    if (d.contains("judge"))
      for (const auto& [part, v] : d["judge"].items())
        std::cout << "  judge " << part << ": " << v["score"].get<double>() << "/10 (weight " << v["weight"].get<double>()
                  << "): " << v["reason"].get<std::string>() << "\n";
  }
  for (const auto& st : A.stages(a.id)) {
    char buf[256];
    if (st.status == "scored")
      std::snprintf(buf, sizeof buf, "\nsecond stage on %s: fitness %.3f = loss %.3f + benchmarks %.3f + judge %.3f\n",
                    st.preset.c_str(), st.score.total, st.score.loss_score, st.score.bench_score, st.score.judge_score);
    else
      std::snprintf(buf, sizeof buf, "\nsecond stage on %s: FAILED: %s\n", st.preset.c_str(), st.fail_reason.c_str());
    std::cout << buf;
  }
  for (const auto& an : analyses) std::cout << "\nanalysis: " << an.text << "\n";
  std::cout << "\n(source: asiarch show " << e->id << " --source; compile history: asiarch history " << e->id << ")\n";
  return 0;
}

int cmd_history(const InspectArgs& a) {
  auto ar = open_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch history: " << ar.error().message << "\n", 1;
  auto e = (*ar)->experiment(a.id);
  if (!e) return std::cerr << "asiarch history: " << e.error().message << "\n", 1;
  auto attempts = (*ar)->compile_attempts(a.id);
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& t : attempts)
      j.push_back({{"attempt", t.attempt}, {"ok", t.ok}, {"seconds", t.seconds}, {"method", t.method},
                   {"answered", t.answered}, {"diff", t.diff}, {"diagnostics", t.diagnostics}, {"source", t.source}});
    std::cout << nlohmann::json{{"id", a.id}, {"name", e->name}, {"attempts", j}}.dump(2) << "\n";
    return 0;
  }
  std::cout << "#" << e->id << " " << e->name << ": " << attempts.size() << " compile attempt(s)\n";
  if (attempts.empty()) std::cout << "(none recorded: status " << e->status << ")\n";
  for (const auto& t : attempts) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "\nattempt %d: %s in %.2f s", t.attempt, t.ok ? "built" : "failed", t.seconds);
    std::cout << buf << (t.method.empty() ? "" : ", after " + t.method) << "\n";
    for (const auto& ans : t.answered) std::cout << "  answered: " << ans << "\n";
    if (!t.diff.empty()) std::cout << t.diff;
    if (!t.diagnostics.items.empty()) std::cout << jit::to_text(t.diagnostics);
  }
  return 0;
}

int cmd_lineage(const InspectArgs& a) {
  auto ar = open_archive(a.workdir);
  if (!ar) return std::cerr << "asiarch lineage: " << ar.error().message << "\n", 1;
  auto& A = **ar;
  auto all = A.experiments();
  std::map<int64_t, const archive::Experiment*> by_id;
  for (const auto& e : all) by_id[e.id] = &e;
  std::vector<int64_t> roots;
  if (a.id) {
    if (!by_id.count(a.id)) return std::cerr << "asiarch lineage: no experiment " << a.id << "\n", 1;
    int64_t r = a.id;  // walk up to the root
    while (by_id[r]->parent && by_id.count(*by_id[r]->parent)) r = *by_id[r]->parent;
    roots.push_back(r);
  } else {
    for (const auto& e : all)
      if (!e.parent) roots.push_back(e.id);
  }
  std::function<nlohmann::json(int64_t)> tree_json = [&](int64_t id) {
    auto j = summary_json(A, *by_id[id]);
    j["children"] = nlohmann::json::array();
    for (int64_t c : A.children(id)) j["children"].push_back(tree_json(c));
    return j;
  };
  std::function<void(int64_t, const std::string&, bool)> print = [&](int64_t id, const std::string& indent, bool last) {
    const auto& e = *by_id[id];
    std::cout << indent << (indent.empty() ? "" : (last ? "`- " : "|- ")) << "#" << id << " " << e.name << "  "
              << (e.status == "scored" ? "fitness " + fitness_text(A, id) : e.status) << (id == a.id ? "   <==" : "")
              << "\n";
    auto kids = A.children(id);
    const std::string next = indent + (indent.empty() ? "" : (last ? "   " : "|  "));
    for (size_t i = 0; i < kids.size(); ++i) print(kids[i], next.empty() ? " " : next, i + 1 == kids.size());
  };
  if (a.json) {
    nlohmann::json j = nlohmann::json::array();
    for (int64_t r : roots) j.push_back(tree_json(r));
    std::cout << j.dump(2) << "\n";
    return 0;
  }
  for (int64_t r : roots) print(r, "", true);
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
    c->callback([a, &exit_code] { exit_code = cmd_top(*a); });
  }
}

}  // namespace asiarch::host
