// The Slurm executor: each evaluate job a batch job that runs `asiarch slurm-job DIR` on a
// compute node (exec/job_dir.h), DIR being a folder of `slurm.shared_dir`. The host
// follows the job's state (exec/slurm.h) and its files; an ended job without an outcome is
// a fact with Slurm's state and reason. A job the cluster ended (preempted, a node that failed,
// cancelled by someone else) is submitted once more. Job folders are named by experiment and
// source, and hold the Slurm job id: a host restarted after a crash finds a job of the same
// experiment still queued, running or finished, and follows it instead of submitting it again.
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <thread>

#include "exec/executor.h"
#include "exec/job_dir.h"
#include "exec/slurm.h"
#include "exec/worker_pool.h"
#include "util/files.h"
#include "util/hash.h"

namespace asiarch::host {
namespace {

constexpr double kRefreshSeconds = 2;  // squeue at most this often, whatever the number of jobs

class SlurmExecutor : public Executor {
 public:
  SlurmExecutor(WorkerPool& pool, slurm::Settings s, ExecutorOptions o)
      : pool_(pool), s_(std::move(s)), options_(std::move(o)) {}
  ~SlurmExecutor() override {
    for (auto& [id, j] : jobs_)
      if (!j.ended) (void)slurm::cancel(j.slurm_id);
  }

  Result<JobId> submit(const WorkerJob& job, const std::string& source) override {
    Job j;
    j.dir = std::filesystem::path(s_.shared_dir) / "jobs" /
            ("e" + std::to_string(job.experiment) + "-" + sha256_hex(source + job.name).substr(0, 12));
    j.job = job;
    j.source = source;
    if (auto adopted = adopt(j)) {
      j.pending.push_back({ProgressKind::slurm_adopted,
                           {{"slurm_job", j.slurm_id}, {"state", *adopted}, {"folder", j.dir.string()}}});
    } else {
      std::error_code ec;
      std::filesystem::remove_all(j.dir, ec);  // what an earlier, ended attempt left
      JobFile f;
      f.job = job;
      f.source = source;
      f.limits = pool_.settings().limits;
      f.stage_limits = pool_.settings().stage_limits;
      for (const auto& r : pool_.settings().readable) f.readable.push_back(std::filesystem::absolute(r).string());
      f.isolate = pool_.settings().isolate;
      if (auto st = write_job_file(j.dir, f); !st) return st.error();
      const bool shipped = ship_object(j);
      const std::string script = "#!/bin/sh\n# asiarch: experiment " + std::to_string(job.experiment) + "\nexec '" +
                                 self_executable() + "' slurm-job '" + j.dir.string() + "'\n";
      if (auto st = write_file_atomic(j.dir / "job.sh", script); !st) return st.error();
      if (auto st = sbatch(j); !st) return st.error();
      j.pending.back().data["object_sent"] = shipped;
    }
    const JobId id = ++next_;
    jobs_.emplace(id, std::move(j));
    return id;
  }

  ExecUpdate poll(JobId id) override {
    ExecUpdate u;
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.ended) return u;
    refresh();
    Job& j = it->second;
    u.messages = std::move(j.pending);
    j.pending.clear();
    for (auto& m : read_progress(j.dir, j.progress_offset)) u.messages.push_back(std::move(m));
    auto o = read_outcome_file(j.dir);
    if (o && *o) {
      j.ended = true;
      u.outcome = std::move(**o);
      return u;
    }
    if (!o) return end(j, u, "its outcome file is unreadable: " + o.error().message);
    if (j.unreachable_since) {
      const double unread = std::chrono::duration<double>(std::chrono::steady_clock::now() - *j.unreachable_since).count();
      if (unread > s_.unreachable_seconds) {
        // Given up: cancelled, so that a job the controller still has does not run on unseen.
        const auto cancelled = slurm::cancel(j.slurm_id);
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.0f", unread);
        return end(j, u, std::string("its state could not be read for ") + buf + " s (" + j.unreachable_reason + "); " +
                             (cancelled ? "the job was cancelled" : "cancelling it failed too: " + cancelled.error().message));
      }
      return u;
    }
    const auto fate = slurm::fate_of(j.state.state);
    if (fate == slurm::Fate::waiting || fate == slurm::Fate::running || j.state.state.empty()) return u;
    if (fate == slurm::Fate::retry && !j.resubmitted) {
      const auto was = j.state;
      const std::string old_id = j.slurm_id;
      j.resubmitted = true;
      j.state = {};
      if (auto st = sbatch(j); !st) return end(j, u, "it ended " + describe(was) + " and could not be submitted again: " + st.error().message);
      u.messages.push_back({ProgressKind::slurm_resubmitted,
                            {{"previous_job", old_id}, {"slurm_job", j.slurm_id}, {"state", was.state},
                             {"reason", was.reason}}});
      return u;
    }
    return end(j, u, "it ended " + describe(j.state) + " without an outcome");
  }

  void wait(int timeout_ms) override { std::this_thread::sleep_for(std::chrono::milliseconds(std::min(timeout_ms, 200))); }

  void cancel(JobId id) override {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.ended) return;
    (void)slurm::cancel(it->second.slurm_id);
    it->second.ended = true;
  }

  void release(JobId id) override {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    if (!it->second.ended) (void)slurm::cancel(it->second.slurm_id);
    std::error_code ec;
    std::filesystem::remove_all(it->second.dir, ec);
    jobs_.erase(it);
  }

  std::string name() const override { return "slurm"; }

 private:
  struct Job {
    std::filesystem::path dir;
    WorkerJob job;
    std::string source;
    std::string slurm_id;
    slurm::JobState state;  // as last seen; empty: not asked yet
    std::uintmax_t progress_offset = 0;
    bool resubmitted = false;
    bool ended = false;
    std::vector<Progress> pending;
    // Since when squeue and scontrol have not answered for it, and what they said.
    std::optional<std::chrono::steady_clock::time_point> unreachable_since;
    std::string unreachable_reason;
    // When this host submitted (or adopted) it: a job that ends without an outcome reports how
    // long it was followed, queueing included, not 0 s.
    std::chrono::steady_clock::time_point since = std::chrono::steady_clock::now();
  };

  static std::string describe(const slurm::JobState& s) {
    return s.state + (s.reason.empty() || s.reason == "None" ? "" : " (" + s.reason + ")");
  }

  // Slurm's time limit: the experiment's own (the worker's wall clock), a minute or two more for
  // the node to start the worker, in whole minutes.
  int minutes() const { return static_cast<int>(std::ceil(pool_.settings().limits.wall_seconds / 60.0)) + 2; }

  Status sbatch(Job& j) {
    auto id = slurm::submit(s_, "asiarch-e" + std::to_string(j.job.experiment), (j.dir / "slurm.out").string(), minutes(),
                            (j.dir / "job.sh").string());
    if (!id) return id.error();
    j.slurm_id = *id;
    (void)write_file_atomic(j.dir / "slurm_job", *id + "\n");
    j.pending.push_back({ProgressKind::worker_started,
                         {{"executor", "slurm"}, {"slurm_job", *id}, {"folder", j.dir.string()}}});
    return Ok{};
  }

  // The object the host built from this source goes into the job's folder: a node whose compile
  // cache lacks it installs it there (exec/job_dir.cpp) and loads it instead of compiling.
  bool ship_object(const Job& j) const {
    if (!options_.built_object) return false;
    const auto object = options_.built_object(j.job, j.source);
    if (object.empty()) return false;
    auto meta = object;
    meta.replace_extension(".json");
    std::error_code ec;
    if (!std::filesystem::exists(object, ec) || !std::filesystem::exists(meta, ec)) return false;
    std::filesystem::create_directories(j.dir / "objects", ec);
    for (const auto& p : {object, meta}) {
      std::filesystem::copy_file(p, j.dir / "objects" / p.filename(), std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) return false;
    }
    return true;
  }

  // A job of this experiment and source from before a restart: its state when it is still
  // queued or running, or has written its outcome; nullopt when there is nothing to follow.
  std::optional<std::string> adopt(Job& j) {
    auto id = read_file(j.dir / "slurm_job");
    if (!id) return std::nullopt;
    j.slurm_id = std::string(id->substr(0, id->find('\n')));
    auto o = read_outcome_file(j.dir);
    if (o && *o) return std::string("finished");
    j.state = slurm::states({j.slurm_id})[j.slurm_id];
    if (j.state.state == slurm::kUnreachable) {  // followed, and given up only after slurm.unreachable_seconds
      j.unreachable_since = std::chrono::steady_clock::now();
      j.unreachable_reason = j.state.reason;
      return std::string(slurm::kUnreachable);
    }
    const auto fate = slurm::fate_of(j.state.state);
    if (fate == slurm::Fate::waiting || fate == slurm::Fate::running) return j.state.state;
    return std::nullopt;
  }

  // Every job's state, one squeue call for all, at most every kRefreshSeconds; while Slurm does
  // not answer, less and less often (doubling up to a minute).
  void refresh() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_refresh_) return;
    std::vector<std::string> ids;
    for (const auto& [id, j] : jobs_)
      if (!j.ended) ids.push_back(j.slurm_id);
    const auto st = slurm::states(ids);
    bool unanswered = false;
    for (auto& [id, j] : jobs_) {
      if (j.ended) continue;
      auto s = st.find(j.slurm_id);
      if (s == st.end()) continue;
      if (s->second.state == slurm::kUnreachable) {
        unanswered = true;
        if (!j.unreachable_since) {
          j.unreachable_since = now;
          j.pending.push_back({ProgressKind::slurm_state,
                               {{"slurm_job", j.slurm_id}, {"state", s->second.state}, {"reason", s->second.reason}}});
        }
        j.unreachable_reason = s->second.reason;
        continue;  // its last known state stands
      }
      j.unreachable_since.reset();
      if (s->second.state != j.state.state)
        j.pending.push_back({ProgressKind::slurm_state,
                             {{"slurm_job", j.slurm_id}, {"state", s->second.state}, {"reason", s->second.reason}}});
      j.state = s->second;
    }
    failures_ = unanswered ? std::min(failures_ + 1, 5) : 0;
    next_refresh_ = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(std::min(60.0, kRefreshSeconds * (1 << failures_))));
  }

  ExecUpdate& end(Job& j, ExecUpdate& u, const std::string& why) {
    // The node may have written its outcome while the job was ending: it wins.
    for (auto& m : read_progress(j.dir, j.progress_offset)) u.messages.push_back(std::move(m));
    if (auto o = read_outcome_file(j.dir); o && *o) {
      j.ended = true;
      u.outcome = std::move(**o);
      return u;
    }
    j.ended = true;
    WorkerOutcome o;
    o.failure = "Slurm job " + j.slurm_id + ": " + why;
    o.stage = "slurm " + j.state.state;
    o.exit.timed_out = j.state.state == "TIMEOUT";
    o.exit.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - j.since).count();
    auto log = read_file(j.dir / "slurm.out");
    if (log) o.log_tail = log->size() > 4000 ? log->substr(log->size() - 4000) : *log;
    u.outcome = std::move(o);
    return u;
  }

  WorkerPool& pool_;
  slurm::Settings s_;
  ExecutorOptions options_;
  JobId next_ = 0;
  std::map<JobId, Job> jobs_;
  std::chrono::steady_clock::time_point next_refresh_{};
  int failures_ = 0;  // refreshes in a row that Slurm did not answer
};

}  // namespace

Result<std::unique_ptr<Executor>> make_slurm_executor(WorkerPool& pool, const ExecutorOptions& options) {
  const slurm::Settings& s = options.slurm;
  if (s.shared_dir.empty())
    return make_error("slurm.shared_dir: the slurm executor needs a folder the host and the compute nodes both see");
  if (auto why = slurm::refusal(s); !why.empty()) return make_error(why);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(s.shared_dir) / "jobs", ec);
  if (ec) return make_error("slurm.shared_dir: " + s.shared_dir + ": " + ec.message());
  if (!s.partition.empty())
    if (auto st = slurm::check_partition(s.partition); !st) return st.error();
  slurm::Settings abs = s;
  abs.shared_dir = std::filesystem::absolute(s.shared_dir).string();
  return std::unique_ptr<Executor>(std::make_unique<SlurmExecutor>(pool, abs, options));
}

}  // namespace asiarch::host
