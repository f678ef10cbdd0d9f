// JSON views of the archive: what `asiarch ls/show/history/lineage/top/events
// --json` print, built in one place so that every reader (the CLI, an HTTP
// API) shows the same thing. Each reads an open Archive, read-only or not.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "util/result.h"

namespace asiarch::archive {

// {id, name, origin, status, fail_reason, created_at, parent, fitness}:
// one row of `ls`; parent and fitness are null when there is none.
nlohmann::json summary_view(const Archive& a, const Experiment& e);

// A page's summaries as summary_view gives them (the HTTP API's list).
nlohmann::json summary_view(const Summary& s);

// Every experiment's summary, by id (`ls`).
nlohmann::json list_view(const Archive& a);

// The n best by fitness, each summary with its score parts (`top`).
nlohmann::json top_view(const Archive& a, int n);

// One experiment in full: summary, references, motivation, design, canonical
// form, source, gates, training runs, score, second stages, analyses (`show`).
Result<nlohmann::json> detail_view(const Archive& a, int64_t id);

// {id, name, attempts, runtime_attempts, llm_calls}: every compile and repair
// attempt (with diagnostics, diff and why it did not finish), every run-time
// failure and the Engineer's revision of it, and every LLM call made for the
// experiment, in order (`history`).
Result<nlohmann::json> history_view(const Archive& a, int64_t id);

// One LLM call: role, model, template and version, messages, answer, tokens, cost, status.
nlohmann::json llm_call_view(const LlmCall& c);

// What each model's proposals became (the Researcher's usable answer names the model): how many
// ended, how many built within k repairs, how many built and passed every gate. The bandit over
// llm.models and `asiarch usage` read this.
struct ModelRecord {
  int64_t proposals = 0;     // ended (scored or failed), in flight not counted
  int64_t built = 0;         // within k repairs
  int64_t passed_gates = 0;  // built and passed every gate
};
std::map<std::string, ModelRecord> proposals_by_model(const Archive& a, int k);

// What the LLM roles cost and how well they worked (`usage`): totals; calls,
// tokens and cost per role and model; per model, the share of edit answers that
// applied and of proposals that built within `k` repairs.
nlohmann::json usage_view(const Archive& a, int k = 2);

// Where the evolved designs' ideas came from, as each experiment_proposed event's `drew_on` names
// it: every evolved design with its class ("cognition", "analysis", "both", "neither", or "not
// stated"), and for all of them and for the `top` best scored ones the count and share of each
// class, with the shares drawing on the cognition base and on the archive's own analysis.
nlohmann::json provenance_view(const Archive& a, int top = 10);

// Family trees: each node a summary with its `children`. All roots, or the
// tree holding `id` (from its root) when given (`lineage`).
Result<nlohmann::json> lineage_view(const Archive& a, std::optional<int64_t> id = std::nullopt);

// {seq, time, kind, experiment, data}; experiment is null when the event
// belongs to none (`events`, one per line).
nlohmann::json event_view(const Event& e);

}  // namespace asiarch::archive
