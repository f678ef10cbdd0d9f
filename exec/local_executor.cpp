// The local executor: each evaluate job in a sandboxed worker of the pool.
#include <map>

#include "exec/executor.h"
#include "exec/worker_pool.h"

namespace asiarch::host {
namespace {

class LocalExecutor : public Executor {
 public:
  explicit LocalExecutor(WorkerPool& pool) : pool_(pool) {}
  ~LocalExecutor() override {
    for (auto& [id, j] : jobs_) {
      if (!j.ended) cancel_job(j.worker);
      pool_.discard(j.worker);
    }
  }

  Result<JobId> submit(const WorkerJob& job, const std::string& source) override {
    auto w = pool_.start(job, source);
    if (!w) return w.error();
    const JobId id = ++next_;
    Job j{std::move(*w)};
    j.pending.push_back({ProgressKind::worker_started,
                         {{"pid", j.worker.process.pid},
                          {"executor", "local"},
                          {"confinement", j.worker.process.confinement}}});
    jobs_.emplace(id, std::move(j));
    pool_.keep_spares();  // the next job's worker starts while this one runs
    return id;
  }

  Result<JobId> submit_warm(RunningJob worker, const WorkerJob& job, const std::string& /*source: built there*/) override {
    if (auto st = assign_next_job(worker, job); !st) {
      cancel_job(worker);
      pool_.discard(worker);
      return st.error();
    }
    const JobId id = ++next_;
    jobs_.emplace(id, Job{std::move(worker)});
    pool_.keep_spares();  // the next candidate's worker starts while this one trains
    return id;
  }

  ExecUpdate poll(JobId id) override {
    ExecUpdate u;
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.ended) return u;
    Job& j = it->second;
    u.messages = std::move(j.pending);
    j.pending.clear();
    for (auto& m : read_messages(j.worker)) u.messages.push_back(std::move(m));
    if (auto o = poll_job(j.worker)) {
      for (auto& m : read_messages(j.worker)) u.messages.push_back(std::move(m));
      j.ended = true;
      u.outcome = std::move(*o);
    }
    return u;
  }

  void wait(int timeout_ms) override {
    std::vector<const RunningJob*> running;
    for (const auto& [id, j] : jobs_)
      if (!j.ended) running.push_back(&j.worker);
    wait_for_any(running, timeout_ms);
  }

  void cancel(JobId id) override {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.ended) return;
    cancel_job(it->second.worker);
    it->second.ended = true;
  }

  void release(JobId id) override {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    if (!it->second.ended) cancel_job(it->second.worker);
    pool_.discard(it->second.worker);
    jobs_.erase(it);
  }

  std::string name() const override { return "local"; }

 private:
  struct Job {
    RunningJob worker;
    bool ended = false;
    std::vector<Progress> pending;
  };
  WorkerPool& pool_;
  JobId next_ = 0;
  std::map<JobId, Job> jobs_;
};

}  // namespace

Result<std::unique_ptr<Executor>> make_local_executor(WorkerPool& pool, const ExecutorOptions&) {
  return std::unique_ptr<Executor>(std::make_unique<LocalExecutor>(pool));
}

}  // namespace asiarch::host
