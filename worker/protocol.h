// The worker protocol: every kind of job and message that crosses the channel between the host
// and a sandboxed worker, as enums both sides share (after LLVM ORC's SimpleRemoteEPC, whose
// message kinds live in one header and whose two ends live in separate files). The wire format is
// worker/wire.cpp, the host's side worker/job_host.cpp, the worker's worker/worker_main.cpp.
//
// A worker runs candidate code, so nothing it sends is believed as it stands: the host parses
// each message by its kind, checks it against the job it handed out (its kind, its tasks), keeps
// only the fields that kind has, bounded, and decides itself what it becomes: a stage (whose time
// limit comes from the host's plan), a Progress item, a result it then checks, or a protocol
// violation that ends the worker. A worker never names an archive event.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "jit/diagnostics.h"
#include "lab/eval.h"

namespace asiarch::host {

// What a worker is asked to do.
//   prepare   build the PCH, extract the corpus, count the reference's parameters
//             (the one job that may write the shared cache);
//   compile   compile, link and check one source; its object stays in the worker's
//             scratch for the host to file in the shared cache;
//   evaluate  build (a cache hit once compiled) and run the gates and training.
enum class JobKind : std::uint8_t { prepare, compile, evaluate };

// Host -> worker.
enum class HostMessage : std::uint8_t {
  job,         // the job, its source and (evaluate) the headers of the tasks whose rows follow as binary frames
  next_job,    // an evaluate job for a compile worker kept alive (WorkerJob::keep_alive)
  clock_reply  // a timing mark was taken: the worker may run its next timed run
};

// Worker -> host.
enum class WorkerMessage : std::uint8_t {
  stage,              // {stage, task?}: where the worker is; the host times each stage
  compiled,           // {ok, cache_hit, seconds, diagnostics}: a compile's summary
  build,              // {result}: the compile report, sent before an evaluation starts
  object,             // {key, meta}: the compiled object follows as a binary frame
  result,             // {result}: the job's result, checked and scored by the host
  result_written,     // a compile worker kept alive is ready for its next job
  clock,              // {label}: a timing mark; the worker waits for clock_reply
  test_logits,        // {task, first, shape}: a block of test logits follows as a binary frame
  gates_started,      // {}
  gate,               // {name, passed, reason}
  task_started,       // {task, steps}
  training_progress,  // {task, step, steps, loss}
  task_finished,      // {task, metric_name, metric, steps, stop_reason}
};

// Where a worker is. The time limits of `gates` and `training` come from the host's plan
// (StageLimits and the reference's time on the task the host planned), never from the worker.
enum class Stage : std::uint8_t {
  starting,
  setting_up_compiler,
  waiting_for_job,
  reading_job,
  building_pch,
  extracting_corpus,
  counting_reference,
  compiling,
  waiting_for_evaluation,
  gates,
  training,  // with the task, which must be one the host planned
  writing_result,
};

// What a worker's progress messages (and an executor's own notes) may become on the host's side:
// the event kinds of a candidate's evaluation. The name of each is the event's kind.
enum class ProgressKind : std::uint8_t {
  compiled,
  gates_started,
  gate,
  task_started,
  training_progress,
  task_finished,
  // Made by the host's executors, never by a worker:
  worker_started,
  node_cache,
  slurm_adopted,
  slurm_state,
  slurm_resubmitted,
};

struct Progress {
  ProgressKind kind;
  nlohmann::json data = nlohmann::json::object();  // the fields of that kind, as the host kept them
};

// The names on the wire (and, for ProgressKind, the archive's event kinds). Each parse returns
// nothing for a name that is not one of the enum's.
const char* name_of(JobKind k);
const char* name_of(HostMessage k);
const char* name_of(WorkerMessage k);
const char* name_of(Stage s);
const char* name_of(ProgressKind k);
std::optional<JobKind> job_kind_named(std::string_view name);
std::optional<HostMessage> host_message_named(std::string_view name);
std::optional<WorkerMessage> worker_message_named(std::string_view name);
std::optional<Stage> stage_named(std::string_view name);
std::optional<ProgressKind> progress_kind_named(std::string_view name);

// The stage as people read it: "compiling", "training mqar".
std::string stage_label(Stage s, const std::string& task = "");

// Whether a worker doing a job of kind `job` may send `m` at all.
bool may_send(JobKind job, WorkerMessage m);

// Bounds on what the host keeps of a worker's message (bytes of a string field).
inline constexpr std::size_t kMaxNameBytes = 200;     // a task, gate or metric name, a label
inline constexpr std::size_t kMaxReasonBytes = 4000;  // a gate's reason, a stop reason

// ---- the data a job carries --------------------------------------------------------------

struct WorkerJob {
  JobKind kind = JobKind::evaluate;
  int64_t experiment = 0;           // the archive's id, for messages; 0 outside a run
  std::string name;                 // the file name diagnostics give (also part of the cache key)
  std::string preset;               // preset name
  std::string presets_file;         // empty: the embedded presets
  std::vector<std::string> tasks;   // empty: every task of the preset
  std::uint64_t seed = 0;
  std::string mixer_options;
  int64_t reference_parameters = 0; // the reference design's; 0: the worker counts them
  std::string baselines_dir;
  std::map<std::string, lab::Reference> references;  // quality-monitor references per task
  std::string cache_dir;            // the shared (read-only) compile and corpus cache
  // compile jobs: once built, write the result, say result_written and wait for a next_job
  // (assign_next_job) instead of exiting.
  bool keep_alive = false;
  // Set by the host, never by a plugin: the source is the shipped softmax-attention reference, the
  // only one whose ASIARCH_DECLARE_QUADRATIC() exempts it from the complexity limit.
  bool quadratic_reference = false;
  // A further seed of a source whose gates passed on the first: the gates are not run again
  // (their verdict does not depend on the seed's data), only the training and tests.
  bool replica = false;
  // The quality monitor may stop this evaluation early (lab/eval.h): set for a design's first
  // evaluation on the run's own preset, never for its further seeds, rungs or held-out runs.
  bool early_stop = false;
  // The GPU this job may use, as CUDA_VISIBLE_DEVICES (set by the worker before CUDA starts); empty: as inherited.
  std::string gpu;
};

// One compile of one source, as the worker measured it.
struct CompileReport {
  bool ok = false;               // compiled, linked and passed the ABI checks
  jit::Diagnostics diagnostics;
  double seconds = 0;            // compile + load
  bool cache_hit = false;
  std::string cache_key;         // of the object (in the worker's out/objects when not a hit)
};

struct WorkerResult {
  std::optional<CompileReport> compile;   // compile and evaluate jobs
  std::optional<lab::EvalReport> report;  // evaluate jobs that built
  std::string error;                      // a setup error (preset, tasks, corpus)
  int64_t reference_parameters = 0;
  bool built() const { return compile && compile->ok; }
};

}  // namespace asiarch::host
