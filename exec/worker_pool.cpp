#include "exec/worker_pool.h"

#include <unistd.h>

namespace asiarch::host {

WorkerPool::~WorkerPool() { shutdown(); }

std::filesystem::path WorkerPool::next_slot() {
  // A slot's name is never reused within a run: no worker finds another's files.
  return root_ / ("slot-" + std::to_string(::getpid()) + "-" + std::to_string(++slots_));
}

Result<RunningJob> WorkerPool::start(const WorkerJob& job, const std::string& source) {
  while (!spares_.empty()) {
    RunningJob w = std::move(spares_.back());
    spares_.pop_back();
    if (poll_job(w)) {  // a spare that died while waiting
      discard(w);
      continue;
    }
    if (auto st = assign_job(w, job, source); !st) {
      cancel_job(w);
      discard(w);
      return st.error();
    }
    return w;
  }
  return start_job(job, source, next_slot(), settings_);
}

void WorkerPool::keep_spares() {
  while (static_cast<int>(spares_.size()) < spares_wanted_) {
    auto w = start_idle_worker(next_slot(), settings_);
    if (!w) return;  // no spare: jobs start fresh workers
    spares_.push_back(std::move(*w));
  }
}

void WorkerPool::shutdown() {
  for (auto& w : spares_) {
    cancel_job(w);
    discard(w);
  }
  spares_.clear();
}

void WorkerPool::discard(const RunningJob& job) {
  std::error_code ec;
  std::filesystem::remove_all(job.scratch, ec);
}

}  // namespace asiarch::host
