#include "engine/candidate.h"

#include <algorithm>
#include <cmath>

#include "engine/llm_calls.h"
#include "engine/scoring.h"
#include "util/diff.h"
#include "jit/compiler.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

constexpr size_t kMaxLog = 1 << 20;  // per candidate, kept from the end

size_t count_errors(const jit::Diagnostics& d) {
  size_t n = 0;
  for (const auto& i : d.items) n += i.severity == jit::Severity::error || i.severity == jit::Severity::fatal;
  return n;
}

std::string without_declined(const std::string& method) {
  const std::string p = "declined: ";
  return method.rfind(p, 0) == 0 ? method.substr(p.size()) : method;
}

}  // namespace

CandidateRun::~CandidateRun() { cancel(); }

void CandidateRun::emit(const std::string& kind, nlohmann::json data) {
  data["name"] = spec_.name;
  if (!spec_.stage_preset.empty()) data["stage_preset"] = spec_.stage_preset;
  deps_.events.emit(kind, spec_.id, std::move(data));
}

void CandidateRun::keep_log(const std::string& title, const WorkerOutcome& o) {
  log_ += "== " + title + "\n" + (o.log.empty() ? std::string("(no output)\n") : o.log);
  if (log_.size() > kMaxLog) log_ = "...\n" + log_.substr(log_.size() - kMaxLog);
}

void CandidateRun::fail(const std::string& reason) {
  outcome_.status = archive::ExperimentStatus::failed;
  outcome_.fail_reason = reason;
  phase_ = Phase::done;
}

// How this attempt's source was made from the previous one, said once.
void CandidateRun::take_pending(archive::CompileAttempt& a) {
  a.method = std::move(pending_method_);
  a.answered = std::move(pending_answered_);
  a.diff = std::move(pending_diff_);
  pending_method_.clear();
  pending_answered_.clear();
  pending_diff_.clear();
}

// A source this toolchain built before under the same name (a baseline, a re-evaluation, a
// promoted design): the host filed its object, and only objects that compiled, linked and passed
// the ABI checks are filed, so no compile worker is needed; the evaluating worker loads it.
bool CandidateRun::already_built() {
  const std::string key = jit::object_cache_key(deps_.toolchain, spec_.job.name, source_);
  auto diagnostics = jit::cached_object_diagnostics(deps_.toolchain.shared_object_dir(), key);
  if (!diagnostics) return false;
  ++attempts_;
  ++attempts_this_source_;
  archive::CompileAttempt a;
  a.attempt = attempts_;
  a.source = source_;
  a.ok = true;
  a.diagnostics = std::move(*diagnostics);
  take_pending(a);
  outcome_.attempts.push_back(a);
  emit("compile_attempt", {{"attempt", a.attempt},
                           {"ok", true},
                           {"seconds", 0.0},
                           {"cache_hit", true},
                           {"diagnostics", a.diagnostics.items.size()},
                           {"errors", 0},
                           {"failure", ""}});
  phase_ = Phase::evaluate;
  return true;
}

void CandidateRun::start_compile() {
  if (already_built()) return;
  WorkerJob job = spec_.job;
  job.kind = JobKind::compile;
  job.keep_alive = true;
  auto w = deps_.pool.start(job, source_);
  if (!w) {
    ++attempts_;
    archive::CompileAttempt a;
    a.attempt = attempts_;
    a.source = source_;
    a.failure = "could not start a compile worker: " + w.error().message;
    take_pending(a);
    outcome_.attempts.push_back(a);
    emit("compile_attempt", {{"attempt", a.attempt}, {"ok", false}, {"failure", a.failure}});
    fail(a.failure);
    return;
  }
  compile_job_ = std::move(*w);
  emit("worker_started", {{"role", "compile"},
                          {"pid", compile_job_->process.pid},
                          {"confinement", compile_job_->process.confinement}});
}

void CandidateRun::compiled(const WorkerOutcome& o, bool alive) {
  ++attempts_;
  ++attempts_this_source_;
  keep_log("compile attempt " + std::to_string(attempts_), o);
  archive::CompileAttempt a;
  a.attempt = attempts_;
  a.source = source_;
  take_pending(a);
  worker_seconds_ += o.exit.seconds;
  if (!alive) emit("worker_ended", {{"role", "compile"}, {"cause", o.exit.cause()}, {"seconds", o.exit.seconds}});
  if (o.result.compile) {
    a.ok = o.result.compile->ok;
    a.diagnostics = o.result.compile->diagnostics;
    a.seconds = o.result.compile->seconds;
  }
  if (!o.failure.empty() || !o.result.compile) {
    a.ok = false;
    a.failure = o.failure.empty() ? "the compile worker wrote no report" : o.failure;
  }
  compile_seconds_ += a.seconds;
  if (a.ok)
    if (auto st = file_compiled_object(o, deps_.toolchain.shared_object_dir(),
                                             jit::object_cache_key(deps_.toolchain, spec_.job.name, source_)); !st)
      emit("note", {{"text", "the compiled object was not cached: " + st.error().message}});
  if (alive && a.ok) {
    warm_ = std::move(*compile_job_);  // it evaluates what it built
  } else {
    if (alive) {
      cancel_job(*compile_job_);
      emit("worker_ended", {{"role", "compile"}, {"cause", "not needed"}, {"seconds", o.exit.seconds}});
    }
    deps_.pool.discard(*compile_job_);
  }
  compile_job_.reset();
  outcome_.attempts.push_back(a);
  emit("compile_attempt", {{"attempt", a.attempt},
                           {"ok", a.ok},
                           {"seconds", a.seconds},
                           {"cache_hit", o.result.compile && o.result.compile->cache_hit},
                           {"diagnostics", a.diagnostics.items.size()},
                           {"errors", count_errors(a.diagnostics)},
                           {"failure", a.failure}});
  if (a.ok) {
    phase_ = Phase::evaluate;
    return;
  }
  if (!a.failure.empty()) {
    fail("compile attempt " + std::to_string(a.attempt) + ": " + a.failure);
    return;
  }
  const std::string did_not_build = "did not build after " + std::to_string(attempts_this_source_) + " attempt(s)";
  if (attempts_this_source_ >= spec_.max_repair_attempts) {
    fail(did_not_build + (spec_.max_repair_attempts > 1
                              ? ": still failing after " + std::to_string(spec_.max_repair_attempts) + " attempts"
                              : ""));
    return;
  }
  agents::BuildFailure f{spec_.job.name, source_, a.diagnostics, a.failure, a.attempt};
  if (revise_build(f) != Asked::answered) waiting_ = std::move(f);
}

std::optional<agents::Revision> CandidateRun::ask_engineer(std::function<agents::Revision()> ask) {
  if (!deps_.engineer_beside) return ask();
  if (!asking_.valid())
    asking_ = std::async(std::launch::async, [ask = std::move(ask), id = spec_.id] {
      const CallTag tag(id);  // its calls are this experiment's
      return ask();
    });
  if (asking_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return std::nullopt;
  return asking_.get();
}

CandidateRun::Asked CandidateRun::revise_build(const agents::BuildFailure& f) {
  auto got = ask_engineer([this, f] { return deps_.engineer.revise_build(f); });
  if (!got) return Asked::asking;
  auto r = std::move(*got);
  if (r.unavailable) {
    if (!unavailable_noted_)
      emit("repair_waiting", {{"attempt", f.attempt}, {"reason", "the Engineer is unavailable; asking again later"}});
    unavailable_noted_ = true;
    return Asked::unavailable;
  }
  unavailable_noted_ = false;
  if (!r.revised || r.source == source_) {
    emit("repair_declined", {{"attempt", f.attempt}, {"method", r.method}});
    fail("did not build after " + std::to_string(attempts_this_source_) + " attempt(s): " + without_declined(r.method));
    return Asked::answered;
  }
  pending_method_ = r.method;
  pending_answered_ = r.answered;
  pending_diff_ = unified_diff(source_, r.source, spec_.job.name);
  emit("repair", {{"attempt", attempts_ + 1}, {"method", r.method}, {"answered", r.answered}});
  source_ = std::move(r.source);
  return Asked::answered;
}

void CandidateRun::evaluated(WorkerOutcome o) {
  keep_log("evaluation", o);
  worker_seconds_ += o.exit.seconds;
  if (o.result.report) {
    lab_seconds_ += o.result.report->seconds;
    // The worker's own figure, only ever a share of where the time went: kept within its report's.
    const double g = o.result.report->gates_seconds, all = o.result.report->seconds;
    gates_seconds_ += std::isfinite(g) && std::isfinite(all) ? std::clamp(g, 0.0, std::max(all, 0.0)) : 0.0;
  }
  // A fresh evaluating worker loads the built object: compile time. A reused one built it already.
  if (o.result.compile && !eval_reused_) compile_seconds_ += o.result.compile->seconds;
  emit("worker_ended", {{"role", "evaluate"}, {"cause", o.exit.cause()}, {"seconds", o.exit.seconds}});
  auto problem = runtime_problem(o);
  if (problem)
    emit("runtime_failure", {{"stage", problem->stage}, {"failure", problem->failure}, {"revision", revisions_ + 1}});
  settle(std::move(o), problem);
}

void CandidateRun::settle(WorkerOutcome o, const std::optional<RuntimeProblem>& problem) {
  if (problem && revisions_ < spec_.max_runtime_revisions) {
    agents::RuntimeFailure f{spec_.job.name, source_, problem->stage, problem->failure, o.log_tail, revisions_ + 1};
    auto got = ask_engineer([this, f] { return deps_.engineer.revise_runtime(f); });
    if (!got || got->unavailable) {
      // Being asked beside the loop, or the Engineer cannot be asked now (an LLM pause): the failed
      // run waits, the candidate is kept.
      if (got && !unavailable_noted_)
        emit("repair_waiting", {{"revision", revisions_ + 1}, {"reason", "the Engineer is unavailable; asking again later"}});
      if (got) unavailable_noted_ = true;
      waiting_run_ = std::make_pair(std::move(o), *problem);
      return;
    }
    unavailable_noted_ = false;
    auto r = std::move(*got);
    ++revisions_;
    archive::RuntimeAttempt ra;
    ra.revision = revisions_;
    ra.stage = problem->stage;
    ra.failure = problem->failure;
    ra.source = source_;
    ra.revised = r.revised && r.source != source_;
    ra.method = r.method;
    ra.answered = r.answered;
    if (ra.revised) ra.diff = unified_diff(source_, r.source, spec_.job.name);
    outcome_.runtime_attempts.push_back(ra);
    emit("runtime_revision", {{"revision", ra.revision}, {"revised", ra.revised}, {"method", ra.method}});
    if (ra.revised) {
      deps_.executor.release(*eval_job_);
      eval_job_.reset();
      pending_method_ = "runtime revision " + std::to_string(ra.revision) + ": " + r.method;
      pending_answered_ = r.answered;
      pending_diff_ = ra.diff;
      source_ = std::move(r.source);
      attempts_this_source_ = 0;
      phase_ = Phase::compile;
      return;
    }
  }
  archive::Outcome rec = interpret_evaluation(o, spec_.job);
  outcome_.gates = std::move(rec.gates);
  outcome_.runs = std::move(rec.runs);
  outcome_.status = rec.status;
  outcome_.fail_reason = rec.fail_reason;
  deps_.executor.release(*eval_job_);
  eval_job_.reset();
  o.scratch.clear();  // released
  evaluation_ = std::move(o);
  phase_ = Phase::done;
}

bool CandidateRun::step() {
  if (phase_ == Phase::compile) {
    if (waiting_) {
      if (revise_build(*waiting_) != Asked::answered) return false;
      waiting_.reset();
      return phase_ == Phase::done;
    }
    if (!compile_job_) {
      start_compile();
      return phase_ == Phase::done;
    }
    (void)read_messages(*compile_job_);  // a compile job's progress is its compiled summary, recorded from its result
    if (compile_job_->awaiting_next) compiled(peek_result(*compile_job_), true);
    else if (auto o = poll_job(*compile_job_)) compiled(*o, false);
    return phase_ == Phase::done;
  }
  if (phase_ == Phase::evaluate) {
    if (waiting_run_) {
      auto [o, problem] = std::move(*waiting_run_);
      waiting_run_.reset();
      settle(std::move(o), problem);
      return phase_ == Phase::done;
    }
    if (!eval_job_) {
      WorkerJob job = spec_.job;
      job.kind = JobKind::evaluate;
      Result<Executor::JobId> id = make_error("");
      if (warm_) {
        id = deps_.executor.submit_warm(std::move(*warm_), job, source_);
        warm_.reset();
        eval_reused_ = true;
        emit("worker_reused", {{"role", "evaluate"}, {"executor", deps_.executor.name()}});
      } else {
        id = deps_.executor.submit(job, source_);
        eval_reused_ = false;
      }
      if (!id) {
        fail("could not submit the evaluation to the " + deps_.executor.name() + " executor: " + id.error().message);
        return true;
      }
      eval_job_ = *id;
    }
    auto u = deps_.executor.poll(*eval_job_);
    // Each progress item becomes the event the host's vocabulary names for its kind.
    for (auto& p : u.messages) {
      if (p.kind == ProgressKind::compiled) continue;
      nlohmann::json data = std::move(p.data);
      if (p.kind == ProgressKind::worker_started) data["role"] = "evaluate";
      if (p.kind == ProgressKind::gate) {  // "name" names the experiment in every event
        data["gate"] = data["name"];
        data.erase("name");
      }
      emit(name_of(p.kind), std::move(data));
    }
    if (u.outcome) evaluated(std::move(*u.outcome));
    return phase_ == Phase::done;
  }
  return true;
}

void CandidateRun::cancel() {
  if (warm_) {
    cancel_job(*warm_);
    deps_.pool.discard(*warm_);
    warm_.reset();
  }
  if (compile_job_) {
    cancel_job(*compile_job_);
    deps_.pool.discard(*compile_job_);
    compile_job_.reset();
  }
  if (eval_job_) {
    deps_.executor.release(*eval_job_);
    eval_job_.reset();
  }
}

}  // namespace asiarch::host
