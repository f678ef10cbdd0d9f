#include "archive/views.h"

#include <algorithm>

#include <functional>
#include <limits>
#include <map>

namespace asiarch::archive {
namespace {

nlohmann::json score_json(const Score& s) {
  return {{"loss", s.loss_score}, {"bench", s.bench_score}, {"judge", s.judge_score},
          {"total", s.total},     {"details", s.stored_details()}};
}

}  // namespace

nlohmann::json summary_view(const Archive& a, const Experiment& e) {
  nlohmann::json j = {{"id", e.id},         {"name", e.name},
                      {"origin", to_string(e.origin)}, {"status", to_string(e.status)},
                      {"fail_reason", e.fail_reason}, {"created_at", e.created_at}};
  j["parent"] = e.parent ? nlohmann::json(*e.parent) : nlohmann::json(nullptr);
  if (auto s = a.score(e.id)) j["fitness"] = s->total;
  else j["fitness"] = nullptr;
  const auto wall = e.timing.find("wall");
  j["seconds"] = wall != e.timing.end() && wall->is_number() ? *wall : nlohmann::json(nullptr);
  return j;
}

nlohmann::json summary_view(const Summary& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"origin", s.origin},
          {"status", s.status},
          {"fail_reason", s.fail_reason},
          {"created_at", s.created_at},
          {"parent", s.parent ? nlohmann::json(*s.parent) : nlohmann::json(nullptr)},
          {"fitness", s.fitness ? nlohmann::json(*s.fitness) : nlohmann::json(nullptr)},
          {"seconds", s.seconds ? nlohmann::json(*s.seconds) : nlohmann::json(nullptr)}};
}

nlohmann::json list_view(const Archive& a) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& e : a.experiments()) j.push_back(summary_view(a, e));
  return j;
}

nlohmann::json top_view(const Archive& a, int n) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [id, total] : a.top(n)) {
    auto e = a.experiment(id);
    auto sc = a.score(id);
    if (!e || !sc) continue;
    auto s = summary_view(a, *e);
    s["score"] = score_json(*sc);
    j.push_back(s);
  }
  return j;
}

Result<nlohmann::json> detail_view(const Archive& a, int64_t id) {
  auto e = a.experiment(id);
  if (!e) return e.error();
  auto j = summary_view(a, *e);
  j["references"] = e->references;
  j["motivation"] = e->motivation;
  j["design"] = e->design;
  j["canonical"] = e->canonical;
  j["source"] = e->source;
  j["gates"] = nlohmann::json::array();
  for (const auto& g : a.gates(id))
    j["gates"].push_back({{"name", g.name}, {"passed", g.passed}, {"reason", g.reason}, {"details", g.details}});
  j["training_runs"] = nlohmann::json::array();
  for (const auto& r : a.training_runs(id))
    j["training_runs"].push_back({{"preset", r.preset}, {"task", r.task}, {"metric_name", r.metric_name},
                                  {"metric", r.metric}, {"steps", r.steps}, {"tokens_per_second", r.tokens_per_second},
                                  {"seconds", r.seconds}, {"stop_reason", r.stop_reason}, {"peak_bytes", r.peak_bytes},
                                  {"curve", r.curve}});
  if (auto score = a.score(id)) j["score"] = score_json(*score);
  j["stages"] = nlohmann::json::array();
  for (const auto& st : a.stages(id)) {
    nlohmann::json runs_j = nlohmann::json::array();
    for (const auto& r : st.runs)
      runs_j.push_back({{"task", r.task}, {"metric_name", r.metric_name}, {"metric", r.metric}, {"steps", r.steps},
                        {"stop_reason", r.stop_reason}});
    j["stages"].push_back({{"preset", st.preset}, {"status", to_string(st.status)}, {"fail_reason", st.fail_reason},
                           {"score", score_json(st.score)}, {"training_runs", runs_j}});
  }
  j["measurements"] = nlohmann::json::array();
  for (const auto& m : a.measurements(id))
    j["measurements"].push_back({{"preset", m.preset}, {"seed", m.seed}, {"task", m.task}, {"metric_name", m.metric_name},
                                 {"metric", m.metric}, {"tokens_per_second", m.tokens_per_second},
                                 {"seconds", m.seconds}, {"stop_reason", m.stop_reason}});
  j["analyses"] = nlohmann::json::array();
  for (const auto& an : a.analyses(id)) j["analyses"].push_back({{"text", an.text}, {"insights", an.insights}});
  return j;
}

Result<nlohmann::json> history_view(const Archive& a, int64_t id) {
  auto e = a.experiment(id);
  if (!e) return e.error();
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& t : a.compile_attempts(id))
    attempts.push_back({{"attempt", t.attempt}, {"ok", t.ok}, {"seconds", t.seconds}, {"method", t.method},
                        {"answered", t.answered}, {"diff", t.diff}, {"diagnostics", t.diagnostics},
                        {"source", t.source}, {"failure", t.failure}});
  nlohmann::json runtime = nlohmann::json::array();
  for (const auto& t : a.runtime_attempts(id))
    runtime.push_back({{"revision", t.revision}, {"stage", t.stage}, {"failure", t.failure}, {"source", t.source},
                       {"revised", t.revised}, {"method", t.method}, {"answered", t.answered}, {"diff", t.diff}});
  nlohmann::json calls = nlohmann::json::array();
  for (const auto& c : a.llm_calls(id)) calls.push_back(llm_call_view(c));
  return nlohmann::json{
      {"id", id}, {"name", e->name}, {"attempts", attempts}, {"runtime_attempts", runtime}, {"llm_calls", calls}};
}

nlohmann::json llm_call_view(const LlmCall& c) {
  return {{"id", c.id},
          {"experiment", c.experiment ? nlohmann::json(*c.experiment) : nlohmann::json()},
          {"time", c.time},
          {"role", c.role},
          {"purpose", c.purpose},
          {"model", c.model},
          {"template", c.template_name},
          {"template_version", c.template_version},
          {"request", c.request},
          {"response", c.response},
          {"latency_seconds", c.latency_seconds},
          {"prompt_tokens", c.prompt_tokens},
          {"completion_tokens", c.completion_tokens},
          {"tokens_estimated", c.tokens_estimated},
          {"cost_usd", c.cost_usd},
          {"http_status", c.http_status},
          {"retries", c.retries},
          {"error", c.error},
          {"replayed", c.replayed},
          {"outcome", c.outcome}};
}

std::map<std::string, ModelRecord> proposals_by_model(const Archive& a, int k) {
  std::map<int64_t, std::string> proposed_by;  // experiment -> the model whose usable proposal it is
  for (const auto& c : a.llm_calls())
    if (c.role == "researcher" && c.usable && c.experiment) proposed_by[*c.experiment] = c.model;
  std::map<std::string, ModelRecord> out;
  for (const auto& [id, model] : proposed_by) {
    auto e = a.experiment(id);
    if (!e || e->status == ExperimentStatus::proposed) continue;  // in flight: no outcome yet
    auto& m = out[model];
    ++m.proposals;
    for (const auto& t : a.compile_attempts(id))
      if (t.ok) {
        m.built += t.attempt <= k + 1;
        break;
      }
    const auto gates = a.gates(id);
    m.passed_gates += !gates.empty() && std::all_of(gates.begin(), gates.end(), [](const GateRecord& g) { return g.passed; });
  }
  return out;
}

nlohmann::json usage_view(const Archive& a, int k) {
  struct Sum {
    int64_t calls = 0, errors = 0, prompt = 0, completion = 0;
    double cost = 0;
  };
  std::map<std::pair<std::string, std::string>, Sum> by;
  struct ModelStats {
    int64_t edits_tried = 0, edits_applied = 0;
  };
  std::map<std::string, ModelStats> models;
  Sum total;
  for (const auto& c : a.llm_calls()) {
    for (Sum* s : {&by[{c.role, c.model}], &total}) {
      ++s->calls;
      s->errors += !c.error.empty();
      s->prompt += c.replayed ? 0 : c.prompt_tokens;
      s->completion += c.replayed ? 0 : c.completion_tokens;
      s->cost += c.replayed ? 0 : c.cost_usd;
    }
    auto& m = models[c.model];
    if (c.outcome == "parsed: edits applied") ++m.edits_tried, ++m.edits_applied;
    if (c.outcome.rfind("unusable: edits did not apply", 0) == 0) ++m.edits_tried;
  }
  const auto proposals = proposals_by_model(a, k);
  auto sum_json = [](const Sum& s) {
    return nlohmann::json{{"calls", s.calls}, {"errors", s.errors}, {"prompt_tokens", s.prompt},
                          {"completion_tokens", s.completion}, {"cost_usd", s.cost}};
  };
  nlohmann::json roles = nlohmann::json::array();
  for (const auto& [key, s] : by) {
    auto j = sum_json(s);
    j["role"] = key.first;
    j["model"] = key.second;
    roles.push_back(j);
  }
  nlohmann::json per_model = nlohmann::json::array();
  auto share = [](int64_t n, int64_t d) { return d ? nlohmann::json(static_cast<double>(n) / static_cast<double>(d)) : nlohmann::json(); };
  for (const auto& [model, m] : models) {
    const auto it = proposals.find(model);
    const ModelRecord p = it == proposals.end() ? ModelRecord{} : it->second;
    per_model.push_back({{"model", model},
                         {"edits", m.edits_tried},
                         {"edits_applied", m.edits_applied},
                         {"edit_share_applied", share(m.edits_applied, m.edits_tried)},
                         {"proposals", p.proposals},
                         {"built_within_k", p.built},
                         {"k", k},
                         {"build_share", share(p.built, p.proposals)},
                         {"passed_gates", p.passed_gates},
                         {"gate_share", share(p.passed_gates, p.proposals)}});
  }
  auto j = sum_json(total);
  j["by_role"] = roles;
  j["by_model"] = per_model;
  return j;
}

Result<nlohmann::json> lineage_view(const Archive& a, std::optional<int64_t> id) {
  const auto all = a.experiments();
  std::map<int64_t, const Experiment*> by_id;
  for (const auto& e : all) by_id[e.id] = &e;
  std::vector<int64_t> roots;
  if (id) {
    if (!by_id.count(*id)) return make_error("no experiment " + std::to_string(*id));
    int64_t r = *id;  // walk up to the root
    while (by_id.at(r)->parent && by_id.count(*by_id.at(r)->parent)) r = *by_id.at(r)->parent;
    roots.push_back(r);
  } else {
    for (const auto& e : all)
      if (!e.parent) roots.push_back(e.id);
  }
  std::function<nlohmann::json(int64_t)> tree = [&](int64_t node) {
    auto j = summary_view(a, *by_id.at(node));
    j["children"] = nlohmann::json::array();
    // A child a running loop added after `all` was read is left for the next look.
    for (int64_t c : a.children(node))
      if (by_id.count(c)) j["children"].push_back(tree(c));
    return j;
  };
  nlohmann::json j = nlohmann::json::array();
  for (int64_t r : roots) j.push_back(tree(r));
  return j;
}

nlohmann::json event_view(const Event& e) {
  return {{"seq", e.seq},
          {"time", e.time},
          {"kind", e.kind},
          {"experiment", e.experiment ? nlohmann::json(*e.experiment) : nlohmann::json(nullptr)},
          {"data", e.data}};
}

nlohmann::json provenance_view(const Archive& a, int top) {
  std::map<int64_t, double> fitness;
  for (const auto& [id, total] : a.top(std::numeric_limits<int>::max())) fitness[id] = total;
  nlohmann::json designs = nlohmann::json::array();
  std::vector<std::pair<double, size_t>> scored;  // (fitness, index into designs)
  for (const auto& e : a.experiments()) {
    if (e.origin != Origin::evolved) continue;
    nlohmann::json drew;
    for (const auto& ev : a.events_of(e.id, {"experiment_proposed"})) drew = ev.data.value("drew_on", nlohmann::json());
    const bool stated = drew.is_object() && drew.value("stated", false);
    const auto cognition = stated ? drew.value("cognition", nlohmann::json::array()) : nlohmann::json::array();
    const auto analysis = stated ? drew.value("analysis", nlohmann::json::array()) : nlohmann::json::array();
    const std::string cls = !stated                                      ? "not stated"
                            : !cognition.empty() && !analysis.empty() ? "both"
                            : !cognition.empty()                       ? "cognition"
                            : !analysis.empty()                        ? "analysis"
                                                                       : "neither";
    const auto f = fitness.find(e.id);
    if (f != fitness.end()) scored.emplace_back(f->second, designs.size());
    designs.push_back({{"id", e.id},
                       {"name", e.name},
                       {"status", to_string(e.status)},
                       {"fitness", f == fitness.end() ? nlohmann::json() : nlohmann::json(f->second)},
                       {"class", cls},
                       {"cognition", cognition},
                       {"analysis", analysis}});
  }
  auto tally = [&](const std::vector<size_t>& which) {
    std::map<std::string, int64_t> n;
    for (const char* c : {"cognition", "analysis", "both", "neither", "not stated"}) n[c] = 0;
    for (size_t i : which) ++n[designs[i]["class"].get<std::string>()];
    const double count = static_cast<double>(which.size());
    auto share = [&](int64_t k) { return which.empty() ? nlohmann::json() : nlohmann::json(static_cast<double>(k) / count); };
    nlohmann::json j = {{"designs", which.size()}, {"counts", n}};
    j["share_drawing_on_cognition"] = share(n["cognition"] + n["both"]);
    j["share_drawing_on_analysis"] = share(n["analysis"] + n["both"]);
    j["share_neither"] = share(n["neither"]);
    j["share_not_stated"] = share(n["not stated"]);
    return j;
  };
  std::vector<size_t> every(designs.size());
  for (size_t i = 0; i < every.size(); ++i) every[i] = i;
  std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  std::vector<size_t> best;
  for (size_t i = 0; i < scored.size() && static_cast<int>(i) < top; ++i) best.push_back(scored[i].second);
  nlohmann::json out = {{"designs", designs}, {"all", tally(every)}, {"top", tally(best)}};
  out["top"]["n"] = top;
  return out;
}

}  // namespace asiarch::archive
