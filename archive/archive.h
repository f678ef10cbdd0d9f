// The archive: every experiment, compile attempt, repair, gate, training run,
// score and analysis, in SQLite. It is the loop's memory and what lets a run
// resume. One transaction per state change; WAL so readers (the CLI) never
// block the writer. The JSON views of it (what the CLI and an HTTP API show)
// are in archive/views.h.
#pragma once

#include <filesystem>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "jit/diagnostics.h"
#include "util/result.h"

namespace asiarch::archive {

inline constexpr int kSchemaVersion = 11;

enum class Origin { evolved, hand_written, baseline };
const char* to_string(Origin o);
Result<Origin> origin_from_string(const std::string& s);

// Where an experiment stands: proposed (queued or in flight: evaluated again on resume), scored or
// failed. An outcome and a stage's result are scored or failed. Stored by name.
// stopped: the quality monitor stopped its evaluation early (clearly behind the reference at the
// same step); its figures are kept, it has no score and is never a parent.
enum class ExperimentStatus { proposed, scored, failed, stopped };
const char* to_string(ExperimentStatus s);
Result<ExperimentStatus> status_from_string(const std::string& s);

struct Experiment {
  int64_t id = 0;
  std::optional<int64_t> parent;
  std::vector<int64_t> references;
  std::string name;
  std::string motivation;
  std::string source;
  nlohmann::json design = nlohmann::json::object();  // the Researcher's representation
  std::string canonical;     // canonical design form, for novelty
  std::string source_hash;   // of the normalised source, for novelty
  Origin origin = Origin::evolved;
  ExperimentStatus status = ExperimentStatus::proposed;
  std::string fail_reason;
  std::string created_at, updated_at;
  nlohmann::json timing = nlohmann::json::object();  // seconds: wall, compile, lab (gates and recheck within it), worker, propose, overhead
};

struct CompileAttempt {
  int attempt = 0;
  std::string source;
  jit::Diagnostics diagnostics;
  bool ok = false;
  double seconds = 0;
  std::string method;                 // "", "fix-it", "rule:<name>"
  std::vector<std::string> answered;  // diagnostics the repair answered
  std::string diff;                   // unified diff from the previous attempt
  std::string failure;                // why the compile itself did not finish (a worker that died), else empty
};

// A built candidate that failed at run time (an exception, a failed gate, a
// non-finite loss, a worker that died), what it was told to the Engineer,
// and what the Engineer answered.
struct RuntimeAttempt {
  int revision = 0;          // 1 = the first built source's run
  std::string stage;         // "gates", "training", "worker"
  std::string failure;       // the reason given to the Engineer
  std::string source;        // the source that ran
  bool revised = false;      // the Engineer answered with a new source
  std::string method;        // how it was revised, or why not
  std::vector<std::string> answered;
  std::string diff;          // from `source` to the revision
};

// One state change of a run: {seq, time, kind, experiment, data}. Stored
// append-only, in the same transaction as the state it describes.
struct Event {
  int64_t seq = 0;        // assigned by the archive, increasing
  std::string time;       // UTC, ISO 8601 with milliseconds
  std::string kind;       // "run_started", "experiment_proposed", "compile_attempt", ...
  std::optional<int64_t> experiment;
  nlohmann::json data = nlohmann::json::object();
};

struct TrainingRun {
  std::string preset;
  std::string task;
  nlohmann::json config = nlohmann::json::object();
  nlohmann::json curve = nlohmann::json::array();
  std::string metric_name;
  double metric = 0;
  std::optional<double> final_loss;
  int64_t steps = 0;
  double tokens_per_second = 0;
  double seconds = 0;
  std::string stop_reason;
  // Peak bytes of LibTorch allocations while training, as the worker measured it: shown, never
  // selected on (a worker's word).
  int64_t peak_bytes = 0;
};

// One seed's result on one task: what replicated scores, the ladder and the held-out set are
// computed from. Seed `seed` of two experiments saw the same data, initialisation and batches.
struct Measurement {
  std::string preset;  // the rung's preset, or "<preset>/held-out"
  std::uint64_t seed = 0;
  std::string task;
  std::string metric_name;  // bits_per_byte (lower is better) or accuracy
  double metric = 0;
  double tokens_per_second = 0;
  double seconds = 0;
  std::string stop_reason;
  nlohmann::json curve = nlohmann::json::array();  // [[step, loss], ...]: the reference's spread over seeds
};

struct Score {
  double loss_score = 0.5, bench_score = 0.5, judge_score = 0.5, total = 1.5;
  // Everything else the scoring says: fitness parts, the judge's, seeds, the verdict against the
  // reference.
  nlohmann::json details = nlohmann::json::object();
  // What the reward-hacking checks (and a recheck that disagreed) found, a sentence each. A suspect
  // score's design is never a parent nor promoted.
  std::vector<std::string> flags;
  bool suspicious = false;
  // The recheck's verdict when the design was evaluated again in a fresh worker: {agree, tasks}.
  std::optional<nlohmann::json> recheck;

  void flag(const std::string& why) {
    flags.push_back(why);
    suspicious = true;
  }
  // As stored and shown: `details` with "flags", "suspicious" and "recheck" in it.
  nlohmann::json stored_details() const;
  // From a stored row; the three typed fields are taken out of `details`.
  static Score from_stored(double loss_score, double bench_score, double judge_score, double total,
                           nlohmann::json details);
};

struct GateRecord {
  std::string name;
  bool passed = false;
  std::string reason;
  nlohmann::json details = nlohmann::json::object();
};

struct Analysis {
  int64_t id = 0;
  int64_t experiment_id = 0;
  std::string text;
  nlohmann::json insights = nlohmann::json::array();
  std::string created_at;
};

// Everything an evaluation produced, recorded in one transaction (so a run
// killed mid-way leaves an experiment either untouched or complete).
struct Outcome {
  std::vector<CompileAttempt> attempts;
  std::vector<RuntimeAttempt> runtime_attempts;
  std::vector<GateRecord> gates;
  std::vector<TrainingRun> runs;
  std::vector<Measurement> measurements;  // every seed's, the first included
  std::optional<Score> score;
  ExperimentStatus status = ExperimentStatus::failed;
  std::string fail_reason;
  std::string analysis_text;  // the Analyst's, when not empty
  nlohmann::json insights = nlohmann::json::array();
  nlohmann::json timing = nlohmann::json::object();
};

// One request to an LLM endpoint and its answer (never the API key).
struct LlmCall {
  int64_t id = 0;
  std::optional<int64_t> experiment;  // none: a proposal that never became an experiment
  std::string time;
  std::string role, purpose, model, template_name;
  int template_version = 0;
  nlohmann::json request = nlohmann::json::object();  // {messages, temperature, max_tokens}
  std::string key;        // identifies the request: the same request replays this answer
  std::string response;
  double latency_seconds = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  bool tokens_estimated = false;
  double cost_usd = 0;
  int http_status = 0;
  int retries = 0;
  std::string error;
  bool replayed = false;
  std::string outcome;
  bool usable = false;  // the role could use the answer: only such an answer is replayed
};

// A page of experiment summaries, filtered and sorted in SQL (the HTTP API's list).
struct SummaryQuery {
  std::string status, origin;  // empty: any
  std::string text;            // in the name or motivation, case-blind; empty: any
  std::string sort = "id";     // id, fitness (missing last), name
  bool descending = false;
  int64_t limit = 100, offset = 0;
};
struct Summary {
  int64_t id = 0;
  std::string name, origin, status, fail_reason, created_at;
  std::optional<int64_t> parent;
  std::optional<double> fitness;
  std::optional<double> seconds;  // wall time the experiment took, when recorded
};
struct SummaryPage {
  std::vector<Summary> rows;
  int64_t total = 0;  // matching rows, all pages
};

// The second stage: an experiment re-evaluated on a larger preset.
struct StageResult {
  std::string preset;
  std::vector<TrainingRun> runs;       // the first seed's, with curves
  std::vector<Measurement> measurements;  // every seed's
  Score score;  // against DeltaNet on the same preset; zeros when it failed
  ExperimentStatus status = ExperimentStatus::failed;
  std::string fail_reason;
};

class Archive {
 public:
  // Opens (creating if absent) and migrates to kSchemaVersion. A file that is
  // not SQLite, not an asiarch archive, or from a newer asiarch is refused
  // with a message naming it, and left untouched.
  static Result<std::unique_ptr<Archive>> open(const std::filesystem::path& path);
  // Opens an existing archive for reading only, as the inspection commands
  // do: nothing is written to it, not even a migration. An older schema is
  // read as it is (what it lacks reads as empty); a newer one, a foreign
  // database or a missing file is refused with a message naming it. Every
  // write method then fails with a clear error.
  static Result<std::unique_ptr<Archive>> open_read_only(const std::filesystem::path& path);
  ~Archive();

  // The schema version the archive was opened at (for a read-only archive,
  // the version of the file as it is; else kSchemaVersion).
  int schema_version() const;
  bool read_only() const;
  const std::filesystem::path& path() const { return path_; }

  // Each state change may carry events: they are appended in the same
  // transaction, given their seq and time (and the experiment's id when
  // unset), and returned through the same vector.
  Result<int64_t> add_experiment(const Experiment& e, std::vector<Event>* events = nullptr);
  Status set_status(int64_t id, ExperimentStatus status, const std::string& reason = "");
  // Events that describe no stored state (progress, a worker started): their own transaction.
  Status append_events(std::vector<Event>& events);
  // Events after `seq`, oldest first, at most `limit`.
  std::vector<Event> events_since(int64_t seq, int limit = 1000) const;
  // One experiment's events of these kinds, in order.
  std::vector<Event> events_of(int64_t experiment, const std::vector<std::string>& kinds) const;
  // The newest `limit` events of these kinds, oldest first; and how many there are.
  std::vector<Event> latest_events(const std::vector<std::string>& kinds, int limit) const;
  int64_t count_events(const std::vector<std::string>& kinds) const;
  int64_t last_event_seq() const;
  Status add_compile_attempt(int64_t id, const CompileAttempt& a);
  Status set_gates(int64_t id, const std::vector<GateRecord>& gates);
  Status add_training_run(int64_t id, const TrainingRun& r);
  Status set_score(int64_t id, const Score& s);
  Result<int64_t> add_analysis(int64_t id, const std::string& text, const nlohmann::json& insights);
  // Replaces whatever the experiment had recorded with `o`, and sets its status.
  Status record_outcome(int64_t id, const Outcome& o, std::vector<Event>* events = nullptr);
  // Replaces the experiment's runs and score on r.preset, in one transaction.
  Status record_stage(int64_t id, const StageResult& r, std::vector<Event>* events = nullptr);
  std::vector<StageResult> stages(int64_t id) const;

  Result<Experiment> experiment(int64_t id) const;
  std::vector<Experiment> experiments() const;  // by id
  // The first baseline experiment named `name` (e.g. delta_net, the reference), in one indexed read.
  std::optional<int64_t> baseline_named(const std::string& name) const;
  // The run's ladder as it was last configured: its own preset, then its rungs in the order it
  // climbs them (empty in an archive that predates schema 9, or before a run set it). Replaces what
  // was there.
  Status set_ladder(const std::vector<std::string>& presets);
  std::vector<std::string> ladder() const;
  std::vector<CompileAttempt> compile_attempts(int64_t id) const;
  std::vector<RuntimeAttempt> runtime_attempts(int64_t id) const;
  std::vector<GateRecord> gates(int64_t id) const;
  std::vector<TrainingRun> training_runs(int64_t id) const;
  std::optional<Score> score(int64_t id) const;
  // Every seed's metrics, all presets (empty before schema 7).
  std::vector<Measurement> measurements(int64_t id) const;
  std::vector<Analysis> analyses(int64_t id) const;
  std::vector<int64_t> children(int64_t id) const;
  std::vector<int64_t> with_status(ExperimentStatus status) const;  // ids, ascending
  // Scored experiments, best first.
  std::vector<std::pair<int64_t, double>> top(int n) const;
  // Novelty: is there an experiment with this canonical form or source hash?
  std::optional<int64_t> find_duplicate(const std::string& canonical, const std::string& source_hash) const;

  // Summaries, one page; an unknown sort key is an error.
  Result<SummaryPage> summaries(const SummaryQuery& q) const;
  std::map<std::string, int64_t> count_by_status() const;

  // LLM calls, in the order they were made.
  Result<int64_t> add_llm_call(const LlmCall& c);
  Status attach_llm_calls(const std::vector<int64_t>& ids, int64_t experiment);
  std::vector<LlmCall> llm_calls(std::optional<int64_t> experiment = std::nullopt) const;  // none: all of them
  // The answer to replay for this key: the newest answered call with it, when its role could use
  // it; none when the newest answer was unusable (the request is asked again).
  std::optional<LlmCall> answered_llm_call(const std::string& key) const;
  // What every LLM call this archive holds cost, replays excluded (stored at 0): the spend a
  // resumed run or a restarted daemon goes on from.
  double llm_spent_usd() const;

  struct Impl;

 private:
  Archive() = default;
  std::filesystem::path path_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asiarch::archive
