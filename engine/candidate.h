// One candidate's way through the engine, from source to an outcome the
// archive can record: each compile in a sandboxed worker, the Engineer
// revising from the structured diagnostics (up to max_repair_attempts
// compiles per source), then the executor running the gates and training,
// and, when that fails at run time, the Engineer revising from the measured
// failure (up to max_runtime_revisions) and the whole way again. It never
// blocks: the engine steps every candidate in flight in turn.
#pragma once

#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>

#include "agents/roles.h"
#include "archive/archive.h"
#include "engine/events.h"
#include "exec/executor.h"
#include "exec/worker_pool.h"
#include "engine/scoring.h"
#include "jit/toolchain.h"

namespace asiarch::host {

struct CandidateSpec {
  int64_t id = 0;
  std::string name;
  std::string source;            // as proposed
  WorkerJob job;                 // the evaluate job (name, preset, tasks, references, ...)
  int max_repair_attempts = 4;   // compiles per source (1: no build repair)
  int max_runtime_revisions = 1; // Engineer revisions after runtime failures (0: none)
  std::string stage_preset;      // set for a later-stage evaluation: tags its events
};

struct CandidateDeps {
  WorkerPool& pool;              // compile workers
  Executor& executor;            // evaluate jobs
  agents::Engineer& engineer;
  EventLog& events;
  const jit::Toolchain& toolchain;  // object cache keys and the shared object cache
  // Ask the Engineer on a thread of its own and take the answer on a later step (an LLM Engineer:
  // the loop and the other candidates go on while a model thinks); else ask and wait.
  bool engineer_beside = false;
};

class CandidateRun {
 public:
  CandidateRun(CandidateSpec spec, CandidateDeps deps) : spec_(std::move(spec)), deps_(deps), source_(spec_.source) {}
  ~CandidateRun();
  CandidateRun(const CandidateRun&) = delete;
  CandidateRun& operator=(const CandidateRun&) = delete;

  // Advances as far as it can without waiting; true once the outcome is ready.
  bool step();
  // Kills whatever worker or job is running (the experiment stays as it was).
  void cancel();

  const CandidateSpec& spec() const { return spec_; }
  // Once step() returned true: compile and runtime attempts, gates, runs,
  // status and fail reason (score, analysis and timing are the engine's).
  archive::Outcome& outcome() { return outcome_; }
  // The last evaluation, when one ran.
  const std::optional<WorkerOutcome>& evaluation() const { return evaluation_; }
  const std::string& built_source() const { return source_; }
  const std::string& log() const { return log_; }  // the workers' output, bounded
  double compile_seconds() const { return compile_seconds_; }
  double lab_seconds() const { return lab_seconds_; }
  double gates_seconds() const { return gates_seconds_; }  // of lab_seconds()
  double worker_seconds() const { return worker_seconds_; }

 private:
  void start_compile();
  bool already_built();
  void take_pending(archive::CompileAttempt& a);
  void compiled(const WorkerOutcome& o, bool alive);
  // Asks the Engineer to revise a source that did not build: answered (the candidate moved on), still
  // being asked (beside the loop), or unavailable (an LLM pause: asked again later).
  enum class Asked { answered, asking, unavailable };
  Asked revise_build(const agents::BuildFailure& f);
  // The Engineer's answer to `ask`: at once, or beside the loop (none until it has come).
  std::optional<agents::Revision> ask_engineer(std::function<agents::Revision()> ask);
  void evaluated(WorkerOutcome o);
  // Asks the Engineer to revise after a failed run, or records the outcome; keeps the run waiting
  // while the Engineer cannot be asked.
  void settle(WorkerOutcome o, const std::optional<RuntimeProblem>& problem);
  void fail(const std::string& reason);
  void emit(const std::string& kind, nlohmann::json data);
  void keep_log(const std::string& title, const WorkerOutcome& o);

  CandidateSpec spec_;
  CandidateDeps deps_;
  std::string source_;  // the source being compiled or run now
  enum class Phase { compile, evaluate, done } phase_ = Phase::compile;
  std::optional<RunningJob> compile_job_;
  std::optional<agents::BuildFailure> waiting_;  // a failed build waiting for the Engineer to be available
  std::optional<std::pair<WorkerOutcome, RuntimeProblem>> waiting_run_;  // a failed run, likewise
  std::optional<RunningJob> warm_;  // the worker that built the source, waiting for its evaluation
  bool eval_reused_ = false;        // the evaluation runs in that worker
  std::optional<Executor::JobId> eval_job_;
  int attempts_ = 0;           // compiles so far, numbered across revisions
  int attempts_this_source_ = 0;
  int revisions_ = 0;
  // How the source now being compiled was made from the previous one.
  std::string pending_method_, pending_diff_;
  std::vector<std::string> pending_answered_;
  archive::Outcome outcome_;
  std::optional<WorkerOutcome> evaluation_;
  std::string log_;
  double compile_seconds_ = 0, lab_seconds_ = 0, gates_seconds_ = 0, worker_seconds_ = 0;
  bool unavailable_noted_ = false;  // repair_waiting said once per wait
  // Last: destroyed first, waiting for a question in progress while what it reaches still exists.
  std::future<agents::Revision> asking_;
};

}  // namespace asiarch::host
