#include "worker/worker_job.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <thread>

#include "jit/compiler.h"
#include "jit/toolchain.h"
#include "lab/gates.h"
#include "util/files.h"
#include "worker/lab_setup.h"
#include "worker/trusted_scoring.h"

// The host's side of a job: the worker's process, what the host hands it, and what it makes of
// what comes back (worker/protocol.h).
namespace asiarch::host {
namespace {

// Bytes a worker's words may take in the host (what is kept of them, after bounding each field):
constexpr std::size_t kMaxProgressFrame = 64u << 10;    // one message that is not a result
constexpr std::size_t kMaxInboxBytes = 1u << 20;        // progress kept and not yet read
constexpr std::size_t kMaxJobProgressBytes = 4u << 20;  // progress kept for one job (its events)
constexpr std::size_t kMaxClockMarks = 1000;  // the complexity gate makes 2 x 5 x (lengths + 1) at most
constexpr int kChannelFd = 3;                 // where the host puts the worker's end of the channel
constexpr double kSetupSeconds = 120;         // compiling, loading, the corpus: beyond the stages' limits

std::string tail_of(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Every string a worker sent, safe to show (gate reasons, errors, diagnostics quote its text). Its
// depth is bounded by parse_message.
nlohmann::json escape_strings(const nlohmann::json& j) {
  if (j.is_string()) return escape_control(j.get<std::string>());
  if (!j.is_structured()) return j;
  nlohmann::json out = j;
  for (auto it = out.begin(); it != out.end(); ++it) *it = escape_strings(*it);
  return out;
}

// What a candidate's worker may read of the shared cache: all of it but the corpus, whose held-out
// part is the byte-level test (the host sends the training rows). A prepare job writes it all.
std::vector<std::filesystem::path> cache_reads(const std::filesystem::path& cache_dir) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(cache_dir, ec))
    if (e.path().filename() != "corpus") out.push_back(e.path());
  return out;
}

Result<RunningJob> spawn_in(const std::filesystem::path& scratch, const WorkerSettings& settings,
                            const std::vector<std::filesystem::path>& writable,
                            const std::vector<std::string>& readable) {
  std::error_code ec;
  std::filesystem::create_directories(scratch, ec);
  if (ec) return make_error(scratch.string() + ": cannot create the worker's scratch directory: " + ec.message());
  const auto abs = std::filesystem::absolute(scratch);
  WorkerSpec spec;
  spec.executable = settings.executable.empty() ? self_executable() : settings.executable;
  spec.args = {"worker", "--channel", std::to_string(kChannelFd)};
  if (!settings.cache_dir.empty()) spec.args.insert(spec.args.end(), {"--prewarm", settings.cache_dir});
  spec.scratch = abs;
  spec.writable = writable;
  spec.readable = settings.readable;
  if (!settings.cache_dir.empty())
    for (const auto& p : cache_reads(settings.cache_dir)) spec.readable.push_back(p);
  for (const auto& r : readable)
    if (!r.empty()) spec.readable.emplace_back(r);
  for (const auto& p : jit::toolchain_read_paths()) spec.readable.emplace_back(p);
  spec.limits = settings.limits;
  spec.isolate = settings.isolate;
  spec.gpu = settings.gpu;
  RunningJob running;
  running.scratch = abs;
  running.stage_limits = settings.stage_limits;
  running.task_cache = settings.task_cache;
  auto p = spawn_worker(spec);
  if (!p) return p.error();
  running.process = std::move(*p);
  running.stage_started = std::chrono::steady_clock::now();
  return running;
}

// A task's training limit from the reference's time on it.
double training_limit(const StageLimits& l, double reference_seconds) {
  return l.training_factor * reference_seconds + l.training_slack_seconds;
}

// The limit of the stage the worker is in, from the host's plan: the gates' limit, or the training
// limit of the planned task from the reference's time on it.
double limit_for(const RunningJob& job) {
  const StageLimits& l = job.stage_limits;
  if (job.stage == Stage::gates) return l.gates_seconds;
  if (job.stage == Stage::training) {
    auto it = job.reference_seconds.find(job.stage_task);
    if (it != job.reference_seconds.end() && it->second > 0) return training_limit(l, it->second);
  }
  return 0;
}

void remember_references(RunningJob& worker, const WorkerJob& job) {
  worker.reference_seconds.clear();
  for (const auto& [task, r] : job.references) worker.reference_seconds[task] = r.seconds;
}

// Whether `source` is, byte for byte, the shipped quadratic reference (softmax attention).
bool is_quadratic_reference(const std::string& source, const std::string& baselines_dir) {
  const std::string dir = baselines_dir.empty() ? default_baselines_dir() : baselines_dir;
  auto shipped = read_file(std::filesystem::path(dir) / "softmax_attention.cpp");
  return shipped && *shipped == source;
}

Status send_job(RunningJob& worker, HostMessage kind, WorkerJob job, const std::string* source) {
  if (source) worker.quadratic_reference = is_quadratic_reference(*source, job.baselines_dir);
  job.quadratic_reference = worker.quadratic_reference;  // a next job runs the source already given
  worker.replica = job.replica;
  worker.kind = job.kind;
  worker.awaiting_next = false;
  nlohmann::json m = message(kind, {{"job", job}});
  if (source) m["source"] = *source;
  std::vector<std::shared_ptr<const std::string>> blobs;
  if (job.kind == JobKind::evaluate) {
    const auto t0 = std::chrono::steady_clock::now();
    if (auto st = plan_tests(worker, job, m, blobs); !st) return make_error("the job's tasks: " + st.error().message);
    worker.trusted_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (auto st = worker.outbox.queue(FrameKind::json, m.dump()); !st) return make_error("the job: " + st.error().message);
  for (auto& b : blobs)
    if (auto st = worker.outbox.queue(FrameKind::blob, b); !st)
      return make_error("the job's tasks: " + st.error().message);
  if (auto st = worker.outbox.flush(worker.process.channel.get()); !st)
    return make_error("cannot hand the worker its job: " + st.error().message);
  remember_references(worker, job);
  worker.process.started = std::chrono::steady_clock::now();
  // The whole evaluation's limit, derived from the stages' when every task has a reference time.
  if (job.kind == JobKind::evaluate && !job.references.empty()) {
    const StageLimits& l = worker.stage_limits;
    double total = l.gates_seconds + kSetupSeconds;
    for (const auto& [task, r] : job.references)
      if (job.tasks.empty() || std::find(job.tasks.begin(), job.tasks.end(), task) != job.tasks.end())
        total += training_limit(l, r.seconds);
    worker.process.wall_seconds = std::min(worker.process.wall_seconds, total);
  }
  return Ok{};
}

void end_for(RunningJob& job, const std::string& why) {
  if (job.violation.empty()) job.violation = why;
  if (job.process.pid > 0) kill(-job.process.pid, SIGKILL);  // reaped by the next poll
}


// Whether the kernel runs process `pid` under a seccomp filter ("Seccomp: 2" in its status).
bool seccomp_filtered(pid_t pid) {
  auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  return status && status->find("\nSeccomp:\t2\n") != std::string::npos;
}

// Bounded text from a worker: at most `n` bytes, control characters escaped.
std::string text_of(const nlohmann::json& v, std::size_t n) {
  return escape_control(v.get<std::string>().substr(0, n));
}

// The task a progress message names, which must be one the host planned for this job.
std::string planned_task(const RunningJob& job, const nlohmann::json& m) {
  const auto task = m.at("task").get<std::string>();
  if (!job.tests.count(task)) throw std::runtime_error("a task the host did not plan");
  return task;
}

// What a worker's progress message becomes: only the fields of its kind, bounded; the figures the
// host decides (a task's metric, the complexity gate) are the host's.
Progress progress_of(RunningJob& job, WorkerMessage kind, const nlohmann::json& m) {
  switch (kind) {
    case WorkerMessage::compiled:
      return {ProgressKind::compiled,
              {{"ok", m.at("ok").get<bool>()}, {"cache_hit", m.at("cache_hit").get<bool>()},
               {"seconds", m.at("seconds").get<double>()}, {"diagnostics", m.at("diagnostics").get<int64_t>()}}};
    case WorkerMessage::gates_started:
      return {ProgressKind::gates_started, nlohmann::json::object()};
    case WorkerMessage::gate: {
      lab::GateResult g;
      g.name = m.at("name").get<std::string>();
      const auto names = lab::gate_names();
      if (std::find(names.begin(), names.end(), g.name) == names.end()) throw std::runtime_error("an unknown gate");
      g.passed = m.at("passed").get<bool>();
      g.reason = text_of(m.at("reason"), kMaxReasonBytes);
      judge_complexity(job, g);
      return {ProgressKind::gate, {{"name", g.name}, {"passed", g.passed}, {"reason", g.reason}}};
    }
    case WorkerMessage::task_started:
      return {ProgressKind::task_started, {{"task", planned_task(job, m)}, {"steps", m.at("steps").get<int64_t>()}}};
    case WorkerMessage::training_progress: {
      const double loss = m.at("loss").is_null() ? std::nan("") : m.at("loss").get<double>();
      return {ProgressKind::training_progress,
              {{"task", planned_task(job, m)}, {"step", m.at("step").get<int64_t>()},
               {"steps", m.at("steps").get<int64_t>()},
               {"loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(nullptr)}}};
    }
    case WorkerMessage::task_finished: {
      // What the host scored, not what the worker says.
      lab::TaskResult r;
      r.task = planned_task(job, m);
      r.stop_reason = text_of(m.at("stop_reason"), kMaxReasonBytes);
      score_task(job, r);
      return {ProgressKind::task_finished,
              {{"task", r.task}, {"metric_name", r.metric_name},
               {"metric", std::isfinite(r.metric) ? nlohmann::json(r.metric) : nlohmann::json(nullptr)},
               {"steps", m.at("steps").get<int64_t>()}, {"stop_reason", r.stop_reason}}};
    }
    default:
      break;
  }
  throw std::runtime_error("not a progress message");
}

// One message from the worker, by its kind: a stage, a result the host checks, an announced
// binary frame, a timing mark, or progress. Throws on anything the protocol does not allow.
void take_message(RunningJob& job, WorkerMessage kind, const nlohmann::json& m) {
  if (job.expect_blob) throw std::runtime_error("a message where its binary frame was due");
  if (!may_send(job.kind, kind))
    throw std::runtime_error(std::string("not a message of a ") + name_of(job.kind) + " job");
  switch (kind) {
    case WorkerMessage::stage: {
      auto stage = stage_named(m.at("stage").get<std::string>());
      if (!stage) throw std::runtime_error("an unknown stage");
      std::string task;
      if (*stage == Stage::training) {
        task = planned_task(job, m);
      }
      // Compiling comes after the worker confined itself: the kernel says whether it did.
      if (*stage == Stage::compiling && job.kind != JobKind::prepare) {
        job.process.confinement.seccomp = seccomp_filtered(job.process.pid);
        if (!job.process.confinement.seccomp) throw std::runtime_error("compiling without its seccomp filter");
      }
      job.stage = *stage;
      job.stage_task = std::move(task);
      job.stage_started = std::chrono::steady_clock::now();
      job.stage_limit = limit_for(job);
      return;
    }
    case WorkerMessage::build:
    case WorkerMessage::result: {
      auto r = escape_strings(m.at("result")).get<WorkerResult>();
      if (kind == WorkerMessage::result && r.report) {
        auto& gates = r.report->gates;
        // A replica runs no gates; any other job owes every one.
        if (!job.replica)
          for (const auto& name : lab::gate_names())
            if (std::none_of(gates.begin(), gates.end(), [&](const lab::GateResult& g) { return g.name == name; }))
              gates.push_back({name, false, "the worker reported no result for this gate", nlohmann::json::object()});
        for (auto& g : gates) judge_complexity(job, g);
        r.report->gates_passed = lab::all_passed(r.report->gates);
        score_report(job, r);
      }
      (kind == WorkerMessage::build ? job.build : job.result) = std::move(r);
      return;
    }
    case WorkerMessage::result_written:
      job.awaiting_next = true;
      return;
    case WorkerMessage::object:
      job.object_key = m.at("key").get<std::string>();
      job.object_meta = m.at("meta").dump();
      job.expect_blob = WorkerMessage::object;
      return;
    case WorkerMessage::clock: {
      // The worker waits for this reply: between two marks it ran one timed run, and the CPU
      // time it took is the kernel's count, not the worker's word.
      // Its label must be the host's plan's next one: a run cannot be relabelled as another length.
      const auto label = m.at("label").get<std::string>();
      if (job.gate_lengths.empty()) throw std::runtime_error("a timing mark where no complexity gate is planned");
      const std::size_t cycle = job.gate_lengths.size() + 1;
      const std::string expected =
          job.next_mark % cycle == 0 ? "start" : std::to_string(job.gate_lengths[job.next_mark % cycle - 1]);
      if (label != expected)
        throw std::runtime_error("a timing mark out of the host's plan (expected \"" + expected + "\", got \"" +
                                 escape_control(label.substr(0, 16), false) + "\")");
      ++job.next_mark;
      if (job.clock_marks.size() >= kMaxClockMarks) throw std::runtime_error("more timing marks than the gate makes");
      const auto cpu = worker_cpu_seconds(job.process, &job.clock_resolution);
      job.clock_marks.push_back(
          {expected, cpu.value_or(std::nan("")),
           std::chrono::duration<double>(std::chrono::steady_clock::now() - job.process.started).count()});
      if (auto st = job.outbox.queue(FrameKind::json, message(HostMessage::clock_reply).dump()); st)
        if (auto fl = job.outbox.flush(job.process.channel.get()); !fl) end_for(job, fl.error().message);
      return;
    }
    case WorkerMessage::test_logits:
      job.logits_task = planned_task(job, m);
      job.logits_first = m.at("first").get<int64_t>();
      job.logits_shape = m.at("shape").get<std::vector<int64_t>>();
      job.expect_blob = WorkerMessage::test_logits;
      return;
    default: {
      Progress p = progress_of(job, kind, m);
      // Beyond a bound the worker is not slowed down or trimmed: it has broken the protocol.
      const std::size_t bytes = p.data.dump().size() + 32;
      if (job.progress_bytes + bytes > kMaxJobProgressBytes)
        throw std::runtime_error("more progress than a job may send (" + std::to_string(kMaxJobProgressBytes >> 20) +
                                 " MiB)");
      if (job.inbox_bytes + bytes > kMaxInboxBytes)
        throw std::runtime_error("more unread progress than the host holds (" + std::to_string(kMaxInboxBytes >> 20) +
                                 " MiB)");
      job.progress_bytes += bytes;
      job.inbox_bytes += bytes;
      job.inbox.push_back(std::move(p));
      return;
    }
  }
}

// Reads what the worker sent since the last call. Never blocks.
void pump(RunningJob& job) {
  if (job.process.channel && !job.outbox.empty())
    if (auto st = job.outbox.flush(job.process.channel.get()); !st) end_for(job, st.error().message);
  if (job.process.log && !job.log.pump(job.process.log.get())) job.process.log.reset();
  if (!job.process.channel) return;
  std::vector<Frame> frames;
  bool eof = false;
  if (auto st = job.frames.pump(job.process.channel.get(), frames, eof); !st) end_for(job, st.error().message);
  for (auto& f : frames) {
    if (!job.violation.empty()) break;  // nothing after a violation is read
    if (f.kind == FrameKind::blob) {
      const auto what = job.expect_blob;
      job.expect_blob.reset();
      if (what == WorkerMessage::object) {
        job.object = std::move(f.payload);
      } else if (what == WorkerMessage::test_logits) {
        if (auto st = take_logits(job, std::move(f.payload)); !st)
          end_for(job, "the worker broke the protocol: " + st.error().message);
      } else {
        end_for(job, "the worker broke the protocol: an unannounced binary frame");
      }
      continue;
    }
    auto m = parse_message(f.payload);
    if (!m) {
      end_for(job, "the worker broke the protocol: " + m.error().message);
      break;
    }
    auto kind = worker_message_of(*m);
    if (!kind) {
      end_for(job, "the worker broke the protocol: " + kind.error().message);
      break;
    }
    // Only a result (or a compile report) may be large.
    if (f.payload.size() > kMaxProgressFrame && *kind != WorkerMessage::result && *kind != WorkerMessage::build) {
      end_for(job, std::string("the worker broke the protocol: a \"") + name_of(*kind) + "\" message of " +
                       std::to_string(f.payload.size()) + " bytes (at most " + std::to_string(kMaxProgressFrame) + ")");
      break;
    }
    try {
      take_message(job, *kind, *m);
    } catch (const std::exception& e) {
      end_for(job, std::string("the worker broke the protocol: a \"") + name_of(*kind) + "\" message: " +
                       escape_control(std::string(e.what()).substr(0, kMaxNameBytes)));
      break;
    }
  }
  if (eof) job.process.channel.reset();
  if (job.stage_limit > 0 && job.process.pid > 0 &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - job.stage_started).count() > job.stage_limit) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f", job.stage_limit);
    end_for(job, "stage \"" + stage_label(job.stage, job.stage_task) + "\" ran over its time limit of " + buf + " s");
  }
}

// After the worker ended: everything it sent before it did (its ends are closed, so each
// read ends at end of file; never blocks).
void drain(RunningJob& job) {
  for (int i = 0; i < 64 && (job.process.channel || job.process.log); ++i) pump(job);
  job.process.channel.reset();
  job.process.log.reset();
}

}  // namespace

Result<RunningJob> start_idle_worker(const std::filesystem::path& scratch, const WorkerSettings& settings) {
  return spawn_in(scratch, settings, {}, {});
}

Status assign_job(RunningJob& worker, const WorkerJob& job, const std::string& source) {
  return send_job(worker, HostMessage::job, job, &source);
}

Result<RunningJob> start_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                             const WorkerSettings& settings) {
  std::vector<std::filesystem::path> writable;
  std::vector<std::string> readable = {job.baselines_dir, job.presets_file};
  if (job.kind == JobKind::prepare) {
    writable.push_back(job.cache_dir);
  } else if (!job.cache_dir.empty()) {
    for (const auto& p : cache_reads(job.cache_dir)) readable.push_back(p.string());
  }
  auto w = spawn_in(scratch, settings, writable, readable);
  if (!w) return w.error();
  if (auto st = assign_job(*w, job, source); !st) {
    kill_worker(w->process);
    return st.error();
  }
  return w;
}

Status assign_next_job(RunningJob& worker, const WorkerJob& job) {
  worker.result.reset();  // the next result, or none
  return send_job(worker, HostMessage::next_job, job, nullptr);
}

std::vector<Progress> read_messages(RunningJob& job) {
  pump(job);
  std::vector<Progress> out = std::move(job.inbox);
  job.inbox.clear();
  job.inbox_bytes = 0;
  return out;
}

namespace {

WorkerOutcome collect(RunningJob& job, const WorkerExit& exit) {
  WorkerOutcome o;
  o.exit = exit;
  o.confinement = job.process.confinement;
  o.scratch = job.scratch;
  o.log = escape_control(job.log.text());
  o.log_tail = tail_of(o.log, 2000);
  o.stage = stage_label(job.stage, job.stage_task);
  o.trusted_seconds = job.trusted_seconds;
  if (!job.expect_blob) {
    o.object_key = job.object_key;
    o.object_meta = job.object_meta;
    o.object = job.object;
  }
  if (job.result) {
    o.result = *job.result;
    if (exit.ok() && job.violation.empty()) return o;
    o.result.report.reset();  // a worker that failed after sending its result: the result is not trusted whole
  } else if (job.build) {
    o.result = *job.build;
  }
  o.result.error = escape_control(o.result.error);
  o.failure = "worker " + (job.violation.empty() ? exit.cause() : job.violation) + " during " + o.stage;
  if (job.violation.empty() && exit.exited && exit.code != 0) {
    // An orderly failure: the worker said why on its last line.
    auto last = o.log_tail;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    if (!last.empty()) o.failure += ": " + last;
  }
  return o;
}

}  // namespace

WorkerOutcome peek_result(RunningJob& job) {
  pump(job);
  WorkerExit running;
  running.exited = true;  // alive, and done with its job: as an orderly end, for collect()
  running.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - job.process.started).count();
  return collect(job, running);
}

std::optional<WorkerOutcome> poll_job(RunningJob& job) {
  pump(job);
  auto e = poll_worker(job.process);
  if (!e) return std::nullopt;
  drain(job);
  return collect(job, *e);
}

void wait_for_any(const std::vector<const RunningJob*>& jobs, int timeout_ms) {
  std::vector<pollfd> fds;
  for (const RunningJob* j : jobs) {
    if (j->process.channel)
      fds.push_back({j->process.channel.get(), static_cast<short>(POLLIN | (j->outbox.empty() ? 0 : POLLOUT)), 0});
    if (j->process.log) fds.push_back({j->process.log.get(), POLLIN, 0});
  }
  if (fds.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    return;
  }
  (void)::poll(fds.data(), fds.size(), timeout_ms);
}

WorkerOutcome finish_job(RunningJob& job) {
  for (;;) {
    if (auto o = poll_job(job)) return std::move(*o);
    wait_for_any({&job}, 10);
  }
}

WorkerOutcome cancel_job(RunningJob& job) {
  auto e = kill_worker(job.process);
  drain(job);
  return collect(job, e);
}

Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings, const std::function<void(const Progress&)>& progress) {
  auto running = start_job(job, source, scratch, settings);
  if (!running) return running.error();
  for (;;) {
    auto o = poll_job(*running);
    // Drained whether or not anyone shows it (eval --json): unread progress counts against the worker.
    for (const auto& m : read_messages(*running))
      if (progress) progress(m);
    if (o) return std::move(*o);
    wait_for_any({&*running}, 20);
  }
}

Result<WorkerResult> prepare_cache(WorkerJob job, const std::filesystem::path& scratch, const WorkerSettings& settings) {
  job.kind = JobKind::prepare;
  std::error_code ec;
  std::filesystem::create_directories(job.cache_dir, ec);
  if (ec) return make_error(job.cache_dir + ": cannot create the cache directory: " + ec.message());
  auto out = run_job(job, "", scratch, settings);
  if (!out) return out.error();
  if (!out->failure.empty()) return make_error("preparing the cache: " + out->failure + "\n" + out->log_tail);
  if (!out->result.error.empty()) return make_error(out->result.error);
  return std::move(out->result);
}

Status file_compiled_object(const WorkerOutcome& outcome, const std::filesystem::path& shared_objects,
                            const std::string& expected_key) {
  const auto& c = outcome.result.compile;
  if (!c || !c->ok || c->cache_hit) return Ok{};
  if (outcome.object.empty()) return make_error("the compile worker sent no object");
  if (outcome.object_key != expected_key)
    return make_error("the compile worker sent an object under another key (" + escape_control(outcome.object_key.substr(0, 80)) +
                      ", expected " + expected_key + ")");
  return jit::store_object(shared_objects, expected_key, outcome.object_meta, outcome.object);
}

}  // namespace asiarch::host
