#include "worker/worker_job.h"

#include <asiarch/plugin.h>

#include <algorithm>
#include <csignal>
#include <cmath>
#include <fstream>
#include <random>
#include <poll.h>
#include <unistd.h>
#include <iostream>
#include <thread>

#include "worker/jit_context.h"
#include "worker/lab_setup.h"
#include "jit/mixer.h"
#include "lab/corpus.h"
#include "util/files.h"
#include "util/format.h"
#include "lab/threads.h"

namespace asiarch::host {

namespace {

constexpr std::size_t kMaxMessages = 20000;  // progress messages kept per job; more are dropped
constexpr std::size_t kMaxClockMarks = 1000;  // the complexity gate makes 2 x 5 x (lengths + 1) at most
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
  Result<std::string> receive_blob() {
    auto f = read_frame(fd_);
    if (!f) return f.error();
    if (f->kind != FrameKind::blob) return make_error("expected a binary frame");
    return std::move(f->payload);
  }
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
       {"quadratic_reference", w.quadratic_reference},
       {"replica", w.replica},
       {"gpu", w.gpu}};
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
  w.replica = j.value("replica", false);
  w.gpu = j.value("gpu", "");
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

void to_json(nlohmann::json& j, const WorkerOutcome& o) {
  j = {{"result", o.result},
       {"exit", {{"timed_out", o.exit.timed_out}, {"exited", o.exit.exited}, {"code", o.exit.code},
                 {"signal", o.exit.signal}, {"seconds", o.exit.seconds}}},
       {"confinement", o.confinement},
       {"failure", o.failure},
       {"stage", o.stage},
       {"log", o.log},
       {"log_tail", o.log_tail},
       {"trusted_seconds", o.trusted_seconds}};
}

void from_json(const nlohmann::json& j, WorkerOutcome& o) {
  o.result = j.at("result").get<WorkerResult>();
  const auto& e = j.at("exit");
  o.exit.timed_out = e.at("timed_out").get<bool>();
  o.exit.exited = e.at("exited").get<bool>();
  o.exit.code = e.at("code").get<int>();
  o.exit.signal = e.at("signal").get<int>();
  o.exit.seconds = e.at("seconds").get<double>();
  o.failure = j.at("failure").get<std::string>();
  o.stage = j.at("stage").get<std::string>();
  o.log = j.value("log", "");
  o.log_tail = j.value("log_tail", "");
  o.trusted_seconds = j.value("trusted_seconds", 0.0);
}

// ---- host side -------------------------------------------------------------

namespace {

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
  spec.limits = settings.limits;
  spec.isolate = settings.isolate;
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

// Token ids as 32-bit little-endian integers: the task data's wire form.
std::string int32_bytes(const std::vector<int64_t>& v) {
  std::string out(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    const auto x = static_cast<std::uint32_t>(static_cast<std::int32_t>(v[i]));
    for (int b = 0; b < 4; ++b) out[i * 4 + b] = static_cast<char>((x >> (8 * b)) & 0xff);
  }
  return out;
}

std::vector<int64_t> rows_of(const std::vector<lab::Example>& examples, bool targets) {
  std::vector<int64_t> out;
  for (const auto& e : examples) {
    const auto& v = targets ? e.target : e.input;
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// An evaluate job's tasks, made here: the worker gets their training rows and the test rows of a
// TestPlan (probe rows mixed in), never a test target; the host keeps a scorer per task.
// Appends the tasks' headers to `message` and their data to `blobs`.
Status plan_tests(RunningJob& worker, const WorkerJob& job, nlohmann::json& message,
                  std::vector<std::shared_ptr<const std::string>>& blobs) {
  auto preset = load_preset_arg(job.preset, job.presets_file);
  if (!preset) return preset.error();
  auto tasks = lab::select_tasks(*preset, job.tasks);
  if (!tasks) return tasks.error();
  std::map<std::string, std::string> corpora;  // by name, loaded when a byte_lm task names it
  TaskCache fresh;  // when the job's owner keeps none
  TaskCache& cache = worker.task_cache ? *worker.task_cache : fresh;
  std::random_device secret;  // where the probe rows sit: nothing the worker can derive
  worker.tests.clear();
  message["tasks"] = nlohmann::json::array();
  for (const auto& [name, settings] : *tasks) {
    const std::string key = job.presets_file + "|" + job.preset + "|" + name + "|" + std::to_string(job.seed);
    auto& entry = cache.entries[key];
    if (!entry) {
      std::string corpus_name;
      if (name == "byte_lm") {
        corpus_name = settings.value("corpus", "kjv");
        if (!corpora.count(corpus_name)) {
          auto c = lab::load_corpus(job.cache_dir, corpus_name);
          if (!c) {
            cache.entries.erase(key);
            return c.error();
          }
          corpora[corpus_name] = std::move(*c);
        }
      }
      auto data = lab::make_task(name, settings, job.seed, corpus_name.empty() ? "" : corpora[corpus_name]);
      if (!data) {
        cache.entries.erase(key);
        return data.error();
      }
      auto e = std::make_shared<TaskCache::Entry>();
      e->train_rows = static_cast<int64_t>(data->train.size());
      e->train_inputs = std::make_shared<const std::string>(int32_bytes(rows_of(data->train, false)));
      e->train_targets = std::make_shared<const std::string>(int32_bytes(rows_of(data->train, true)));
      data->train.clear();  // the host keeps only what scoring needs
      e->task = std::move(*data);
      entry = std::move(e);
    }
    const lab::TaskData& data = entry->task;
    const int64_t n_test = static_cast<int64_t>(data.test.size());
    lab::TestPlan plan = lab::plan_test(data, (std::uint64_t{secret()} << 32) ^ secret(),
                                        std::clamp<int64_t>(n_test / 8, 2, 16));
    message["tasks"].push_back({{"name", name},
                                {"vocab", data.vocab},
                                {"seq_len", data.seq_len},
                                {"metric", data.metric == lab::Metric::accuracy ? "accuracy" : "bits_per_byte"},
                                {"decode_from_last", data.decode_from_last},
                                {"train_rows", entry->train_rows},
                                {"test_rows", plan.rows},
                                {"length", plan.length}});
    blobs.push_back(entry->train_inputs);
    blobs.push_back(entry->train_targets);
    blobs.push_back(std::make_shared<const std::string>(int32_bytes(plan.inputs)));
    HostTest t{lab::TestScorer(data, std::move(plan)), data.metric == lab::Metric::accuracy ? "accuracy" : "bits_per_byte",
               lab::worst_metric(data)};
    worker.tests.emplace(name, std::move(t));
  }
  return Ok{};
}

Status send_job(RunningJob& worker, const char* kind, WorkerJob job, const std::string* source) {
  if (source) worker.quadratic_reference = is_quadratic_reference(*source, job.baselines_dir);
  job.quadratic_reference = worker.quadratic_reference;  // a next job runs the source already given
  worker.replica = job.replica;
  nlohmann::json m = {{"kind", kind}, {"job", job}};
  if (source) m["source"] = *source;
  std::vector<std::shared_ptr<const std::string>> blobs;
  if (job.kind == "evaluate") {
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

// The metric and the probes of one task, from the host's own scorer: what the worker said of
// them is never used. A task trained without its test predictions gets the worst metric.
void score_task(RunningJob& job, lab::TaskResult& r) {
  auto it = job.tests.find(r.task);
  if (it == job.tests.end()) return;
  HostTest& t = it->second;
  r.metric_name = t.metric_name;
  r.metric = t.worst;
  r.scored_by_host = true;
  r.test_probe.reset();
  if (!t.scorer.complete()) {
    if (r.completed())
      r.stop_reason = "no test predictions from the worker (" + std::to_string(t.scorer.rows_received()) + " rows came)";
    return;
  }
  if (r.causality_probe && !r.causality_probe->passed) return;
  r.test_probe = t.scorer.probes();
  // The probe rows' share of the test's predictions: what they cost the worker.
  r.test_probe->seconds = r.eval_seconds * static_cast<double>(t.scorer.probe_rows()) / static_cast<double>(t.scorer.rows());
  if (!r.test_probe->passed) {
    r.stop_reason = r.test_probe->reason;
    return;
  }
  const double m = t.scorer.metric();
  if (!std::isfinite(m)) {
    r.stop_reason = "non-finite test logits";
    return;
  }
  r.metric = m;
}

// The complexity gate as the host measured it: per length, the fastest of its runs by the
// kernel's count of the whole worker's CPU time, between the marks the worker waited on. The
// worker's own measure can only fail the gate, never pass it.
void judge_complexity(const RunningJob& job, lab::GateResult& g) {
  if (g.name != "complexity" || g.reason.rfind("not run", 0) == 0 || g.reason.rfind("plugin threw", 0) == 0) return;
  if (!g.details.is_object()) g.details = nlohmann::json::object();
  std::map<double, double> best;  // length -> seconds
  for (size_t i = 1; i < job.clock_marks.size(); ++i) {
    const auto& m = job.clock_marks[i];
    if (m.label == "start") continue;
    const double length = std::atof(m.label.c_str()), d = m.cpu - job.clock_marks[i - 1].cpu;
    if (length <= 0 || !std::isfinite(d)) continue;
    auto [it, fresh] = best.emplace(length, d);
    if (!fresh) it->second = std::min(it->second, d);
  }
  const double limit = lab::GateConfig{}.max_exponent;
  g.details["host_clock"] = job.process.confinement.cpu_clock;
  if (best.size() < 2) {
    if (job.quadratic_reference) return;
    g.passed = false;
    g.reason = "the worker's runs could not be timed: it sent no timing marks";
    return;
  }
  std::vector<double> lengths, seconds;
  for (const auto& [l, t] : best) {
    lengths.push_back(l);
    seconds.push_back(t);
  }
  const double e = lab::fit_exponent(lengths, seconds);
  g.details["host_seconds"] = seconds;
  g.details["host_time_exponent"] = e;
  // A clock of 10 ms ticks cannot time runs of a few ms: then the worker's measure stands alone.
  if (*std::min_element(seconds.begin(), seconds.end()) < 20 * job.clock_resolution) {
    g.details["host_clock"] = job.process.confinement.cpu_clock + " (too coarse for these runs)";
    return;
  }
  if (job.quadratic_reference || e < limit || !g.passed) return;
  g.passed = false;
  g.reason = "time ~ L^" + format_number(e, "%.3g") +
             " by the kernel's count of the whole worker's CPU time: not sub-quadratic (limit " +
             format_number(limit, "%.3g") + ")";
}

// A result's tasks as the host scored them; tasks the host did not plan are dropped.
void score_report(RunningJob& job, WorkerResult& result) {
  if (!result.report || job.tests.empty()) return;
  auto& tasks = result.report->tasks;
  tasks.erase(std::remove_if(tasks.begin(), tasks.end(), [&](const lab::TaskResult& t) { return !job.tests.count(t.task); }),
              tasks.end());
  for (auto& t : tasks) score_task(job, t);
  if (!result.report->gates_passed) return;  // untrained: no task is due
  for (const auto& [name, test] : job.tests)
    if (std::none_of(tasks.begin(), tasks.end(), [&](const lab::TaskResult& t) { return t.task == name; })) {
      lab::TaskResult missing;
      missing.task = name;
      missing.metric_name = test.metric_name;
      missing.metric = test.worst;
      missing.final_loss = std::nan("");
      missing.stop_reason = "the worker reported nothing for this task";
      missing.scored_by_host = true;
      tasks.push_back(std::move(missing));
    }
}

// One block of test logits for the host's scorer.
void take_logits(RunningJob& job, std::string bytes) {
  auto it = job.tests.find(job.logits_task);
  if (it == job.tests.end()) return end_for(job, "the worker broke the protocol: test logits for an unknown task");
  const auto& shape = job.logits_shape;
  const auto values = static_cast<int64_t>(bytes.size() / sizeof(float));
  const bool sized = bytes.size() % sizeof(float) == 0 && shape.size() == 3 &&
                     std::all_of(shape.begin(), shape.end(), [&](int64_t d) { return d >= 1 && d <= values; }) &&
                     shape[0] * shape[1] <= values && shape[0] * shape[1] * shape[2] == values;
  if (!sized) return end_for(job, "the worker broke the protocol: test logits of the wrong size");
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = torch::from_blob(bytes.data(), shape, torch::kFloat);
  if (auto st = it->second.scorer.add(job.logits_first, logits); !st)
    end_for(job, "the worker broke the protocol: test logits for " + job.logits_task + ": " + st.error().message);
  job.trusted_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
    if (f.kind == FrameKind::blob) {
      const std::string what = std::move(job.expect_blob);
      job.expect_blob.clear();
      if (what == "object") {
        job.object = std::move(f.payload);
      } else if (what == "test_logits") {
        take_logits(job, std::move(f.payload));
      } else {
        end_for(job, "the worker broke the protocol: an unannounced binary frame");
        break;
      }
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
      if (!job.expect_blob.empty()) throw std::runtime_error("a message where its binary frame was due");
      if (kind == "build" || kind == "result") {
        auto r = escape_strings(m.at("result")).get<WorkerResult>();
        if (kind == "result" && r.report) {
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
        (kind == "build" ? job.build : job.result) = std::move(r);
        continue;
      }
      if (kind == "object") {
        job.object_key = m.at("key").get<std::string>();
        job.object_meta = m.at("meta").dump();
        job.expect_blob = "object";
        continue;
      }
      if (kind == "clock") {
        // The worker waits for this reply: between two marks it ran one timed run, and the CPU
        // time it took is the kernel's count, not the worker's word.
        if (job.clock_marks.size() < kMaxClockMarks) {
          const auto cpu = worker_cpu_seconds(job.process, &job.clock_resolution);
          job.clock_marks.push_back(
              {escape_control(m.at("label").get<std::string>().substr(0, 16)), cpu.value_or(std::nan("")),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - job.process.started).count()});
        }
        if (auto st = job.outbox.queue(FrameKind::json, R"({"kind":"clock"})"); st)
          if (auto fl = job.outbox.flush(job.process.channel.get()); !fl) end_for(job, fl.error().message);
        continue;
      }
      if (kind == "test_logits") {
        job.logits_task = m.at("task").get<std::string>();
        job.logits_first = m.at("first").get<int64_t>();
        job.logits_shape = m.at("shape").get<std::vector<int64_t>>();
        job.expect_blob = "test_logits";
        continue;
      }
      if (kind == "gate" && m.value("name", "") == "complexity") {
        lab::GateResult g;
        g.name = "complexity";
        g.passed = m.at("passed").get<bool>();
        g.reason = m.at("reason").get<std::string>();
        judge_complexity(job, g);
        m["passed"] = g.passed;
        m["reason"] = g.reason;
      }
      if (kind == "task_finished" && job.tests.count(m.at("task").get<std::string>())) {
        // What the host scored, not what the worker says.
        lab::TaskResult r;
        r.task = m.at("task").get<std::string>();
        r.stop_reason = m.at("stop_reason").get<std::string>();
        score_task(job, r);
        m["metric_name"] = r.metric_name;
        m["metric"] = r.metric;
        m["stop_reason"] = r.stop_reason;
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
  std::vector<std::string> readable = {job.baselines_dir, job.presets_file};
  if (job.kind == "prepare") {
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
  o.trusted_seconds = job.trusted_seconds;
  if (job.expect_blob.empty()) {
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
                              const WorkerSettings& settings, const std::function<void(const nlohmann::json&)>& progress) {
  auto running = start_job(job, source, scratch, settings);
  if (!running) return running.error();
  for (;;) {
    auto o = poll_job(*running);
    if (progress)
      for (const auto& m : read_messages(*running)) progress(m);
    if (o) return std::move(*o);
    wait_for_any({&*running}, 20);
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
    if (name == "byte_lm") return lab::load_corpus(job.cache_dir, settings.value("corpus", "kjv"));
  return std::string();
}

std::vector<int64_t> from_int32(const std::string& bytes) {
  std::vector<int64_t> out(bytes.size() / 4);
  for (size_t i = 0; i < out.size(); ++i) {
    std::uint32_t x = 0;
    for (int b = 0; b < 4; ++b) x |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    out[i] = static_cast<std::int32_t>(x);
  }
  return out;
}

// The tasks the host made for an evaluate job (its message lists them; their rows follow as binary
// frames): training rows with targets, test rows without.
Result<std::map<std::string, lab::TaskData>> receive_tasks(Channel& ch, const nlohmann::json& message) {
  std::map<std::string, lab::TaskData> out;
  if (!message.contains("tasks")) return out;
  try {
    for (const auto& h : message.at("tasks")) {
      lab::TaskData t;
      t.name = h.at("name").get<std::string>();
      t.vocab = h.at("vocab").get<int64_t>();
      t.seq_len = h.at("seq_len").get<int64_t>();
      t.metric = h.at("metric").get<std::string>() == "accuracy" ? lab::Metric::accuracy : lab::Metric::bits_per_byte;
      t.decode_from_last = h.at("decode_from_last").get<bool>();
      const auto train_rows = h.at("train_rows").get<int64_t>(), test_rows = h.at("test_rows").get<int64_t>(),
                 length = h.at("length").get<int64_t>();
      std::vector<int64_t> parts[3];
      for (auto& part : parts) {
        auto blob = ch.receive_blob();
        if (!blob) return make_error("task " + t.name + ": " + blob.error().message);
        part = from_int32(*blob);
      }
      if (static_cast<int64_t>(parts[0].size()) != train_rows * t.seq_len || parts[1].size() != parts[0].size() ||
          static_cast<int64_t>(parts[2].size()) != test_rows * length)
        return make_error("task " + t.name + ": its rows do not match its header");
      for (int64_t i = 0; i < train_rows; ++i) {
        auto at = [&](int k) { return parts[k].begin() + i * t.seq_len; };
        t.train.push_back({{at(0), at(0) + t.seq_len}, {at(1), at(1) + t.seq_len}});
      }
      for (int64_t i = 0; i < test_rows; ++i) {
        auto at = parts[2].begin() + i * length;
        t.test.push_back({{at, at + length}, std::vector<int64_t>(static_cast<size_t>(length), lab::kIgnore)});
      }
      out.emplace(t.name, std::move(t));
    }
  } catch (const std::exception& e) {
    return make_error(std::string("the job's tasks: ") + e.what());
  }
  return out;
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
  // Before anything can start CUDA: the driver reads this once, at its initialisation.
  if (!job.gpu.empty()) ::setenv("CUDA_VISIBLE_DEVICES", job.gpu.c_str(), 1);
  auto given = receive_tasks(ch, *first);
  if (!given) {
    std::cerr << "asiarch worker: " << given.error().message << "\n";
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
      auto tasks = receive_tasks(ch, *next);
      if (!tasks) throw std::runtime_error(tasks.error().message);
      given = std::move(tasks);
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
  options.run_gates = !job.replica;
  options.mixer_options = job.mixer_options;
  options.declared_quadratic = built.declares_quadratic && job.quadratic_reference;
  options.reference_parameters = job.reference_parameters
                                     ? job.reference_parameters
                                     : delta_net_parameters(*jit, *preset, job.baselines_dir);
  r.reference_parameters = options.reference_parameters;
  options.references = job.references;
  // The host made the tasks and holds the test targets: the test rows' logits go to it, and it
  // scores them. No corpus and no test target is ever in this process.
  options.given_tasks = std::move(*given);
  options.timing_mark = [&ch](const std::string& label) {
    ch.send({{"kind", "clock"}, {"label", label}});
    if (auto reply = ch.receive("clock"); !reply) {
      std::cerr << "asiarch worker: no reply to a timing mark: " << reply.error().message << "\n";
      exit_now(2);
    }
  };
  options.test_sink = [&ch](const std::string& task, int64_t first, const torch::Tensor& logits) {
    ch.send({{"kind", "test_logits"}, {"task", task}, {"first", first}, {"shape", logits.sizes().vec()}});
    ch.send_blob(std::string(static_cast<const char*>(logits.data_ptr()), logits.numel() * sizeof(float)));
  };
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
