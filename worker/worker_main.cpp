#include "worker/worker_job.h"

#include <asiarch/plugin.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>

#include "jit/mixer.h"
#include "lab/corpus.h"
#include "lab/device.h"
#include "lab/tasks.h"
#include "lab/threads.h"
#include "util/files.h"
#include "worker/jit_context.h"
#include "worker/lab_setup.h"

// The worker's side of a job: `asiarch worker --channel FD`, in its sandbox, with the candidate's
// code. It speaks only the protocol's messages (worker/protocol.h); the host decides what they become.
namespace asiarch::host {

namespace {

// The worker's end of the channel: every message to the host goes here, by its kind.
class Channel {
 public:
  explicit Channel(int fd) : fd_(fd) {}
  void send(WorkerMessage kind, nlohmann::json fields = nlohmann::json::object()) {
    send_json(message(kind, std::move(fields)));
  }
  void send_blob(const std::string& bytes) {
    if (auto st = write_frame(fd_, FrameKind::blob, bytes); !st)
      std::cerr << "asiarch worker: " << st.error().message << "\n";
  }
  void stage(Stage s, const std::string& task = "") {
    nlohmann::json f = {{"stage", name_of(s)}};
    if (!task.empty()) f["task"] = task;
    send(WorkerMessage::stage, std::move(f));
  }
  void result(WorkerMessage kind, const WorkerResult& r) { send(kind, {{"result", r}}); }
  // A lab progress message (lab::EvalOptions::progress), whose kinds are the protocol's.
  void progress(const nlohmann::json& m) {
    if (worker_message_named(m.value("kind", ""))) send_json(m);
  }
  Result<std::string> receive_blob() {
    auto f = read_frame(fd_);
    if (!f) return f.error();
    if (f->kind != FrameKind::blob) return make_error("expected a binary frame");
    return std::move(f->payload);
  }
  Result<nlohmann::json> receive(HostMessage expected) {
    auto f = read_frame(fd_);
    if (!f) return f.error();
    auto m = parse_message(f->payload);
    if (!m) return m.error();
    if (m->value("kind", "") != name_of(expected))
      return make_error(std::string("expected a \"") + name_of(expected) + "\" message");
    return m;
  }

 private:
  void send_json(const nlohmann::json& m) {
    if (auto st = write_frame(fd_, FrameKind::json, m.dump()); !st)
      std::cerr << "asiarch worker: " << st.error().message << "\n";
  }
  int fd_;
};

// The byte-LM corpus when the job's tasks include byte_lm, else empty; an
// unknown task is an error listing the valid ones.
Result<std::string> corpus_for(const lab::Preset& preset, const WorkerJob& job) {
  auto tasks = lab::select_tasks(preset, job.tasks);
  if (!tasks) return tasks.error();
  for (const auto& [name, settings] : *tasks)
    if (lab::task_reads_corpus(name)) return lab::load_corpus(job.cache_dir, settings.value("corpus", "kjv"));
  return std::string();
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
  ch.stage(Stage::building_pch);
  auto jit = make_jit_context(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }
  if (auto st = jit->compiler->ensure_pch(); !st) {
    std::cerr << "asiarch worker: " << st.error().message << "\n";
    return 3;
  }
  // Filed in the shared cache beside the PCH, so that no later worker compiles it again.
  if (auto support = jit->compiler->support_object(); !support.object) {
    std::cerr << "asiarch worker: the JIT's support object did not build:\n" << jit::to_text(support.diagnostics) << "\n";
    return 3;
  }
  ch.stage(Stage::extracting_corpus);
  if (auto corpus = corpus_for(preset, job); !corpus) {
    r.error = corpus.error().message;
    ch.result(WorkerMessage::result, r);
    return 0;
  }
  ch.stage(Stage::counting_reference);
  r.reference_parameters = delta_net_parameters(*jit, preset, job.baselines_dir);
  ch.result(WorkerMessage::result, r);
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
    ch.send(WorkerMessage::object, {{"key", built.cache_key}, {"meta", nlohmann::json::parse(*meta)}});
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
    ch.stage(Stage::setting_up_compiler);
    prewarmed = worker_jit(prewarm_cache_dir);
  }
  ch.stage(Stage::waiting_for_job);
  auto first = ch.receive(HostMessage::job);
  if (!first) {
    std::cerr << "asiarch worker: no job: " << first.error().message << "\n";
    return 2;
  }
  ch.stage(Stage::reading_job);
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
  if (job.kind == JobKind::prepare) return prepare(ch, job, *preset);

  // From here on this process handles untrusted code.
  if (auto st = confine_candidate_process(); !st) {
    std::cerr << "asiarch worker: cannot confine itself: " << st.error().message << "\n";
    return 3;
  }
  ch.stage(Stage::setting_up_compiler);
  auto jit = prewarmed && *prewarmed && prewarm_cache_dir == job.cache_dir ? std::move(*prewarmed)
                                                                           : worker_jit(job.cache_dir);
  if (!jit) {
    std::cerr << "asiarch worker: " << jit.error().message << "\n";
    return 3;
  }

  WorkerResult r;
  ch.stage(Stage::compiling);
  jit::PluginBuild built = jit->build_text(job.name, source);
  CompileReport c;
  c.ok = built.ok();
  c.diagnostics = built.diagnostics;
  c.seconds = built.compile_seconds + built.load_seconds;
  c.cache_hit = built.cache_hit;
  c.cache_key = built.cache_key;
  r.compile = std::move(c);
  ch.send(WorkerMessage::compiled, {{"ok", r.compile->ok}, {"cache_hit", r.compile->cache_hit},
                                   {"seconds", r.compile->seconds}, {"diagnostics", r.compile->diagnostics.items.size()}});
  ch.result(WorkerMessage::build, r);
  if (r.built() && !r.compile->cache_hit) send_object(ch, built);
  if (!r.built() || job.kind == JobKind::compile) {
    ch.result(WorkerMessage::result, r);
    if (!r.built() || !job.keep_alive) exit_now(0);
    // Kept alive: the host may give this worker the candidate's evaluation, which then needs no
    // second process and no second load; or it ends the worker.
    ch.stage(Stage::waiting_for_evaluation);
    ch.send(WorkerMessage::result_written);
    auto next = ch.receive(HostMessage::next_job);
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
    if (job.kind != JobKind::evaluate) {
      std::cerr << "asiarch worker: the next job: expected an evaluate job, got \"" << name_of(job.kind) << "\"\n";
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
  // Given a GPU, the model trains on it; a worker that cannot use it fails rather than train
  // somewhere else unsaid.
  auto device = lab::training_device(!job.gpu.empty());
  if (!device) {
    std::cerr << "asiarch worker: GPU " << job.gpu << ": " << device.error().message << "\n";
    exit_now(2);
  }
  options.device = *device;
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
  options.early_stop = job.early_stop;
  // The host made the tasks and holds the test targets: the test rows' logits go to it, and it
  // scores them. No corpus and no test target is ever in this process.
  options.given_tasks = std::move(*given);
  options.timing_mark = [&ch](const std::string& label) {
    ch.send(WorkerMessage::clock, {{"label", label}});
    if (auto reply = ch.receive(HostMessage::clock_reply); !reply) {
      std::cerr << "asiarch worker: no reply to a timing mark: " << reply.error().message << "\n";
      exit_now(2);
    }
  };
  options.test_sink = [&ch](const std::string& task, int64_t first, const torch::Tensor& logits) {
    ch.send(WorkerMessage::test_logits, {{"task", task}, {"first", first}, {"shape", logits.sizes().vec()}});
    ch.send_blob(std::string(static_cast<const char*>(logits.data_ptr()), logits.numel() * sizeof(float)));
  };
  options.progress = [&ch](const nlohmann::json& m) {
    if (m.value("kind", "") == "task_started") ch.stage(Stage::training, m.value("task", ""));
    ch.progress(m);
  };
  ch.stage(Stage::gates);
  const jit::PluginBuild& b = built;
  auto report = lab::evaluate_mixer(
      b.entry->name, [&b](const MixerConfig& cfg) { return jit::instantiate(b, cfg); }, *preset, options);
  if (!report)
    r.error = report.error().message;
  else
    r.report = std::move(*report);
  ch.stage(Stage::writing_result);
  ch.result(WorkerMessage::result, r);
  exit_now(0);
}

}  // namespace asiarch::host
