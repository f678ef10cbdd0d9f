// One job's trip through a sandboxed worker, from the host's side: starting the worker, handing it
// the job (worker/protocol.h names the kinds), reading what it sends as the protocol allows, and the
// outcome, including how the worker ended when it crashed or was killed. The host's side is
// worker/job_host.cpp (its trusted scoring worker/trusted_scoring.cpp), the worker's side
// worker/worker_main.cpp, the wire format worker/wire.cpp.
// The Engineer is not here: the host decides what to compile next.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/eval.h"
#include "lab/test_set.h"
#include "worker/protocol.h"
#include "worker/sandbox.h"
#include "worker/wire.h"
#include "worker/worker_channel.h"

namespace asiarch::host {

struct WorkerOutcome {
  WorkerResult result;     // what the worker sent (the compile report survives a later crash)
  WorkerExit exit;
  Confinement confinement;
  std::string failure;     // empty when the worker finished; else the cause, with the stage it was in
  std::string stage;       // the stage the worker was in last
  std::string log;         // the worker's output, its last 64 KiB, control characters escaped
  std::string log_tail;    // the end of that
  double trusted_seconds = 0;  // the host's work on the job (making its tasks, scoring the test logits)
  std::string object_key;  // a compile job's object, as the worker sent it (the host checks it)
  std::string object_meta;
  std::string object;
  std::filesystem::path scratch;
};

// Tasks the host made, kept for later jobs: every experiment of a run trains on the same data
// (preset, task, seed), so it is generated and encoded once. Shared by the jobs of one owner
// (the loop's worker settings); only the host's thread uses it.
struct TaskCache {
  struct Entry {
    lab::TaskData task;  // without its training rows: what scoring needs
    std::shared_ptr<const std::string> train_inputs, train_targets;  // as sent: int32 token ids
    int64_t train_rows = 0;
  };
  std::map<std::string, std::shared_ptr<const Entry>> entries;
};

struct WorkerSettings {
  std::string executable;  // empty: this program
  std::string cache_dir;   // when set, an idle worker sets up its JIT against it before its job arrives
  SandboxLimits limits;
  StageLimits stage_limits;
  bool isolate = true;     // namespaces where the kernel allows
  bool gpu = false;        // the run has GPUs: its workers may reach them (WorkerSpec::gpu)
  std::vector<std::filesystem::path> readable;  // more paths workers may read (baselines, presets)
  std::shared_ptr<TaskCache> task_cache;  // null: each evaluate job makes its tasks afresh
};

// The trusted side of one task's test, kept by the host while the worker predicts: the targets
// never leave it (lab/test_set.h).
struct HostTest {
  lab::TestScorer scorer;
  std::string metric_name;
  double worst = 0;  // the metric a task gets that cannot be scored
};

// A worker that is running; poll it until it yields its outcome. The host reads only what the
// worker sends on its channel and log pipe, never its scratch folder.
struct RunningJob {
  WorkerProcess process;
  std::filesystem::path scratch;
  FrameReader frames;
  LogRing log;
  std::vector<Progress> inbox;         // progress not yet read, as the host kept it
  JobKind kind = JobKind::evaluate;     // of the job it was handed (what it may send)
  bool awaiting_next = false;          // a compile worker kept alive said result_written
  std::optional<WorkerResult> build;   // the compile report, once sent
  std::optional<WorkerResult> result;  // the result, once sent
  Stage stage = Stage::starting;
  std::string stage_task;              // the planned task of a training stage
  std::chrono::steady_clock::time_point stage_started;
  double stage_limit = 0;              // seconds; 0: none beyond the wall clock
  std::string violation;               // why the host ended it (protocol, a stage's time limit)
  std::string object_key, object_meta, object;
  std::optional<WorkerMessage> expect_blob;  // object or test_logits: what the next binary frame holds
  std::string logits_task;             // of the announced test_logits frame
  int64_t logits_first = 0;
  std::vector<int64_t> logits_shape;
  FrameWriter outbox;                  // frames for the worker not yet written (the host never blocks on it)
  std::map<std::string, HostTest> tests;  // evaluate jobs: per task, scored here
  std::shared_ptr<TaskCache> task_cache;  // from the settings it was started with
  struct ClockMark {
    std::string label;  // "start" or a length
    double cpu = 0;     // the worker's CPU seconds as the kernel counts them
    double wall = 0;    // seconds since the job started
  };
  std::vector<ClockMark> clock_marks;  // the complexity gate's runs, timed here
  // The complexity gate's lengths from the host's own reading of the preset: the marks must come
  // as "start", then each of these in order, pass after pass; any other label breaks the protocol.
  std::vector<int64_t> gate_lengths;
  std::size_t next_mark = 0;  // where in that cycle the next mark is
  double clock_resolution = 0;
  double trusted_seconds = 0;          // the host's own work for this job: making tasks, scoring
  bool quadratic_reference = false;    // of the source it was given
  bool replica = false;                // its job skips the gates (WorkerJob::replica)
  std::size_t progress_bytes = 0;      // of the progress kept for this job, all of it
  std::size_t inbox_bytes = 0;         // of the progress kept and not yet read
  StageLimits stage_limits;
  std::map<std::string, double> reference_seconds;  // per task, from the job
};

// Starts `asiarch worker` in `scratch` (created if needed; a private tmpfs
// where possible) and sends it the job and source. A prepare job may also
// write the cache.
Result<RunningJob> start_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                             const WorkerSettings& settings);
// A worker started ahead of its job: it loads its libraries (most of a
// worker's start-up) and waits for its job on the channel. Hand it
// a compile or evaluate job with assign_job; its wall-clock limit starts then.
Result<RunningJob> start_idle_worker(const std::filesystem::path& scratch, const WorkerSettings& settings);
Status assign_job(RunningJob& worker, const WorkerJob& job, const std::string& source);
// Hands a compile worker kept alive (it said "result_written") its evaluate job.
Status assign_next_job(RunningJob& worker, const WorkerJob& job);
// The result of a worker that is alive and done with its job (after "result_written").
WorkerOutcome peek_result(RunningJob& job);
// The progress the worker sent since the last call (lab::EvalOptions::progress), each checked
// against the job and kept as the host chose.
std::vector<Progress> read_messages(RunningJob& job);
std::optional<WorkerOutcome> poll_job(RunningJob& job);
// Waits at most `timeout_ms` for any of `jobs` to send something (or take what the host has queued
// for it): a worker that waits on a reply (a timing mark) gets it within a poll, not a sleep.
void wait_for_any(const std::vector<const RunningJob*>& jobs, int timeout_ms);
WorkerOutcome finish_job(RunningJob& job);  // waits
WorkerOutcome cancel_job(RunningJob& job);  // kills
// start_job + finish_job, calling `progress` with each progress item.
Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings,
                              const std::function<void(const Progress&)>& progress = nullptr);

// Runs a prepare job in `scratch`: builds the PCH, extracts the corpus when a
// task needs it and counts DeltaNet's parameters, so that candidate workers
// find the shared cache ready and read-only. Errors name what failed.
Result<WorkerResult> prepare_cache(WorkerJob job, const std::filesystem::path& scratch, const WorkerSettings& settings);

// Files the object a compile worker sent in the shared cache (`shared_objects`:
// jit::Toolchain::shared_object_dir()), only under `expected_key`, the key the
// host computed for the source it sent, and only when its metadata checks out.
Status file_compiled_object(const WorkerOutcome& outcome, const std::filesystem::path& shared_objects,
                            const std::string& expected_key);

// The worker side: `asiarch worker --channel FD` (cwd = scratch). Returns the exit code.
// `prewarm_cache_dir`: set up the JIT for that cache while waiting for the job.
int worker_main(int channel_fd, const std::string& prewarm_cache_dir = "");

// An evaluate job's outcome as a file (the Slurm executor's results): everything but the compiled
// object and the scratch path; the confinement is written for people and read back as given.
void to_json(nlohmann::json& j, const WorkerOutcome& o);
void from_json(const nlohmann::json& j, WorkerOutcome& o);

}  // namespace asiarch::host
