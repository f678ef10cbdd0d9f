#include "host/worker_job.h"

#include <asiarch/plugin.h>

#include <fstream>
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

constexpr const char* kJobFile = "job.json";
constexpr const char* kSourceFile = "candidate.cpp";
constexpr const char* kBuildFile = "build.json";    // the compile report, written before the lab runs
constexpr const char* kResultFile = "result.json";  // everything, written last
constexpr const char* kStageFile = "stage";
constexpr const char* kLogFile = "worker.log";
constexpr const char* kMessagesFile = "messages.jsonl";  // structured progress, one JSON object a line
constexpr const char* kNextJobFile = "next.json";        // the evaluate job for a worker kept alive after compiling
constexpr size_t kMaxMessageLine = 64 * 1024;            // longer lines are dropped, not parsed

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

void write_result(const char* file, const WorkerResult& r) {
  if (auto st = write_file_atomic(file, nlohmann::json(r).dump()); !st)
    std::cerr << "asiarch worker: " << st.error().message << "\n";
}

// The worker's messages to the host: appended whole lines, so a reader never
// sees half a message as a whole one.
void send_message(const nlohmann::json& m) {
  static std::ofstream out(kMessagesFile, std::ios::app | std::ios::binary);
  out << m.dump() << '\n';
  out.flush();
}

void set_stage(const std::string& stage) {
  (void)write_file_atomic(kStageFile, stage);
  send_message({{"kind", "stage"}, {"stage", stage}});
}

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
       {"keep_alive", w.keep_alive}};
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
                            const std::vector<std::filesystem::path>& writable) {
  std::error_code ec;
  std::filesystem::create_directories(scratch, ec);
  if (ec) return make_error(scratch.string() + ": cannot create the worker's scratch directory: " + ec.message());
  const auto abs = std::filesystem::absolute(scratch);
  for (const char* f : {kJobFile, kSourceFile, kBuildFile, kResultFile, kStageFile, kMessagesFile, kNextJobFile})
    std::filesystem::remove(abs / f, ec);
  WorkerSpec spec;
  spec.executable = settings.executable.empty() ? self_executable() : settings.executable;
  spec.args = {"worker", "--job", (abs / kJobFile).string()};
  if (!settings.cache_dir.empty()) spec.args.insert(spec.args.end(), {"--prewarm", settings.cache_dir});
  spec.scratch = abs;
  spec.writable = writable;
  spec.log = abs / kLogFile;
  spec.limits = settings.limits;
  spec.isolate_network = settings.isolate_network;
  RunningJob running;
  running.scratch = abs;
  auto p = spawn_worker(spec);
  if (!p) return p.error();
  running.process = *p;
  return running;
}

}  // namespace

Result<RunningJob> start_idle_worker(const std::filesystem::path& scratch, const WorkerSettings& settings) {
  return spawn_in(scratch, settings, {});
}

Status assign_job(RunningJob& worker, const WorkerJob& job, const std::string& source) {
  // The source first: the worker starts when job.json appears (atomically).
  if (auto st = write_file_atomic(worker.scratch / kSourceFile, source); !st) return st.error();
  if (auto st = write_file_atomic(worker.scratch / kJobFile, nlohmann::json(job).dump(2)); !st) return st.error();
  worker.process.started = std::chrono::steady_clock::now();
  return Ok{};
}

Result<RunningJob> start_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                             const WorkerSettings& settings) {
  std::vector<std::filesystem::path> writable;
  if (job.kind == "prepare") writable.push_back(job.cache_dir);
  auto w = spawn_in(scratch, settings, writable);
  if (!w) return w.error();
  if (auto st = assign_job(*w, job, source); !st) {
    kill_worker(w->process);
    return st.error();
  }
  return w;
}

Status assign_next_job(RunningJob& worker, const WorkerJob& job) {
  std::error_code ec;
  std::filesystem::remove(worker.scratch / kResultFile, ec);  // the next result, or none
  if (auto st = write_file_atomic(worker.scratch / kNextJobFile, nlohmann::json(job).dump(2)); !st) return st.error();
  worker.process.started = std::chrono::steady_clock::now();
  return Ok{};
}

std::vector<nlohmann::json> read_messages(RunningJob& job) {
  std::vector<nlohmann::json> out;
  std::ifstream in(job.scratch / kMessagesFile, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(job.message_offset));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  job.message_offset += chunk.size();
  job.partial_line += chunk;
  size_t start = 0, nl;
  while ((nl = job.partial_line.find('\n', start)) != std::string::npos) {
    if (nl - start <= kMaxMessageLine) {
      try {
        auto m = nlohmann::json::parse(job.partial_line.begin() + static_cast<std::ptrdiff_t>(start),
                                       job.partial_line.begin() + static_cast<std::ptrdiff_t>(nl));
        if (m.is_object() && m.contains("kind") && m["kind"].is_string()) out.push_back(std::move(m));
      } catch (const std::exception&) {
        // Not a message: skipped.
      }
    }
    start = nl + 1;
  }
  job.partial_line.erase(0, start);
  if (job.partial_line.size() > kMaxMessageLine) job.partial_line.clear();
  return out;
}

namespace {

WorkerOutcome collect(RunningJob& job, const WorkerExit& exit) {
  WorkerOutcome o;
  o.exit = exit;
  o.confinement = job.process.confinement;
  o.scratch = job.scratch;
  if (auto log = read_file(job.scratch / kLogFile)) o.log_tail = tail_of(*log, 2000);
  auto read_json = [&](const char* f) -> std::optional<WorkerResult> {
    auto text = read_file(job.scratch / f);
    if (!text) return std::nullopt;
    try {
      return nlohmann::json::parse(*text).get<WorkerResult>();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  };
  o.stage = "starting";
  if (auto s = read_file(job.scratch / kStageFile)) o.stage = *s;
  if (auto r = read_json(kResultFile)) {
    o.result = std::move(*r);
    if (exit.ok()) return o;
    o.result.report.reset();  // a worker that failed after writing its result: the result is not trusted whole
  } else if (auto b = read_json(kBuildFile)) {
    o.result = std::move(*b);
  }
  o.failure = "worker " + exit.cause() + " during " + o.stage;
  if (exit.exited && exit.code != 0) {
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
  WorkerExit running;
  running.exited = true;  // alive, and done with its job: as an orderly end, for collect()
  running.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - job.process.started).count();
  return collect(job, running);
}

std::optional<WorkerOutcome> poll_job(RunningJob& job) {
  auto e = poll_worker(job.process);
  if (!e) return std::nullopt;
  return collect(job, *e);
}

WorkerOutcome finish_job(RunningJob& job) { return collect(job, wait_worker(job.process)); }

WorkerOutcome cancel_job(RunningJob& job) { return collect(job, kill_worker(job.process)); }

Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings, const std::function<void(const nlohmann::json&)>& progress) {
  auto running = start_job(job, source, scratch, settings);
  if (!running) return running.error();
  for (;;) {
    if (progress)
      for (const auto& m : read_messages(*running)) progress(m);
    if (auto o = poll_job(*running)) {
      if (progress)
        for (const auto& m : read_messages(*running)) progress(m);
      return std::move(*o);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
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

Status file_compiled_object(const WorkerOutcome& outcome, const std::filesystem::path& shared_objects) {
  const auto& c = outcome.result.compile;
  if (!c || !c->ok || c->cache_hit || c->cache_key.empty()) return Ok{};
  return jit::import_cached_object(outcome.scratch / "out" / "objects", shared_objects, c->cache_key);
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

int prepare(const WorkerJob& job, const lab::Preset& preset) {
  WorkerResult r;
  set_stage("building the precompiled header");
  auto jit = make_jit_context(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }
  if (auto st = jit->compiler->ensure_pch(); !st) {
    std::cerr << "asiarch worker: " << st.error().message << "\n";
    return 3;
  }
  set_stage("extracting the corpus");
  if (auto corpus = corpus_for(preset, job); !corpus) {
    r.error = corpus.error().message;
    write_result(kResultFile, r);
    return 0;
  }
  set_stage("counting the DeltaNet baseline's parameters");
  r.reference_parameters = delta_net_parameters(*jit, preset, job.baselines_dir);
  write_result(kResultFile, r);
  return 0;
}

}  // namespace

namespace {

Result<JitContext> worker_jit(const std::string& cache_dir) {
  jit::ToolchainOptions topts;
  topts.cache_dir = cache_dir;
  topts.output_dir = std::filesystem::current_path() / "out";
  return make_jit_context(topts);
}

}  // namespace

int worker_main(const std::filesystem::path& job_file, const std::string& prewarm_cache_dir) {
  // Set-up that needs no job happens while the host has none to give.
  std::optional<Result<JitContext>> prewarmed;
  if (!prewarm_cache_dir.empty()) {
    set_stage("setting up the compiler");
    prewarmed = worker_jit(prewarm_cache_dir);
  }
  set_stage("waiting for a job");
  // Started ahead of its job: wait for the host to write it.
  std::error_code ec;
  while (!std::filesystem::exists(job_file, ec)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  set_stage("reading the job");
  auto text = read_file(job_file);
  if (!text) {
    std::cerr << "asiarch worker: " << text.error().message << "\n";
    return 2;
  }
  WorkerJob job;
  try {
    job = nlohmann::json::parse(*text).get<WorkerJob>();
  } catch (const std::exception& e) {
    std::cerr << "asiarch worker: " << job_file.string() << ": " << e.what() << "\n";
    return 2;
  }
  auto preset = load_preset_arg(job.preset, job.presets_file);
  if (!preset) {
    std::cerr << "asiarch worker: " << preset.error().message << "\n";
    return 2;
  }
  lab::set_compute_threads(preset->train.threads);
  if (job.kind == "prepare") return prepare(job, *preset);
  if (job.kind != "compile" && job.kind != "evaluate") {
    std::cerr << "asiarch worker: " << job_file.string() << ": unknown job kind \"" << job.kind << "\"\n";
    return 2;
  }

  // From here on this process handles untrusted code.
  if (auto st = forbid_exec_fork_and_network(); !st) {
    std::cerr << "asiarch worker: cannot confine itself: " << st.error().message << "\n";
    return 3;
  }
  auto source = read_file(kSourceFile);
  if (!source) {
    std::cerr << "asiarch worker: " << source.error().message << "\n";
    return 2;
  }
  set_stage("setting up the compiler");
  auto jit = prewarmed && *prewarmed && prewarm_cache_dir == job.cache_dir ? std::move(*prewarmed)
                                                                           : worker_jit(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }

  WorkerResult r;
  set_stage("compiling");
  jit::PluginBuild built = jit->build_text(job.name, *source);
  CompileReport c;
  c.ok = built.ok();
  c.diagnostics = built.diagnostics;
  c.seconds = built.compile_seconds + built.load_seconds;
  c.cache_hit = built.cache_hit;
  c.cache_key = built.cache_key;
  r.compile = std::move(c);
  send_message({{"kind", "compiled"}, {"ok", r.compile->ok}, {"cache_hit", r.compile->cache_hit},
                {"seconds", r.compile->seconds}, {"diagnostics", r.compile->diagnostics.items.size()}});
  write_result(kBuildFile, r);
  if (!r.built() || job.kind == "compile") {
    write_result(kResultFile, r);
    if (!r.built() || !job.keep_alive) return 0;
    // Kept alive: the host may give this worker the candidate's evaluation, which then needs no
    // second process and no second load; or it ends the worker.
    set_stage("waiting for its evaluation");
    send_message({{"kind", "result_written"}});
    while (!std::filesystem::exists(kNextJobFile, ec)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    auto next = read_file(kNextJobFile);
    try {
      if (!next) throw std::runtime_error(next.error().message);
      job = nlohmann::json::parse(*next).get<WorkerJob>();
    } catch (const std::exception& e) {
      std::cerr << "asiarch worker: " << kNextJobFile << ": " << e.what() << "\n";
      return 2;
    }
    if (job.kind != "evaluate") {
      std::cerr << "asiarch worker: " << kNextJobFile << ": expected an evaluate job, got \"" << job.kind << "\"\n";
      return 2;
    }
    auto p2 = load_preset_arg(job.preset, job.presets_file);
    if (!p2) {
      std::cerr << "asiarch worker: " << p2.error().message << "\n";
      return 2;
    }
    preset = std::move(p2);
  }

  lab::EvalOptions options;
  options.tasks = job.tasks;
  options.seed = job.seed;
  options.mixer_options = job.mixer_options;
  options.declared_quadratic = built.declares_quadratic;
  options.reference_parameters = job.reference_parameters
                                     ? job.reference_parameters
                                     : delta_net_parameters(*jit, *preset, job.baselines_dir);
  r.reference_parameters = options.reference_parameters;
  options.references = job.references;
  auto corpus = corpus_for(*preset, job);
  if (!corpus) {
    r.error = corpus.error().message;
    write_result(kResultFile, r);
    return 0;
  }
  options.corpus = std::move(*corpus);
  options.progress = [](const nlohmann::json& m) {
    const std::string kind = m.value("kind", "");
    if (kind == "gates_started") (void)write_file_atomic(kStageFile, "gates");
    if (kind == "task_started") (void)write_file_atomic(kStageFile, "training " + m.value("task", ""));
    send_message(m);
  };
  set_stage("gates");
  const jit::PluginBuild& b = built;
  auto report = lab::evaluate_mixer(
      b.entry->name, [&b](const MixerConfig& cfg) { return jit::instantiate(b, cfg); }, *preset, options);
  if (!report)
    r.error = report.error().message;
  else
    r.report = std::move(*report);
  set_stage("writing the result");
  write_result(kResultFile, r);
  return 0;
}

}  // namespace asiarch::host
