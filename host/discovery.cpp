#include "host/discovery.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ostream>
#include <set>
#include <thread>

#include "agents/analyst.h"
#include "agents/design.h"
#include "agents/fitness.h"
#include "agents/judge.h"
#include "agents/researcher.h"
#include "archive/archive.h"
#include "host/jit_context.h"
#include "host/lab_setup.h"
#include "host/worker_job.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

// Set by SIGINT/SIGTERM. A signal handler can only reach static storage.
std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

struct SignalScope {
  struct sigaction old_int {}, old_term {};
  SignalScope() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

std::string fmt(double v, const char* f = "%.3f") {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

bool done_status(const std::string& s) { return s == "scored" || s == "failed"; }

// Loss (bits per byte on byte_lm) and mean accuracy over the accuracy tasks
// both reports share.
struct Metrics {
  std::optional<double> loss;
  std::map<std::string, double> accuracy;
};

Metrics metrics_of(const std::vector<archive::TrainingRun>& runs) {
  Metrics m;
  for (const auto& r : runs) {
    if (r.metric_name == "bits_per_byte" && std::isfinite(r.metric)) m.loss = r.metric;
    if (r.metric_name == "accuracy") m.accuracy[r.task] = r.metric;
  }
  return m;
}

agents::FitnessInputs fitness_inputs(const Metrics& m, const Metrics& base) {
  agents::FitnessInputs in;
  in.loss = m.loss;
  in.baseline_loss = base.loss;
  double a = 0, b = 0;
  int n = 0;
  for (const auto& [task, acc] : m.accuracy)
    if (auto it = base.accuracy.find(task); it != base.accuracy.end()) {
      a += acc;
      b += it->second;
      ++n;
    }
  if (n) {
    in.accuracy = a / n;
    in.baseline_accuracy = b / n;
  }
  return in;
}

std::vector<archive::TrainingRun> training_runs(const lab::EvalReport& report, const WorkerJob& job) {
  std::vector<archive::TrainingRun> runs;
  for (const auto& t : report.tasks) {
    archive::TrainingRun r;
    r.preset = report.preset;
    r.task = t.task;
    r.config = {{"seed", job.seed}, {"mixer_options", job.mixer_options}, {"train_seconds", t.train_seconds},
                {"eval_seconds", t.eval_seconds}};
    r.curve = t.curve;
    r.metric_name = t.metric_name;
    r.metric = t.metric;
    if (std::isfinite(t.final_loss)) r.final_loss = t.final_loss;
    r.steps = t.steps;
    r.tokens_per_second = t.tokens_per_second;
    r.seconds = t.train_seconds + t.eval_seconds;
    r.stop_reason = t.stop_reason;
    runs.push_back(std::move(r));
  }
  return runs;
}

struct Running {
  std::chrono::steady_clock::time_point began;  // proposal (evolved) or start
  double propose_seconds = 0;
  int64_t id = 0;
  std::string name;
  WorkerJob job;
  RunningJob handle;
};

class Loop {
 public:
  Loop(const RunConfig& c, std::ostream& out, std::ostream& err) : c_(c), out_(out), err_(err) {}
  int run();

 private:
  Status setup();
  void seed_experiments();
  void adopt_hand_written();
  std::optional<int64_t> propose();
  Status start(int64_t id);
  void finish(Running& r, const WorkerOutcome& o);
  void summary(bool interrupted);
  std::optional<Metrics> baseline_metrics() const { return baseline_metrics(c_.preset); }
  std::optional<Metrics> baseline_metrics(const std::string& preset) const;
  std::optional<int64_t> reference_id() const;
  std::vector<archive::TrainingRun> runs_on(int64_t id, const std::string& preset) const {
    std::vector<archive::TrainingRun> out;
    for (auto& r : archive_->training_runs(id))
      if (r.preset == preset) out.push_back(std::move(r));
    return out;
  }
  std::map<std::string, lab::Reference> references_on(const std::string& preset) const;
  bool promote();
  bool evaluate_stage(int64_t id, const std::string& preset);
  std::vector<agents::Lineage> lineages() const;
  int evolved_done() const;
  bool is_reference(int64_t id) const { return reference_id() == id; }
  int evolved_pending() const;
  void say(const std::string& s) {
    if (!c_.quiet) out_ << s << std::endl;
  }

  RunConfig c_;
  std::ostream& out_;
  std::ostream& err_;
  std::filesystem::path workdir_;
  std::unique_ptr<archive::Archive> archive_;
  int lock_fd_ = -1;
  WorkerSettings settings_;
  WorkerJob base_job_;
  std::vector<Running> running_;
  std::optional<RunningJob> spare_;  // a worker already started, waiting for the next experiment
  int slots_ = 0;
  std::filesystem::path next_slot() { return workdir_ / "scratch" / ("slot-" + std::to_string(++slots_)); }
  void keep_a_spare() {
    if (spare_) return;
    if (auto w = start_idle_worker(next_slot(), settings_)) spare_ = std::move(*w);
  }
  std::set<int64_t> failed_to_start_;
  std::map<int64_t, std::pair<std::chrono::steady_clock::time_point, double>> proposed_at_;
};

Status Loop::setup() {
  workdir_ = std::filesystem::absolute(c_.workdir);
  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  if (ec) return make_error(workdir_.string() + ": cannot create the workdir: " + ec.message());
  if (::access(workdir_.c_str(), W_OK | X_OK) != 0)
    return make_error(workdir_.string() + ": the workdir is not writable: " + std::strerror(errno));
  const auto config_file = workdir_ / "asiarch.json";
  (void)config_file;  // read by the command before flags apply
  lock_fd_ = ::open((workdir_ / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return make_error((workdir_ / ".lock").string() + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return make_error(workdir_.string() + ": another asiarch run is using this workdir");

  auto preset = load_preset_arg(c_.preset, c_.presets_file);
  if (!preset) return preset.error();
  if (auto t = lab::select_tasks(*preset, c_.tasks); !t) return t.error();
  if (c_.promote < 0) c_.promote = c_.preset == "explore" ? 2 : 0;  // ASI-Arch's two stages: explore, then verify
  if (c_.promote > 0) {
    auto p2 = load_preset_arg(c_.promote_preset, c_.presets_file);
    if (!p2) return make_error("promote_preset: " + p2.error().message);
    if (auto t = lab::select_tasks(*p2, c_.tasks); !t) return make_error("promote_preset: " + t.error().message);
  }
  auto a = archive::Archive::open(workdir_ / "archive.db");
  if (!a) return a.error();
  archive_ = std::move(*a);

  settings_.limits = c_.limits;
  base_job_.preset = c_.preset;
  base_job_.presets_file = c_.presets_file.empty() ? "" : std::filesystem::absolute(c_.presets_file).string();
  base_job_.tasks = c_.tasks;
  base_job_.seed = c_.seed;
  base_job_.max_attempts = c_.max_repair_attempts;
  base_job_.baselines_dir = c_.baselines_dir.empty() ? default_baselines_dir() : c_.baselines_dir;
  base_job_.cache_dir = c_.cache_dir.empty() ? jit::default_cache_dir().string() : c_.cache_dir;
  settings_.cache_dir = base_job_.cache_dir;  // spare workers set their JIT up while they wait
  keep_a_spare();  // its start-up overlaps the preparation
  say("preparing the compile cache (" + base_job_.cache_dir + ")");
  auto prepared = prepare_cache(base_job_, workdir_ / "scratch" / "prepare", settings_);
  if (!prepared) return prepared.error();
  base_job_.reference_parameters = prepared->reference_parameters;
  return Ok{};
}

void Loop::seed_experiments() {
  std::set<std::string> have;
  for (const auto& e : archive_->experiments())
    if (e.origin == archive::Origin::baseline) have.insert(e.name);
  const auto designs = agents::baseline_designs();
  for (const auto& name : c_.baselines) {
    if (have.count(name)) continue;
    const std::string path = base_job_.baselines_dir + "/" + name + ".cpp";
    auto source = read_file(path);
    if (!source) {
      err_ << "asiarch run: baseline " << name << ": " << source.error().message << "\n";
      continue;
    }
    archive::Experiment e;
    e.name = name;
    e.origin = archive::Origin::baseline;
    e.source = *source;
    e.source_hash = agents::normalised_source_hash(*source);
    e.motivation = "Hand-written baseline from plugins/baselines; the first parents of the search.";
    for (const auto& [n, d] : designs)
      if (n == name) {
        e.design = agents::to_json(d);
        e.canonical = agents::canonical(d);
      }
    if (auto id = archive_->add_experiment(e)) say("#" + std::to_string(*id) + " " + name + ": baseline queued");
  }
}

// Plugins dropped into <workdir>/plugins/ join the archive as hand-written experiments.
void Loop::adopt_hand_written() {
  std::error_code ec;
  const auto dir = workdir_ / "plugins";
  if (!std::filesystem::is_directory(dir, ec)) return;
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec))
    if (f.path().extension() == ".cpp") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto source = read_file(f);
    if (!source) continue;
    const std::string hash = agents::normalised_source_hash(*source);
    if (archive_->find_duplicate("", hash)) continue;
    archive::Experiment e;
    e.name = f.stem().string();
    e.origin = archive::Origin::hand_written;
    e.source = *source;
    e.source_hash = hash;
    e.motivation = "Hand-written plugin from " + f.string() + ".";
    if (auto id = archive_->add_experiment(e)) say("#" + std::to_string(*id) + " " + e.name + ": hand-written plugin queued");
  }
}

std::vector<agents::Lineage> Loop::lineages() const {
  std::vector<agents::Lineage> out;
  for (const auto& e : archive_->experiments()) {
    agents::Lineage l;
    l.id = e.id;
    l.name = e.name;
    l.parent = e.parent;
    if (!e.design.empty())
      if (auto d = agents::design_from_json(e.design)) l.design = *d;
    if (auto s = archive_->score(e.id)) l.fitness = s->total;
    l.failed = e.status == "failed";
    l.fail_reason = e.fail_reason;
    out.push_back(std::move(l));
  }
  return out;
}

int Loop::evolved_done() const {
  int n = 0;
  for (const auto& e : archive_->experiments()) n += e.origin == archive::Origin::evolved && done_status(e.status);
  return n;
}

int Loop::evolved_pending() const {
  int n = 0;
  for (const auto& e : archive_->experiments()) n += e.origin == archive::Origin::evolved && !done_status(e.status);
  return n;
}

std::optional<int64_t> Loop::reference_id() const {
  for (const auto& e : archive_->experiments())
    if (e.origin == archive::Origin::baseline && e.name == "delta_net") return e.id;
  return std::nullopt;
}

std::optional<Metrics> Loop::baseline_metrics(const std::string& preset) const {
  auto id = reference_id();
  if (!id) return std::nullopt;
  auto e = archive_->experiment(*id);
  if (!e || !done_status(e->status)) return std::nullopt;
  return metrics_of(runs_on(*id, preset));
}

// DeltaNet's completed training curves on `preset`: the quality monitor's references.
std::map<std::string, lab::Reference> Loop::references_on(const std::string& preset) const {
  std::map<std::string, lab::Reference> refs;
  auto id = reference_id();
  if (!id) return refs;
  for (const auto& t : runs_on(*id, preset)) {
    if (t.stop_reason != "completed") continue;
    lab::Reference ref;
    for (const auto& p : t.curve) ref.curve.emplace_back(p[0].get<int64_t>(), p[1].get<double>());
    ref.seconds = t.config.value("train_seconds", t.seconds);
    refs[t.task] = ref;
  }
  return refs;
}

std::optional<int64_t> Loop::propose() {
  const auto began = std::chrono::steady_clock::now();
  // Candidates: scored designs that are not suspected of leakage.
  std::vector<std::pair<int64_t, double>> candidates;
  std::map<int64_t, agents::DesignRef> refs;
  for (const auto& l : lineages()) {
    if (!l.design || !l.fitness) continue;
    auto s = archive_->score(l.id);
    if (s && s->details.value("suspicious", false)) continue;
    candidates.emplace_back(l.id, *l.fitness);
    refs[l.id] = {l.id, l.name, *l.design, *l.fitness};
  }
  const auto count = archive_->experiments().size();
  std::mt19937_64 rng(c_.seed * 0x9E3779B97F4A7C15ULL + count);
  auto sel = archive::select(candidates, c_.selection, rng);
  if (!sel) return std::nullopt;
  agents::ResearchInput in;
  in.parent = refs[sel->parent];
  for (int64_t r : sel->references) in.references.push_back(refs[r]);
  in.effects = agents::aggregate_effects(lineages());
  auto known = [this](const std::string& canonical, const std::string& hash) {
    return archive_->find_duplicate(canonical, hash).has_value();
  };
  auto p = agents::propose(in, rng, known);
  if (!p) {
    err_ << "asiarch run: the Researcher: " << p.error().message << "\n";
    return std::nullopt;
  }
  archive::Experiment e;
  e.parent = sel->parent;
  e.references = sel->references;
  e.name = p->name;
  e.motivation = p->motivation;
  e.source = p->source;
  e.design = agents::to_json(p->design);
  e.canonical = p->canonical;
  e.source_hash = p->source_hash;
  e.origin = archive::Origin::evolved;
  auto id = archive_->add_experiment(e);
  if (!id) {
    err_ << "asiarch run: " << id.error().message << "\n";
    return std::nullopt;
  }
  proposed_at_[*id] = {began, std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count()};
  say("#" + std::to_string(*id) + " " + p->name + ": proposed. " + p->motivation);
  return *id;
}

Status Loop::start(int64_t id) {
  auto e = archive_->experiment(id);
  if (!e) return e.error();
  Running r;
  r.began = std::chrono::steady_clock::now();
  if (auto it = proposed_at_.find(id); it != proposed_at_.end()) {
    r.began = it->second.first;
    r.propose_seconds = it->second.second;
    proposed_at_.erase(it);
  }
  r.id = id;
  r.name = e->name;
  r.job = base_job_;
  r.job.name = std::to_string(id) + "-" + e->name + ".cpp";
  r.job.max_attempts = e->origin == archive::Origin::baseline ? 1 : c_.max_repair_attempts;
  if (!is_reference(id)) r.job.references = references_on(c_.preset);
  if (spare_) {
    r.handle = std::move(*spare_);
    spare_.reset();
    if (auto st = assign_job(r.handle, r.job, e->source); !st) {
      cancel_job(r.handle);
      return st.error();
    }
  } else {
    auto h = start_job(r.job, e->source, next_slot(), settings_);
    if (!h) return h.error();
    r.handle = std::move(*h);
  }
  say("#" + std::to_string(id) + " " + e->name + ": started (" + to_string(e->origin) + ")");
  running_.push_back(std::move(r));
  return Ok{};
}

// What a worker's outcome means for the archive: attempts, gates, runs,
// status and the reason for a failure. Score, analysis and timing are added by the caller.
archive::Outcome interpret(const WorkerOutcome& o, const WorkerJob& job) {
  archive::Outcome rec;
  for (const auto& a : o.result.attempts) {
    archive::CompileAttempt ca;
    ca.attempt = a.number;
    ca.source = a.source;
    ca.diagnostics = a.outcome.diagnostics;
    ca.ok = a.outcome.ok;
    ca.seconds = a.seconds;
    ca.method = a.method;
    ca.answered = a.answered;
    ca.diff = a.diff;
    rec.attempts.push_back(std::move(ca));
  }
  const lab::EvalReport* report = o.result.report ? &*o.result.report : nullptr;
  if (report) {
    for (const auto& g : report->gates) rec.gates.push_back({g.name, g.passed, g.reason, g.details});
    rec.runs = training_runs(*report, job);
  }
  rec.status = "failed";
  if (!o.failure.empty()) {
    rec.fail_reason = o.failure;
  } else if (!o.result.built) {
    rec.fail_reason = "did not build after " + std::to_string(o.result.attempts.size()) + " attempt(s)" +
                      (o.result.gave_up.empty() ? "" : ": " + o.result.gave_up);
  } else if (!report) {
    rec.fail_reason = o.result.error.empty() ? "no report" : o.result.error;
  } else if (!report->gates_passed) {
    for (const auto& g : report->gates)
      if (!g.passed) {
        rec.fail_reason = "gate " + g.name + " failed: " + g.reason;
        break;
      }
  } else {
    rec.status = "scored";
  }
  return rec;
}

// The Judge and ASI-Arch's fitness, against DeltaNet's metrics on the same preset.
archive::Score score(const lab::EvalReport& report, const std::vector<archive::TrainingRun>& runs, const Metrics& base,
                     int64_t reference_parameters, std::optional<double> novelty) {
  agents::JudgeInputs ji;
  ji.report = &report;
  ji.reference_parameters = reference_parameters ? reference_parameters : report.mixer_parameters;
  ji.novelty = novelty;
  const auto judgement = agents::judge(ji);
  auto in = fitness_inputs(metrics_of(runs), base);
  in.judge = judgement.score;
  const auto f = agents::fitness(in);
  archive::Score s{f.loss_score, f.bench_score, f.judge_score, f.total, agents::to_json(f)};
  s.details["judge"] = judgement.parts;
  s.details["judge_score_1_10"] = judgement.score;
  if (in.loss) s.details["loss"] = *in.loss;
  if (in.baseline_loss) s.details["baseline_loss"] = *in.baseline_loss;
  if (in.accuracy) s.details["accuracy"] = *in.accuracy;
  if (in.baseline_accuracy) s.details["baseline_accuracy"] = *in.baseline_accuracy;
  return s;
}

void Loop::finish(Running& r, const WorkerOutcome& o) {
  archive::Outcome rec = interpret(o, r.job);
  const lab::EvalReport* report = o.result.report ? &*o.result.report : nullptr;
  auto all = lineages();
  agents::Lineage self;
  for (const auto& l : all)
    if (l.id == r.id) self = l;
  if (rec.status == "scored") {
    const Metrics base = is_reference(r.id) ? metrics_of(rec.runs) : baseline_metrics().value_or(Metrics{});
    std::optional<double> novelty;
    if (self.design) {
      double nearest = 1.0;
      for (const auto& l : all)
        if (l.id != r.id && l.design) nearest = std::min(nearest, agents::distance(*self.design, *l.design));
      novelty = nearest;
    }
    rec.score = score(*report, rec.runs, base, base_job_.reference_parameters, novelty);
    self.fitness = rec.score->total;
  }
  self.failed = rec.status == "failed";
  self.fail_reason = rec.fail_reason;
  for (auto& l : all)
    if (l.id == r.id) l = self;
  if (self.parent) {
    auto analysis = agents::analyse(self, all);
    rec.analysis_text = analysis.text;
    rec.insights = analysis.insights;
  }
  // Where the time went: the loop's own overhead is wall - compile - lab.
  double compile = 0;
  for (const auto& a : rec.attempts) compile += a.seconds;
  const double lab = report ? report->seconds : 0.0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.began).count();
  rec.timing = {{"wall", wall},         {"compile", compile},           {"lab", lab},
                {"worker", o.exit.seconds}, {"propose", r.propose_seconds}, {"overhead", wall - compile - lab}};
  if (auto st = archive_->record_outcome(r.id, rec); !st) {
    err_ << "asiarch run: " << st.error().message << "\n";
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(workdir_ / "logs", ec);
  std::filesystem::copy_file(o.scratch / "worker.log", workdir_ / "logs" / (std::to_string(r.id) + ".log"),
                             std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::remove_all(o.scratch, ec);
  std::string line = "#" + std::to_string(r.id) + " " + r.name + ": ";
  if (rec.score)
    line += "fitness " + fmt(rec.score->total) + " (loss " + fmt(rec.score->loss_score) + ", benchmarks " +
            fmt(rec.score->bench_score) + ", judge " + fmt(rec.score->judge_score) + ")";
  else
    line += "FAILED: " + rec.fail_reason;
  say(line);
}

void Loop::summary(bool interrupted) {
  // The program as the user can type it from here.
  std::error_code rel_ec;
  std::string prog = std::filesystem::relative(self_executable(), std::filesystem::current_path(), rel_ec).string();
  if (rel_ec || prog.empty() || prog.rfind("..", 0) == 0) prog = self_executable();
  else if (prog.find('/') != std::string::npos) prog = "./" + prog;
  auto top = archive_->top(10);
  out_ << "\n" << (interrupted ? "stopped" : "done") << ": " << evolved_done() << "/" << c_.budget
       << " evolved experiments in " << workdir_.string() << "\n\n";
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-5s %-40s %-12s %8s %6s %6s %6s\n", "id", "name", "origin", "fitness", "loss",
                "bench", "judge");
  out_ << buf;
  for (const auto& [id, total] : top) {
    auto e = archive_->experiment(id);
    auto s = archive_->score(id);
    if (!e || !s) continue;
    std::snprintf(buf, sizeof buf, "  %-5lld %-40s %-12s %8.3f %6.3f %6.3f %6.3f\n", static_cast<long long>(id),
                  e->name.substr(0, 40).c_str(), to_string(e->origin), total, s->loss_score, s->bench_score,
                  s->judge_score);
    out_ << buf;
  }
  int failed = 0;
  for (const auto& e : archive_->experiments()) failed += e.status == "failed";
  bool header = false;
  for (const auto& e : archive_->experiments())
    for (const auto& st : archive_->stages(e.id)) {
      if (!header) out_ << "\nsecond stage:\n";
      header = true;
      auto s1 = archive_->score(e.id);
      out_ << "  #" << e.id << " " << e.name << " on " << st.preset << ": "
           << (st.status == "scored" ? "fitness " + fmt(st.score.total) : "FAILED: " + st.fail_reason)
           << (s1 ? " (first stage " + fmt(s1->total) + ")" : "") << "\n";
    }
  if (failed) out_ << "  (" << failed << " failed; `" << prog << " ls --workdir " << c_.workdir << "` lists them)\n";
  // The best evolved design, else the best of all.
  std::optional<int64_t> best;
  for (const auto& [id, total] : archive_->top(1000)) {
    auto e = archive_->experiment(id);
    if (e && e->origin == archive::Origin::evolved) {
      best = id;
      break;
    }
  }
  if (!best && !top.empty()) best = top.front().first;
  if (best) {
    auto e = archive_->experiment(*best);
    const auto path = workdir_ / "best" / (e->name + ".cpp");
    (void)write_file_atomic(path, e->source);
    out_ << "\nbest design: #" << *best << " " << e->name << ", source in " << path.string() << "\n"
         << "inspect it:  " << prog << " show " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " history " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " lineage " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " top --workdir " << c_.workdir << "\n";
  }
  if (interrupted) out_ << "re-run the same command to resume\n";
}

bool Loop::promote() {
  if (c_.promote <= 0) return true;
  say("second stage: the best " + std::to_string(c_.promote) + " evolved design(s) and DeltaNet on " +
      c_.promote_preset + " (Ctrl-C stops; re-running resumes)");
  std::vector<int64_t> ids;
  if (auto dn = reference_id()) ids.push_back(*dn);  // the reference first
  for (const auto& [id, total] : archive_->top(1000000)) {
    if (static_cast<int>(ids.size()) > c_.promote) break;
    auto e = archive_->experiment(id);
    auto s = archive_->score(id);
    if (e && e->origin == archive::Origin::evolved && s && !s->details.value("suspicious", false)) ids.push_back(id);
  }
  for (int64_t id : ids) {
    bool done = false;
    for (const auto& st : archive_->stages(id)) done = done || st.preset == c_.promote_preset;
    if (!done && !evaluate_stage(id, c_.promote_preset)) return false;
  }
  return true;
}

bool Loop::evaluate_stage(int64_t id, const std::string& preset) {
  auto e = archive_->experiment(id);
  if (!e) return true;
  std::string source = e->source;  // the Engineer's final, built source when there is one
  for (const auto& a : archive_->compile_attempts(id))
    if (a.ok) source = a.source;
  WorkerJob job = base_job_;
  job.preset = preset;
  job.name = std::to_string(id) + "-" + e->name + ".cpp";
  job.max_attempts = 1;
  job.reference_parameters = 0;  // the worker counts DeltaNet's at this preset's width
  if (!is_reference(id)) job.references = references_on(preset);
  say("#" + std::to_string(id) + " " + e->name + ": promoted to " + preset);
  auto h = start_job(job, source, next_slot(), settings_);
  if (!h) {
    err_ << "asiarch run: #" << id << ": " << h.error().message << "\n";
    return true;
  }
  std::optional<WorkerOutcome> o;
  while (!o) {
    if (g_stop_signal.load()) {
      cancel_job(*h);
      return false;
    }
    for (const auto& line : progress_lines(*h)) say("#" + std::to_string(id) + " " + e->name + " [" + preset + "]: " + line);
    o = poll_job(*h);
    if (!o) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  archive::Outcome rec = interpret(*o, job);
  archive::StageResult st;
  st.preset = preset;
  st.runs = rec.runs;
  st.status = rec.status;
  st.fail_reason = rec.fail_reason;
  st.score = {0, 0, 0, 0, nlohmann::json::object()};
  if (rec.status == "scored") {
    const Metrics base = is_reference(id) ? metrics_of(rec.runs) : baseline_metrics(preset).value_or(Metrics{});
    st.score = score(*o->result.report, rec.runs, base, o->result.reference_parameters, std::nullopt);
  }
  if (auto r = archive_->record_stage(id, st); !r) err_ << "asiarch run: " << r.error().message << "\n";
  std::error_code ec;
  std::filesystem::copy_file(o->scratch / "worker.log",
                             workdir_ / "logs" / (std::to_string(id) + "-" + preset + ".log"),
                             std::filesystem::copy_options::overwrite_existing, ec);
  std::filesystem::remove_all(o->scratch, ec);
  say("#" + std::to_string(id) + " " + e->name + " [" + preset + "]: " +
      (st.status == "scored" ? "fitness " + fmt(st.score.total) : "FAILED: " + st.fail_reason));
  return true;
}

int Loop::run() {
  if (auto st = setup(); !st) {
    err_ << "asiarch run: " << st.error().message << "\n";
    return 1;
  }
  SignalScope signals;
  seed_experiments();
  adopt_hand_written();
  say("budget: " + std::to_string(c_.budget) + " evolved experiments (" + std::to_string(evolved_done()) +
      " done); preset " + c_.preset + "; " + std::to_string(c_.workers) + " worker(s)");
  bool interrupted = false;
  bool refill = true;
  for (;;) {
    if (g_stop_signal.load()) {
      interrupted = true;
      break;
    }
    // Fill the workers: interrupted or queued experiments first, then new proposals.
    // The archive is read only when something changed: at the start and after each finish.
    while (refill && static_cast<int>(running_.size()) < c_.workers) {
      std::optional<int64_t> next;
      // Fitness is measured against DeltaNet: it goes first, the rest wait for it.
      const bool have_reference = baseline_metrics().has_value() || !reference_id();
      for (int64_t id : archive_->with_status("proposed")) {
        bool busy = failed_to_start_.count(id) > 0;
        for (const auto& r : running_) busy = busy || r.id == id;
        if (!busy && (have_reference || is_reference(id))) {
          next = id;
          break;
        }
      }
      // Evolved proposals wait for the baseline that fitness is measured against.
      if (!next && evolved_done() + evolved_pending() < c_.budget && have_reference) next = propose();
      if (!next) break;
      if (auto st = start(*next); !st) {
        err_ << "asiarch run: #" << *next << ": " << st.error().message << "\n";
        failed_to_start_.insert(*next);
      }
    }
    if (refill) {
      refill = false;
      // Start-up of the next worker overlaps this one's training.
      if (!spare_ && (evolved_done() + evolved_pending() < c_.budget ||
                      archive_->with_status("proposed").size() > running_.size()))
        keep_a_spare();
    }
    if (running_.empty()) break;
    for (size_t i = 0; i < running_.size();) {
      Running& r = running_[i];
      for (const auto& line : progress_lines(r.handle)) say("#" + std::to_string(r.id) + " " + r.name + ": " + line);
      if (auto o = poll_job(r.handle)) {
        finish(r, *o);
        running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
        adopt_hand_written();
        refill = true;
      } else {
        ++i;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (spare_) {
    cancel_job(*spare_);
    std::error_code ec;
    std::filesystem::remove_all(spare_->scratch, ec);
    spare_.reset();
  }
  if (interrupted) {
    // Unfinished experiments stay "proposed" and are evaluated again on resume.
    for (auto& r : running_) {
      cancel_job(r.handle);
      say("#" + std::to_string(r.id) + " " + r.name + ": stopped; it will be evaluated again on resume");
    }
    running_.clear();
  }
  if (!interrupted && evolved_done() >= c_.budget) interrupted = !promote();
  summary(interrupted);
  return interrupted ? 130 : 0;
}

}  // namespace

int run_discovery(const RunConfig& config, std::ostream& out, std::ostream& err) {
  Loop loop(config, out, err);
  return loop.run();
}

}  // namespace asiarch::host
