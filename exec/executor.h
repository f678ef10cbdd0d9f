// Where a built candidate's gates and training run. The engine submits an
// evaluate job (a WorkerJob and its source, both plain data), polls it for
// structured progress and, once it ends, its outcome, and may cancel it.
// `local` runs it in a sandboxed worker on this machine; a remote executor
// (Slurm) carries the same job as files.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/slurm_settings.h"
#include "worker/worker_job.h"

namespace asiarch::host {

class WorkerPool;

struct ExecUpdate {
  std::vector<Progress> messages;  // progress since the last poll, oldest first, as the host kept it
  std::optional<WorkerOutcome> outcome;  // once the job has ended
};

class Executor {
 public:
  using JobId = int64_t;
  virtual ~Executor() = default;
  virtual Result<JobId> submit(const WorkerJob& job, const std::string& source) = 0;
  // The same, given the local worker that compiled this source and waits for its evaluation
  // (WorkerJob::keep_alive): an executor that can use it saves a process and a load; one that
  // cannot ends it and submits as usual.
  virtual Result<JobId> submit_warm(RunningJob worker, const WorkerJob& job, const std::string& source) {
    cancel_job(worker);
    std::error_code ec;
    std::filesystem::remove_all(worker.scratch, ec);
    return submit(job, source);
  }
  virtual ExecUpdate poll(JobId id) = 0;
  // Waits at most `timeout_ms` for news from any job (a job waiting on a reply is answered at the
  // next poll); returns early when there is some.
  virtual void wait(int timeout_ms) = 0;
  virtual void cancel(JobId id) = 0;
  // Forgets an ended job and removes what it left (its scratch).
  virtual void release(JobId id) = 0;
  virtual std::string name() const = 0;
};

struct ExecutorOptions {
  slurm::Settings slurm;  // for "slurm"
  // Where the host filed the object built from this job's source (`<key>.o`, its metadata in
  // `<key>.json` beside it); empty when unknown. A remote executor sends it with the job.
  std::function<std::filesystem::path(const WorkerJob&, const std::string& source)> built_object;
};

// The executor named `name`, from the table in exec/executors.cpp ("local": the pool's sandboxed
// workers; "slurm": batch jobs). An unknown name is an error listing the known ones.
Result<std::unique_ptr<Executor>> make_executor(const std::string& name, WorkerPool& pool,
                                                const ExecutorOptions& options = {});
std::vector<std::string> known_executors();

// The makers the table names, one per executor file.
Result<std::unique_ptr<Executor>> make_local_executor(WorkerPool& pool, const ExecutorOptions& options);
Result<std::unique_ptr<Executor>> make_slurm_executor(WorkerPool& pool, const ExecutorOptions& options);

}  // namespace asiarch::host
