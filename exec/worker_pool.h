// Sandboxed workers on this machine, with spares started ahead of their
// jobs: a spare loads LibTorch and LLVM and sets up its JIT while the
// previous job runs, so a job starts without that cost. Compile jobs (the
// host's repair loop) and the local executor's evaluate jobs share it.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "worker/worker_job.h"

namespace asiarch::host {

class WorkerPool {
 public:
  WorkerPool(WorkerSettings settings, std::filesystem::path scratch_root, int spares = 1)
      : settings_(std::move(settings)), root_(std::move(scratch_root)), spares_wanted_(spares) {}
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // A spare if one is waiting, else a fresh worker, given the job.
  Result<RunningJob> start(const WorkerJob& job, const std::string& source);
  // Starts spares up to the wanted number (call when a job has just started,
  // so their start-up overlaps it).
  void keep_spares();
  // Kills the spares and removes their scratch.
  void shutdown();
  // Removes a finished job's scratch folder.
  void discard(const RunningJob& job);
  const WorkerSettings& settings() const { return settings_; }

 private:
  std::filesystem::path next_slot();
  WorkerSettings settings_;
  std::filesystem::path root_;
  int spares_wanted_;
  int slots_ = 0;
  std::vector<RunningJob> spares_;
};

}  // namespace asiarch::host
