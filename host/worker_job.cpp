#include "host/worker_job.h"

#include <asiarch/plugin.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <unistd.h>
#include <iostream>
#include <thread>

#include "host/jit_context.h"
#include "host/lab_setup.h"
#include "jit/mixer.h"
#include "lab/corpus.h"
#include "util/files.h"
#include "lab/threads.h"

namespace asiarch::host {

namespace {

constexpr std::size_t kMaxMessages = 20000;  // progress messages kept per job; more are dropped
constexpr int kChannelFd = 3;                 // where the host puts the worker's end of the channel
constexpr int kSendTimeoutMs = 5000;          // a worker that does not read its job is broken
constexpr double kSetupSeconds = 120;         // compiling, loading, the corpus: beyond the stages' limits

void to_json(nlohmann::json& j, const lab::Reference& r) {
  j = {{"curve", r.curve}, {"seconds", r.seconds}};
}
void from_json(const nlohmann::json& j, lab::Reference& r) {
  r.curve = j.at("curve").get<lab::Curve>();
  r.seconds = j.at("seconds").get<double>();
}

nlohmann::json compile_json(const CompileReport& c) {
  return {{"ok", c.ok}, {"diagnostics", c.diagnostics}, {"seconds", c.seconds}, {"cache_hit", c.cache_hit},
          {"cache_key", c.cache_key}};
}

CompileReport compile_from(const nlohmann::json& j) {
  CompileReport c;
  c.ok = j.at("ok").get<bool>();
  c.diagnostics = j.at("diagnostics").get<jit::Diagnostics>();
  c.seconds = j.at("seconds").get<double>();
  c.cache_hit = j.at("cache_hit").get<bool>();
  c.cache_key = j.at("cache_key").get<std::string>();
  return c;
}

// The worker's end of the channel: every message to the host goes here.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  void send(const nlohmann::json& m) {
    if (auto st = write_frame(fd_, FrameKind::json, m.dump()); !st)
      std::cerr << "asiarch worker: " << st.error().message << "\n";
  }
  void send_blob(const std::string& bytes) {
    if (auto st = write_frame(fd_, FrameKind::blob, bytes); !st)
      std::cerr << "asiarch worker: " << st.error().message << "\n";
  }
  void stage(const std::string& s) { send({{"kind", "stage"}, {"stage", s}}); }
  void result(const char* kind, const WorkerResult& r) { send({{"kind", kind}, {"result", r}}); }
  Result<nlohmann::json> receive(const char* expected) {
    auto f = read_frame(fd_);
    if (!f) return f.error();
    try {
      auto m = nlohmann::json::parse(f->payload);
      if (m.value("kind", "") != expected) return make_error(std::string("expected a \"") + expected + "\" message");
      return m;
    } catch (const std::exception& e) {
      return make_error(e.what());
    }
  }

 private:
  int fd_;
};

std::string tail_of(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

void to_json(nlohmann::json& j, const WorkerJob& w) {
  nlohmann::json refs = nlohmann::json::object();
  for (const auto& [task, r] : w.references) to_json(refs[task], r);
  j = {{"kind", w.kind},
       {"experiment", w.experiment},
       {"name", w.name},
       {"preset", w.preset},
       {"presets_file", w.presets_file},
       {"tasks", w.tasks},
       {"seed", w.seed},
       {"mixer_options", w.mixer_options},
       {"reference_parameters", w.reference_parameters},
       {"baselines_dir", w.baselines_dir},
       {"references", refs},
       {"cache_dir", w.cache_dir},
       {"keep_alive", w.keep_alive},
       {"quadratic_reference", w.quadratic_reference}};
}

void from_json(const nlohmann::json& j, WorkerJob& w) {
  w.kind = j.at("kind").get<std::string>();
  w.experiment = j.at("experiment").get<int64_t>();
  w.name = j.at("name").get<std::string>();
  w.preset = j.at("preset").get<std::string>();
  w.presets_file = j.at("presets_file").get<std::string>();
  w.tasks = j.at("tasks").get<std::vector<std::string>>();
  w.seed = j.at("seed").get<std::uint64_t>();
  w.mixer_options = j.at("mixer_options").get<std::string>();
  w.reference_parameters = j.at("reference_parameters").get<int64_t>();
  w.baselines_dir = j.at("baselines_dir").get<std::string>();
  for (const auto& [task, r] : j.at("references").items()) from_json(r, w.references[task]);
  w.cache_dir = j.at("cache_dir").get<std::string>();
  w.keep_alive = j.value("keep_alive", false);
  w.quadratic_reference = j.value("quadratic_reference", false);
}

void to_json(nlohmann::json& j, const WorkerResult& r) {
  j = {{"error", r.error}, {"reference_parameters", r.reference_parameters}};
  if (r.compile) j["compile"] = compile_json(*r.compile);
  if (r.report) j["report"] = *r.report;
}

void from_json(const nlohmann::json& j, WorkerResult& r) {
  if (j.contains("compile")) r.compile = compile_from(j.at("compile"));
  r.error = j.at("error").get<std::string>();
  r.reference_parameters = j.at("reference_parameters").get<int64_t>();
  if (j.contains("report")) r.report = j.at("report").get<lab::EvalReport>();
}

// ---- host side -------------------------------------------------------------

namespace {

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
  if (!settings.cache_dir.empty()) spec.readable.emplace_back(settings.cache_dir);
  for (const auto& r : readable)
    if (!r.empty()) spec.readable.emplace_back(r);
  spec.limits = settings.limits;
  spec.isolate = settings.isolate;
  RunningJob running;
  running.scratch = abs;
  running.stage_limits = settings.stage_limits;
  auto p = spawn_worker(spec);
  if (!p) return p.error();
  running.process = std::move(*p);
  running.stage_started = std::chrono::steady_clock::now();
  return running;
}

// Every string a worker sent, safe to show (gate reasons, errors, diagnostics quote its text).
nlohmann::json escape_strings(const nlohmann::json& j) {
  if (j.is_string()) return escape_control(j.get<std::string>());
  if (!j.is_structured()) return j;
  nlohmann::json out = j;
  for (auto it = out.begin(); it != out.end(); ++it) *it = escape_strings(*it);
  return out;
}

// A task's training limit from the reference's time on it.
double training_limit(const StageLimits& l, double reference_seconds) {
  return l.training_factor * reference_seconds + l.training_slack_seconds;
}

// The limit of the stage the worker says it is in.
double limit_for(const RunningJob& job) {
  const StageLimits& l = job.stage_limits;
  if (job.stage == "gates") return l.gates_seconds;
  const std::string prefix = "training ";
  if (job.stage.rfind(prefix, 0) == 0) {
    auto it = job.reference_seconds.find(job.stage.substr(prefix.size()));
    if (it != job.reference_seconds.end() && it->second > 0)
      return training_limit(l, it->second);
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

Status send_job(RunningJob& worker, const char* kind, WorkerJob job, const std::string* source) {
  if (source) worker.quadratic_reference = is_quadratic_reference(*source, job.baselines_dir);
  job.quadratic_reference = worker.quadratic_reference;  // a next job runs the source already given
  nlohmann::json m = {{"kind", kind}, {"job", job}};
  if (source) m["source"] = *source;
  if (auto st = write_frame(worker.process.channel.get(), FrameKind::json, m.dump(), kSendTimeoutMs); !st)
    return make_error("cannot hand the worker its job: " + st.error().message);
  remember_references(worker, job);
  worker.process.started = std::chrono::steady_clock::now();
  // The whole evaluation's limit, derived from the stages' when every task has a reference time.
  if (job.kind == "evaluate" && !job.references.empty()) {
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

// Reads what the worker sent since the last call. Never blocks.
void pump(RunningJob& job) {
  if (job.process.log && !job.log.pump(job.process.log.get())) job.process.log.reset();
  if (!job.process.channel) return;
  std::vector<Frame> frames;
  bool eof = false;
  if (auto st = job.frames.pump(job.process.channel.get(), frames, eof); !st) end_for(job, st.error().message);
  for (auto& f : frames) {
    if (f.kind == FrameKind::blob) {
      if (!job.expect_object) {
        end_for(job, "the worker broke the protocol: an unannounced binary frame");
        break;
      }
      job.object = std::move(f.payload);
      job.expect_object = false;
      continue;
    }
    nlohmann::json m;
    try {
      m = nlohmann::json::parse(f.payload);
    } catch (const std::exception&) {
      end_for(job, "the worker broke the protocol: a message that is not JSON");
      break;
    }
    if (!m.is_object() || !m.contains("kind") || !m["kind"].is_string()) {
      end_for(job, "the worker broke the protocol: a message without a kind");
      break;
    }
    const std::string kind = m["kind"].get<std::string>();
    try {
      if (kind == "build" || kind == "result") {
        auto r = escape_strings(m.at("result")).get<WorkerResult>();
        (kind == "build" ? job.build : job.result) = std::move(r);
        continue;
      }
      if (kind == "object") {
        job.object_key = m.at("key").get<std::string>();
        job.object_meta = m.at("meta").dump();
        job.expect_object = true;
        continue;
      }
      if (kind == "stage") {
        job.stage = escape_control(m.at("stage").get<std::string>().substr(0, 200));
        job.stage_started = std::chrono::steady_clock::now();
        job.stage_limit = limit_for(job);
      }
    } catch (const std::exception& e) {
      end_for(job, std::string("the worker broke the protocol: a \"") + escape_control(kind.substr(0, 40)) +
                       "\" message: " + e.what());
      break;
    }
    if (++job.messages <= kMaxMessages) job.inbox.push_back(std::move(m));
  }
  if (eof) job.process.channel.reset();
  if (job.stage_limit > 0 && job.process.pid > 0 &&
      std::chrono::duration<double>(std::chrono::steady_clock::now() - job.stage_started).count() > job.stage_limit) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f", job.stage_limit);
    end_for(job, "stage \"" + job.stage + "\" ran over its time limit of " + buf + " s");
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
  return send_job(worker, "job", job, &source);
}

Result<RunningJob> start_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                             const WorkerSettings& settings) {
  std::vector<std::filesystem::path> writable;
  if (job.kind == "prepare") writable.push_back(job.cache_dir);
  auto w = spawn_in(scratch, settings, writable, {job.cache_dir, job.baselines_dir, job.presets_file});
  if (!w) return w.error();
  if (auto st = assign_job(*w, job, source); !st) {
    kill_worker(w->process);
    return st.error();
  }
  return w;
}

Status assign_next_job(RunningJob& worker, const WorkerJob& job) {
  worker.result.reset();  // the next result, or none
  return send_job(worker, "next_job", job, nullptr);
}

std::vector<nlohmann::json> read_messages(RunningJob& job) {
  pump(job);
  std::vector<nlohmann::json> out = std::move(job.inbox);
  job.inbox.clear();
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
  o.stage = job.stage;
  if (!job.expect_object) {
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

WorkerOutcome finish_job(RunningJob& job) {
  for (;;) {
    if (auto o = poll_job(job)) return std::move(*o);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

WorkerOutcome cancel_job(RunningJob& job) {
  auto e = kill_worker(job.process);
  drain(job);
  return collect(job, e);
}

Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings, const std::function<void(const nlohmann::json&)>& progress) {
  auto running = start_job(job, source, scratch, settings);
  if (!running) return running.error();
  for (;;) {
    auto o = poll_job(*running);
    if (progress)
      for (const auto& m : read_messages(*running)) progress(m);
    if (o) return std::move(*o);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<WorkerResult> prepare_cache(WorkerJob job, const std::filesystem::path& scratch, const WorkerSettings& settings) {
  job.kind = "prepare";
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

// ---- worker side -----------------------------------------------------------

namespace {

// The byte-LM corpus when the job's tasks include byte_lm, else empty; an
// unknown task is an error listing the valid ones.
Result<std::string> corpus_for(const lab::Preset& preset, const WorkerJob& job) {
  auto tasks = lab::select_tasks(preset, job.tasks);
  if (!tasks) return tasks.error();
  for (const auto& [name, settings] : *tasks)
    if (name == "byte_lm") return lab::load_corpus(job.cache_dir);
  return std::string();
}

int prepare(Channel& ch, const WorkerJob& job, const lab::Preset& preset) {
  WorkerResult r;
  ch.stage("building the precompiled header");
  auto jit = make_jit_context(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }
  if (auto st = jit->compiler->ensure_pch(); !st) {
    std::cerr << "asiarch worker: " << st.error().message << "\n";
    return 3;
  }
  ch.stage("extracting the corpus");
  if (auto corpus = corpus_for(preset, job); !corpus) {
    r.error = corpus.error().message;
    ch.result("result", r);
    return 0;
  }
  ch.stage("counting the DeltaNet baseline's parameters");
  r.reference_parameters = delta_net_parameters(*jit, preset, job.baselines_dir);
  ch.result("result", r);
  return 0;
}

Result<JitContext> worker_jit(const std::string& cache_dir) {
  jit::ToolchainOptions topts;
  topts.cache_dir = cache_dir;
  topts.output_dir = std::filesystem::current_path() / "out";
  return make_jit_context(topts);
}

// As PID 1 of its namespace the worker ignores signals it sends itself without a handler, so
// abort() would end in a fault; say so and exit instead.
extern "C" void on_abort(int) {
  static const char msg[] = "asiarch worker: aborted (SIGABRT)\n";
  (void)!::write(2, msg, sizeof msg - 1);
  _exit(134);
}

// Once the candidate's code is loaded, nothing of it runs after the result is sent: no unloading,
// no static destructors (a plugin's could hang or fake a late crash).
[[noreturn]] void exit_now(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);
}

// The compiled object, from the worker's own output folder, for the host to file.
void send_object(Channel& ch, const jit::PluginBuild& built) {
  const auto dir = std::filesystem::current_path() / "out" / "objects";
  auto meta = read_file(dir / (built.cache_key + ".json"));
  auto bytes = read_file(dir / (built.cache_key + ".o"));
  if (!meta || !bytes) return;  // the host then says the object was not cached
  try {
    ch.send({{"kind", "object"}, {"key", built.cache_key}, {"meta", nlohmann::json::parse(*meta)}});
  } catch (const std::exception&) {
    return;
  }
  ch.send_blob(*bytes);
}

}  // namespace

int worker_main(int channel_fd, const std::string& prewarm_cache_dir) {
  if (::getpid() == 1) std::signal(SIGABRT, on_abort);
  Channel ch(channel_fd);
  // Set-up that needs no job happens while the host has none to give.
  std::optional<Result<JitContext>> prewarmed;
  if (!prewarm_cache_dir.empty()) {
    ch.stage("setting up the compiler");
    prewarmed = worker_jit(prewarm_cache_dir);
  }
  ch.stage("waiting for a job");
  auto first = ch.receive("job");
  if (!first) {
    std::cerr << "asiarch worker: no job: " << first.error().message << "\n";
    return 2;
  }
  ch.stage("reading the job");
  WorkerJob job;
  std::string source;
  try {
    job = first->at("job").get<WorkerJob>();
    source = first->at("source").get<std::string>();
  } catch (const std::exception& e) {
    std::cerr << "asiarch worker: the job: " << e.what() << "\n";
    return 2;
  }
  auto preset = load_preset_arg(job.preset, job.presets_file);
  if (!preset) {
    std::cerr << "asiarch worker: " << preset.error().message << "\n";
    return 2;
  }
  lab::set_compute_threads(preset->train.threads);
  if (job.kind == "prepare") return prepare(ch, job, *preset);
  if (job.kind != "compile" && job.kind != "evaluate") {
    std::cerr << "asiarch worker: unknown job kind \"" << job.kind << "\"\n";
    return 2;
  }

  // From here on this process handles untrusted code.
  if (auto st = confine_candidate_process(); !st) {
    std::cerr << "asiarch worker: cannot confine itself: " << st.error().message << "\n";
    return 3;
  }
  ch.stage("setting up the compiler");
  auto jit = prewarmed && *prewarmed && prewarm_cache_dir == job.cache_dir ? std::move(*prewarmed)
                                                                           : worker_jit(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }

  WorkerResult r;
  ch.stage("compiling");
  jit::PluginBuild built = jit->build_text(job.name, source);
  CompileReport c;
  c.ok = built.ok();
  c.diagnostics = built.diagnostics;
  c.seconds = built.compile_seconds + built.load_seconds;
  c.cache_hit = built.cache_hit;
  c.cache_key = built.cache_key;
  r.compile = std::move(c);
  ch.send({{"kind", "compiled"}, {"ok", r.compile->ok}, {"cache_hit", r.compile->cache_hit},
           {"seconds", r.compile->seconds}, {"diagnostics", r.compile->diagnostics.items.size()}});
  ch.result("build", r);
  if (r.built() && !r.compile->cache_hit) send_object(ch, built);
  if (!r.built() || job.kind == "compile") {
    ch.result("result", r);
    if (!r.built() || !job.keep_alive) exit_now(0);
    // Kept alive: the host may give this worker the candidate's evaluation, which then needs no
    // second process and no second load; or it ends the worker.
    ch.stage("waiting for its evaluation");
    ch.send({{"kind", "result_written"}});
    auto next = ch.receive("next_job");
    try {
      if (!next) throw std::runtime_error(next.error().message);
      job = next->at("job").get<WorkerJob>();
    } catch (const std::exception& e) {
      std::cerr << "asiarch worker: the next job: " << e.what() << "\n";
      exit_now(2);
    }
    if (job.kind != "evaluate") {
      std::cerr << "asiarch worker: the next job: expected an evaluate job, got \"" << job.kind << "\"\n";
      exit_now(2);
    }
    auto p2 = load_preset_arg(job.preset, job.presets_file);
    if (!p2) {
      std::cerr << "asiarch worker: " << p2.error().message << "\n";
      exit_now(2);
    }
    preset = std::move(p2);
  }

  lab::EvalOptions options;
  options.tasks = job.tasks;
  options.seed = job.seed;
  options.mixer_options = job.mixer_options;
  options.declared_quadratic = built.declares_quadratic && job.quadratic_reference;
  options.reference_parameters = job.reference_parameters
                                     ? job.reference_parameters
                                     : delta_net_parameters(*jit, *preset, job.baselines_dir);
  r.reference_parameters = options.reference_parameters;
  options.references = job.references;
  auto corpus = corpus_for(*preset, job);
  if (!corpus) {
    r.error = corpus.error().message;
    ch.result("result", r);
    exit_now(0);
  }
  options.corpus = std::move(*corpus);
  options.progress = [&ch](const nlohmann::json& m) {
    const std::string kind = m.value("kind", "");
    if (kind == "task_started") ch.stage("training " + m.value("task", ""));
    ch.send(m);
  };
  ch.stage("gates");
  const jit::PluginBuild& b = built;
  auto report = lab::evaluate_mixer(
      b.entry->name, [&b](const MixerConfig& cfg) { return jit::instantiate(b, cfg); }, *preset, options);
  if (!report)
    r.error = report.error().message;
  else
    r.report = std::move(*report);
  ch.stage("writing the result");
  ch.result("result", r);
  exit_now(0);
}

}  // namespace asiarch::host
