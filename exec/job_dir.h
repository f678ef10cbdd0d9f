// An evaluate job as files in a folder both the host and a compute node see (the Slurm
// executor's shared_dir): the host writes job.json; `asiarch slurm-job DIR` on the node runs it
// in a sandboxed worker there, appends the worker's progress to progress.jsonl, and writes
// outcome.json once it ended. Each whole file is written atomically (a temporary, then rename),
// so neither side reads one half-written.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "worker/worker_job.h"

namespace asiarch::host {

struct JobFile {
  WorkerJob job;
  std::string source;
  SandboxLimits limits;
  StageLimits stage_limits;
  std::vector<std::string> readable;  // what the worker may read besides the cache (baselines, presets)
  bool isolate = true;
};

Status write_job_file(const std::filesystem::path& dir, const JobFile& f);
Result<JobFile> read_job_file(const std::filesystem::path& dir);

Status write_outcome_file(const std::filesystem::path& dir, const WorkerOutcome& o);
// The outcome once the node wrote it; nullopt before. A file that does not parse is an error.
Result<std::optional<WorkerOutcome>> read_outcome_file(const std::filesystem::path& dir);

// The progress lines complete since byte `offset` (which moves past them).
// A line whose kind is not a ProgressKind is skipped: the file cannot name any other event.
std::vector<Progress> read_progress(const std::filesystem::path& dir, std::uintmax_t& offset);

// The node's side: runs the job in DIR to its end. 0 when an outcome was written.
int run_job_dir(const std::filesystem::path& dir);

}  // namespace asiarch::host
