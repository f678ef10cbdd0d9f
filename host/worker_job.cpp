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
constexpr const char* kBuildFile = "build.json";    // the Engineer's attempts, written before the lab runs
constexpr const char* kResultFile = "result.json";  // everything, written last
constexpr const char* kStageFile = "stage";
constexpr const char* kLogFile = "worker.log";

void to_json(nlohmann::json& j, const lab::Reference& r) {
  j = {{"curve", r.curve}, {"seconds", r.seconds}};
}
void from_json(const nlohmann::json& j, lab::Reference& r) {
  r.curve = j.at("curve").get<lab::Curve>();
  r.seconds = j.at("seconds").get<double>();
}

nlohmann::json attempt_json(const agents::RepairAttempt& a) {
  return {{"number", a.number},     {"source", a.source},       {"ok", a.outcome.ok},
          {"diagnostics", a.outcome.diagnostics}, {"seconds", a.seconds}, {"method", a.method},
          {"answered", a.answered}, {"diff", a.diff}};
}

agents::RepairAttempt attempt_from(const nlohmann::json& j) {
  agents::RepairAttempt a;
  a.number = j.at("number").get<int>();
  a.source = j.at("source").get<std::string>();
  a.outcome.ok = j.at("ok").get<bool>();
  a.outcome.diagnostics = j.at("diagnostics").get<jit::Diagnostics>();
  a.seconds = j.at("seconds").get<double>();
  a.method = j.at("method").get<std::string>();
  a.answered = j.at("answered").get<std::vector<std::string>>();
  a.diff = j.at("diff").get<std::string>();
  return a;
}

void set_stage(const std::string& stage) { (void)write_file_atomic(kStageFile, stage); }

void write_result(const char* file, const WorkerResult& r) {
  if (auto st = write_file_atomic(file, nlohmann::json(r).dump()); !st)
    std::cerr << "asiarch worker: " << st.error().message << "\n";
}

std::string tail_of(const std::string& text, size_t n) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

}  // namespace

void to_json(nlohmann::json& j, const WorkerJob& w) {
  nlohmann::json refs = nlohmann::json::object();
  for (const auto& [task, r] : w.references) to_json(refs[task], r);
  j = {{"name", w.name},
       {"preset", w.preset},
       {"presets_file", w.presets_file},
       {"tasks", w.tasks},
       {"seed", w.seed},
       {"mixer_options", w.mixer_options},
       {"max_attempts", w.max_attempts},
       {"reference_parameters", w.reference_parameters},
       {"baselines_dir", w.baselines_dir},
       {"references", refs},
       {"cache_dir", w.cache_dir},
       {"prepare", w.prepare}};
}

void from_json(const nlohmann::json& j, WorkerJob& w) {
  w.name = j.at("name").get<std::string>();
  w.preset = j.at("preset").get<std::string>();
  w.presets_file = j.at("presets_file").get<std::string>();
  w.tasks = j.at("tasks").get<std::vector<std::string>>();
  w.seed = j.at("seed").get<std::uint64_t>();
  w.mixer_options = j.at("mixer_options").get<std::string>();
  w.max_attempts = j.at("max_attempts").get<int>();
  w.reference_parameters = j.at("reference_parameters").get<int64_t>();
  w.baselines_dir = j.at("baselines_dir").get<std::string>();
  for (const auto& [task, r] : j.at("references").items()) from_json(r, w.references[task]);
  w.cache_dir = j.at("cache_dir").get<std::string>();
  w.prepare = j.at("prepare").get<bool>();
}

void to_json(nlohmann::json& j, const WorkerResult& r) {
  j = {{"attempts", nlohmann::json::array()},
       {"built", r.built},
       {"final_source", r.final_source},
       {"gave_up", r.gave_up},
       {"error", r.error},
       {"reference_parameters", r.reference_parameters}};
  for (const auto& a : r.attempts) j["attempts"].push_back(attempt_json(a));
  if (r.report) j["report"] = *r.report;
}

void from_json(const nlohmann::json& j, WorkerResult& r) {
  for (const auto& a : j.at("attempts")) r.attempts.push_back(attempt_from(a));
  r.built = j.at("built").get<bool>();
  r.final_source = j.at("final_source").get<std::string>();
  r.gave_up = j.at("gave_up").get<std::string>();
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
  for (const char* f : {kJobFile, kSourceFile, kBuildFile, kResultFile, kStageFile}) std::filesystem::remove(abs / f, ec);
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
  running.log_offset = std::filesystem::exists(spec.log, ec) ? std::filesystem::file_size(spec.log, ec) : 0;
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
  if (job.prepare) writable.push_back(job.cache_dir);
  auto w = spawn_in(scratch, settings, writable);
  if (!w) return w.error();
  if (auto st = assign_job(*w, job, source); !st) {
    kill_worker(w->process);
    return st.error();
  }
  return w;
}

std::vector<std::string> progress_lines(RunningJob& job) {
  std::vector<std::string> out;
  std::ifstream in(job.scratch / kLogFile, std::ios::binary);
  if (!in) return out;
  in.seekg(static_cast<std::streamoff>(job.log_offset));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  job.log_offset += chunk.size();
  job.partial_line += chunk;
  size_t start = 0, nl;
  while ((nl = job.partial_line.find('\n', start)) != std::string::npos) {
    const std::string line = job.partial_line.substr(start, nl - start);
    if (line.rfind("progress: ", 0) == 0) out.push_back(line.substr(10));
    start = nl + 1;
  }
  job.partial_line.erase(0, start);
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
  if (auto r = read_json(kResultFile)) {
    o.result = std::move(*r);
    if (exit.ok()) return o;
  } else if (auto b = read_json(kBuildFile)) {
    o.result = std::move(*b);
  }
  std::string stage = "starting";
  if (auto s = read_file(job.scratch / kStageFile)) stage = *s;
  o.failure = "worker " + exit.cause() + " during " + stage;
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

std::optional<WorkerOutcome> poll_job(RunningJob& job) {
  auto e = poll_worker(job.process);
  if (!e) return std::nullopt;
  return collect(job, *e);
}

WorkerOutcome finish_job(RunningJob& job) { return collect(job, wait_worker(job.process)); }

WorkerOutcome cancel_job(RunningJob& job) { return collect(job, kill_worker(job.process)); }

Result<WorkerOutcome> run_job(const WorkerJob& job, const std::string& source, const std::filesystem::path& scratch,
                              const WorkerSettings& settings, const std::function<void(const std::string&)>& progress) {
  auto running = start_job(job, source, scratch, settings);
  if (!running) return running.error();
  for (;;) {
    if (progress)
      for (const auto& line : progress_lines(*running)) progress(line);
    if (auto o = poll_job(*running)) {
      if (progress)
        for (const auto& line : progress_lines(*running)) progress(line);
      return std::move(*o);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Result<WorkerResult> prepare_cache(WorkerJob job, const std::filesystem::path& scratch, const WorkerSettings& settings) {
  job.prepare = true;
  std::error_code ec;
  std::filesystem::create_directories(job.cache_dir, ec);
  if (ec) return make_error(job.cache_dir + ": cannot create the cache directory: " + ec.message());
  auto out = run_job(job, "", scratch, settings);
  if (!out) return out.error();
  if (!out->failure.empty()) return make_error("preparing the cache: " + out->failure + "\n" + out->log_tail);
  if (!out->result.error.empty()) return make_error(out->result.error);
  return std::move(out->result);
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
  while (!std::filesystem::exists(job_file, ec)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
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
  if (job.prepare) return prepare(job, *preset);

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
  std::optional<jit::PluginBuild> built;
  auto build = [&](const std::string& file, const std::string& t) {
    jit::PluginBuild b = jit->build_text(file, t);
    agents::BuildOutcome o{b.ok(), b.diagnostics};
    if (b.ok()) built = std::move(b);
    else built.reset();
    std::cerr << "progress: compile " << (o.ok ? "ok" : "failed") << "\n";
    return o;
  };
  auto repaired = agents::repair(job.name, *source, build, job.max_attempts);
  r.attempts = std::move(repaired.attempts);
  r.built = repaired.ok && built.has_value();
  r.final_source = repaired.final_source;
  r.gave_up = repaired.gave_up;
  write_result(kBuildFile, r);
  if (!r.built) {
    write_result(kResultFile, r);
    return 0;
  }

  lab::EvalOptions options;
  options.tasks = job.tasks;
  options.seed = job.seed;
  options.mixer_options = job.mixer_options;
  options.declared_quadratic = built->declares_quadratic;
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
  options.progress = [](const std::string& line) {
    set_stage(line);
    std::cerr << "progress: " << line << std::endl;
  };
  set_stage("gates");
  const jit::PluginBuild& b = *built;
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
