// One candidate's trip through a sandboxed worker: the job the host writes
// into the worker's scratch directory, what the worker does with it
// (Engineer repair loop, gates, training), and the outcome the host reads
// back, including how the worker ended when it crashed or was killed.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/engineer.h"
#include "host/sandbox.h"
#include "lab/eval.h"

namespace asiarch::host {

struct WorkerJob {
  std::string name;                 // the file name diagnostics give
  std::string preset;               // preset name
  std::string presets_file;         // empty: the embedded presets
  std::vector<std::string> tasks;   // empty: every task of the preset
  std::uint64_t seed = 0;
  std::string mixer_options;
  int max_attempts = 4;             // Engineer compile attempts (1: no repair)
  int64_t reference_parameters = 0; // DeltaNet's; 0: the worker counts them
  std::string baselines_dir;
  std::map<std::string, lab::Reference> references;  // quality-monitor references per task
  std::string cache_dir;            // the shared (read-only) compile and corpus cache
  bool prepare = false;             // build the PCH and the corpus, count DeltaNet's parameters
};

struct WorkerResult {
  std::vector<agents::RepairAttempt> attempts;
  bool built = false;
  std::string final_source;
  std::string gave_up;
  std::optional<lab::EvalReport> report;  // when it built and the lab ran
  std::string error;                      // a setup error (preset, tasks, corpus)
  int64_t reference_parameters = 0;
};

struct WorkerOutcome {
  WorkerResult result;     // what the worker wrote (attempts survive a later crash)
  WorkerExit exit;
  Confinement confinement;
  std::string failure;     // empty when the worker finished; else the cause, with the stage it was in
  std::string log_tail;    // the end of the worker's output
  std::filesystem::path scratch;
};

struct WorkerSettings {
  std::string executable;  // empty: this program
  std::string cache_dir;   // when set, an idle worker sets up its JIT against it before its job arrives
  SandboxLimits limits;
  bool isolate_network = true;
};

// A worker that is running; poll it until it yields its outcome.
struct RunningJob {
  WorkerProcess process;
  std::filesystem::path scratch;
  std::size_t log_offset = 0;
  std::string partial_line;
};

// Writes job.json and candidate.cpp into `scratch` (created if needed) and
// starts `asiarch worker` there. A prepare job may also write the cache.
Result<RunningJob> start_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                             const WorkerSettings& settings);
// A worker started ahead of its job: it loads its libraries (most of a
// worker's start-up) and waits for job.json to appear in `scratch`. Hand it
// a candidate job with assign_job; its wall-clock limit starts then.
Result<RunningJob> start_idle_worker(const std::filesystem::path& scratch, const WorkerSettings& settings);
Status assign_job(RunningJob& worker, const WorkerJob& job, const std::string& source);
// New "progress: ..." lines the worker printed since the last call.
std::vector<std::string> progress_lines(RunningJob& job);
std::optional<WorkerOutcome> poll_job(RunningJob& job);
WorkerOutcome finish_job(RunningJob& job);  // waits
WorkerOutcome cancel_job(RunningJob& job);  // kills
// start_job + finish_job, calling `progress` with each progress line.
Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings,
                              const std::function<void(const std::string&)>& progress = nullptr);

// Runs a prepare job in `scratch`: builds the PCH, extracts the corpus when a
// task needs it and counts DeltaNet's parameters, so that candidate workers
// find the shared cache ready and read-only. Errors name what failed.
Result<WorkerResult> prepare_cache(WorkerJob job, const std::filesystem::path& scratch, const WorkerSettings& settings);

// The worker side: `asiarch worker --job FILE` (cwd = scratch). Returns the exit code.
// `prewarm_cache_dir`: set up the JIT for that cache while waiting for the job.
int worker_main(const std::filesystem::path& job_file, const std::string& prewarm_cache_dir = "");

void to_json(nlohmann::json& j, const WorkerJob& w);
void from_json(const nlohmann::json& j, WorkerJob& w);
void to_json(nlohmann::json& j, const WorkerResult& r);
void from_json(const nlohmann::json& j, WorkerResult& r);

}  // namespace asiarch::host
