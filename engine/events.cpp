#include "engine/events.h"
#include "util/format.h"

#include <cstdio>
#include <ostream>

#include "archive/views.h"
#include "lab/eval.h"
#include "util/safe_text.h"

namespace asiarch::host {
namespace {

double num(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string str(const nlohmann::json& d, const char* key) {
  auto it = d.find(key);
  return it != d.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The line for an event, without the "#id name: " prefix; empty: not shown.
std::string line_for(const archive::Event& e) {
  const auto& d = e.data;
  const std::string& k = e.kind;
  if (k == "note") return str(d, "text");
  if (k == "plugin_refused") return "plugin " + str(d, "file") + " refused: " + str(d, "reason");
  if (k == "run_started")
    return "budget: " + std::to_string(d.value("budget", 0)) + " evolved experiments (" +
           std::to_string(d.value("done", 0)) + " done); preset " + str(d, "preset") + "; " +
           std::to_string(d.value("workers", 1)) + " worker(s); executor " + str(d, "executor");
  if (k == "experiment_queued")
    return str(d, "origin") == "baseline" ? "baseline queued" : "hand-written plugin queued";
  if (k == "experiment_proposed") return "proposed. " + str(d, "motivation");
  if (k == "experiment_started") return "started (" + str(d, "origin") + ")";
  if (k == "experiment_stopped") return "stopped; it will be evaluated again on resume";
  if (k == "compile_attempt") {
    if (!str(d, "failure").empty()) return "compile attempt " + std::to_string(d.value("attempt", 0)) + ": " + str(d, "failure");
    return "compile attempt " + std::to_string(d.value("attempt", 0)) + " " + (d.value("ok", false) ? "built" : "failed") +
           " in " + format_number(num(d, "seconds"), "%.2f") + " s" + (d.value("cache_hit", false) ? " (cached)" : "") +
           (d.value("errors", 0) ? ", " + std::to_string(d.value("errors", 0)) + " error(s)" : "");
  }
  if (k == "repair")
    return "Engineer: " + str(d, "method") + " for attempt " + std::to_string(d.value("attempt", 0)) + " (answers " +
           std::to_string(d.value("answered", nlohmann::json::array()).size()) + " diagnostic(s))";
  if (k == "repair_declined") return "Engineer: " + str(d, "method");
  if (k == "gates_started" || k == "gate" || k == "task_started" || k == "task_finished") {
    nlohmann::json m = d;
    m["kind"] = k;
    if (d.contains("gate")) m["name"] = d["gate"];
    return lab::describe_progress(m);
  }
  if (k == "runtime_failure") return "runtime failure (" + str(d, "stage") + "): " + str(d, "failure");
  if (k == "runtime_revision")
    return std::string("Engineer: ") + (d.value("revised", false) ? "revised the source (" : "no revision (") +
           str(d, "method") + ")";
  if (k == "scored")
    return "fitness " + format_number(num(d, "fitness")) + " (loss " + format_number(num(d, "loss_score")) + ", benchmarks " +
           format_number(num(d, "bench_score")) + ", judge " + format_number(num(d, "judge_score")) + ")";
  if (k == "failed") return "FAILED: " + str(d, "cause");
  if (k == "stopped_early") return "STOPPED EARLY (not scored, never a parent): " + str(d, "cause");
  if (k == "promoted") return "promoted to " + str(d, "preset");
  if (k == "recheck_started")
    return "fitness " + format_number(num(d, "fitness")) +
           (d.contains("reference") && d["reference"].is_number() ? " (reference " + format_number(num(d, "reference")) + ")"
                                                                   : std::string()) +
           ": evaluating it again in a fresh worker";
  if (k == "rechecked")
    return d.value("agree", false) ? "re-evaluation agrees" : "re-evaluation DISAGREES: flagged, never a parent";
  if (k == "stage_scored") return "fitness " + format_number(num(d, "fitness"));
  if (k == "seed_started")
    return "seed " + std::to_string(d.value("seed", int64_t{0})) + " (" + std::to_string(d.value("of", 1)) +
           " seeds per design): training the built source again";
  if (k == "seed_finished" && str(d, "status") != "scored")
    return "seed " + std::to_string(d.value("seed", int64_t{0})) + " FAILED: " + str(d, "fail_reason");
  if (k == "ladder_rung")
    return "ladder: " + str(d, "preset") + " done; rank agreement with " + str(d, "below") + ": Spearman " +
           (d.contains("spearman") && d["spearman"].is_number() ? format_number(num(d, "spearman")) : std::string("undefined")) +
           " over " + std::to_string(d.value("pairs", 0)) + " design(s)";
  if (k == "llm_call")
    return "LLM " + str(d, "role") + " (" + str(d, "purpose") + ", " + str(d, "model") + "): " +
           (str(d, "error").empty() ? str(d, "outcome") : "ERROR " + str(d, "error")) + ", " +
           std::to_string(d.value("tokens", int64_t{0})) + " tokens, " + format_number(num(d, "seconds"), "%.1f") + " s" +
           (d.value("replayed", false) ? " (replayed from the archive)" : "");
  if (k == "proposal_failed") return "the Researcher failed: " + str(d, "reason");
  if (k == "proposal_refused") return "refused before compiling: " + str(d, "reason");
  if (k == "llm_paused")
    return "LLM roles PAUSED for " + format_number(num(d, "seconds"), "%.0f") + " s (circuit breaker open): " +
           str(d, "reason");
  if (k == "llm_resumed") return "LLM roles resumed";
  if (k == "paused") return "paused: no new proposals until resumed";
  if (k == "resumed") return "resumed";
  if (k == "config_refused") return "configuration NOT reloaded: " + str(d, "reason");
  if (k == "config_reloaded") return "configuration reloaded: " + d.value("applied", nlohmann::json::array()).dump() +
                                     (d.value("needs_restart", nlohmann::json::array()).empty() ? std::string()
                                      : "; needs a restart: " + d["needs_restart"].dump());
  if (k == "repair_waiting") return "Engineer unavailable; the repair waits";
  if (k == "stage_failed") return "FAILED: " + str(d, "cause");
  return "";  // training_progress, worker_started/ended, analysed, run_stopped: stored, not printed
}

}  // namespace

void JsonlSink::publish(const archive::Event& event) {
  // Text from a candidate may hold anything: dump() escapes control characters; invalid UTF-8 is replaced.
  out_ << archive::event_view(event).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
}

void TextSink::publish(const archive::Event& e) {
  if (e.experiment && e.data.contains("name") && e.data["name"].is_string()) names_[*e.experiment] = e.data["name"];
  const std::string line = line_for(e);
  if (line.empty()) return;
  std::string prefix;
  if (e.experiment) {
    prefix = "#" + std::to_string(*e.experiment);
    if (auto it = names_.find(*e.experiment); it != names_.end()) prefix += " " + it->second;
    if (e.data.contains("stage_preset") && e.kind != "promoted") prefix += " [" + str(e.data, "stage_preset") + "]";
    prefix += ": ";
  }
  // Names and reasons may be a candidate's words: nothing in them acts on the terminal, and a name
  // cannot start a line of its own.
  out_ << escape_control(prefix, false) << escape_control(line) << std::endl;
}

namespace {

// Credentials in any URL an event carries (an endpoint's address in an error) are redacted before
// the event is stored or shown.
void redact(nlohmann::json& j) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s.find("://") != std::string::npos) j = redact_urls(s);
  } else if (j.is_structured()) {
    for (auto& v : j) redact(v);
  }
}

}  // namespace

archive::Event EventLog::make(const std::string& kind, std::optional<int64_t> experiment, nlohmann::json data) {
  archive::Event e;
  e.kind = kind;
  e.experiment = experiment;
  e.data = std::move(data);
  redact(e.data);
  return e;
}

void EventLog::emit(const std::string& kind, std::optional<int64_t> experiment, nlohmann::json data) {
  std::vector<archive::Event> one{make(kind, experiment, std::move(data))};
  // A failed append loses the record, not the run: the sinks still see it.
  (void)archive_.append_events(one);
  published(one);
}

void EventLog::published(const std::vector<archive::Event>& stored) {
  for (const auto& e : stored)
    for (auto* s : sinks_) s->publish(e);
}

}  // namespace asiarch::host
