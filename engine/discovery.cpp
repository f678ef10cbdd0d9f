#include "engine/discovery.h"
#include "util/format.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <limits>
#include <list>
#include <memory>
#include <ostream>
#include <set>
#include <thread>

#include "archive/archive.h"
#include "agents/views.h"
#include "archive/views.h"
#include "engine/candidate.h"
#include "engine/drop_folder.h"
#include "engine/events.h"
#include "exec/executor.h"
#include "exec/worker_pool.h"
#include "worker/jit_context.h"
#include "engine/knowledge.h"
#include "engine/llm_calls.h"
#include "engine/proposal_desk.h"
#include "worker/lab_setup.h"
#include "results/ladder.h"
#include "results/replicates.h"
#include "results/report.h"
#include "config/run_settings.h"
#include "engine/scoring.h"
#include "jit/compiler.h"
#include "jit/cuda.h"
#include "jit/toolchain.h"
#include "lab/device.h"
#include "lab/presets.h"
#include "lab/tasks.h"
#include "lab/stats.h"
#include "util/files.h"
#include "util/similarity.h"

namespace asiarch::host {
namespace {

bool done_status(archive::ExperimentStatus s) { return s != archive::ExperimentStatus::proposed; }

// A proposal this alike (renaming aside) to an archived source is a near-duplicate.
constexpr double kNearDuplicate = 0.95;
// Proposals that fail in a row (no answer that could be used) before the run stops asking.
constexpr int kMaxFailedProposals = 3;

// What a role reads of an experiment's results: per-task metrics, the fitness parts, the gates.
nlohmann::json results_json(const std::vector<archive::TrainingRun>& runs, const std::vector<archive::GateRecord>& gates,
                            const std::optional<archive::Score>& score) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& r : runs) {
    auto& t = j["tasks"][r.task];
    t[r.metric_name] = r.metric;
    if (r.final_loss) t["final_loss"] = *r.final_loss;
    t["stop"] = r.stop_reason;
    t["tokens_per_second"] = r.tokens_per_second;
  }
  for (const auto& g : gates) {
    j["gates"][g.name] = {{"passed", g.passed}, {"reason", g.reason}};
    if (g.name == "parameter_budget" && g.details.is_object() && g.details.contains("parameters"))
      j["parameters"] = {{"mixer", g.details.value("parameters", int64_t{0})},
                         {"model", g.details.value("model_parameters", int64_t{0})}};
  }
  if (score)
    j["fitness"] = {{"total", score->total},
                    {"loss_score", score->loss_score},
                    {"bench_score", score->bench_score},
                    {"judge_score", score->judge_score}};
  return j;
}

// A candidate in flight and when its clock started.
struct InFlight {
  std::unique_ptr<CandidateRun> run;
  std::chrono::steady_clock::time_point began;  // proposal (evolved) or start
  double propose_seconds = 0;
  // A design that beat the reference is evaluated once more in a fresh worker (`run` then) before
  // it is recorded; its first run and scored outcome wait here.
  std::unique_ptr<CandidateRun> first;
  std::optional<archive::Outcome> first_outcome;
  // Replicated scores (`seeds` > 1): after the first seed's evaluation, the built source is trained
  // on the next seeds in turn (`run` then); the first seed's run waits here. Every seed's metrics
  // are collected in `measurements`.
  std::unique_ptr<CandidateRun> seed0;
  std::vector<archive::Measurement> measurements;
  int seeds_started = 1;
  std::vector<std::string> seed_failures;
  std::string gpu;  // the GPU its workers see (--gpus), empty: none assigned
  // Compile and lab time of its further seeds and its recheck: part of where its wall time went.
  double more_compile = 0, more_lab = 0, more_gates = 0, more_worker = 0;
  double recheck_lab = 0;  // of more_lab: the recheck's evaluation, its gates excluded
  void count(const CandidateRun& r) {
    more_compile += r.compile_seconds();
    more_lab += r.lab_seconds();
    more_gates += r.gates_seconds();
    more_worker += r.worker_seconds();
  }
  // An LLM Judge or Analyst asked beside the loop (llm.proposals_ahead > 0): the outcome, and the
  // events to record with it, wait here for the answer. Declared last, so that a run stopped
  // while a call is out waits for the (aborted) call before the run it reads is destroyed.
  std::optional<archive::Outcome> pending;
  std::vector<archive::Event> pending_events;
  std::future<agents::Judgement> judging;
  std::future<agents::AnalystReport> analysing;
  // While analysed it holds no worker: nothing follows the analysis but recording. While judged it
  // keeps its worker (and GPU), since a recheck may follow on them.
  bool holds_a_worker() const { return !analysing.valid(); }
};

template <typename T>
bool ready(const std::future<T>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// The one eligibility rule: a design may be built upon (a parent, a reference) or promoted (a rung,
// the held-out tasks) only when its score is not flagged as suspicious by the reward-hacking checks.
// Baselines may be parents; they are never promoted, being every rung's fixed points.
bool trusted(const archive::Score& s) { return !s.suspicious; }

// One design's evaluation on a rung or the held-out tasks: its seeds in turn (a later seed only
// once the first scored), then one recorded stage.
struct StageRun {
  CandidateSpec spec;  // the design on the stage's preset, at its first seed
  int k = 0;           // the seed in flight: spec.job.seed + k
  std::unique_ptr<CandidateRun> run;
  archive::StageResult st;  // st.preset: the stage's preset
  std::optional<WorkerOutcome> report;
  std::vector<std::string> seed_failures;
  std::string log;
};

class Loop {
 public:
  Loop(const RunConfig& c, std::ostream& out, std::ostream& err, const CancelToken& cancel, LoopControl* control)
      : c_(c), given_(c), out_(out), err_(err), cancel_(cancel), control_(control), text_(out), jsonl_(out) {}
  int run();

 private:
  Status setup();
  void seed_experiments();
  bool adopt_hand_written();
  std::optional<DropFolder> drop_;
  // Asks the Researcher and waits (an offline Researcher, or llm.proposals_ahead 0).
  std::optional<int64_t> propose();
  // Draws a parent and prepares what the Researcher is asked with; none when no parent can be drawn.
  std::optional<ProposalRequest> prepare_proposal();
  // Records an answer as an experiment, or why not; `again` when it was refused as a duplicate
  // and should be asked for again (the reason is in the request's rejections).
  std::optional<int64_t> accept_proposal(ProposalRequest& r, Result<agents::Proposal> p, bool beside, bool& again);
  // The Researcher beside the loop: takes a finished answer, posts the next request while fewer
  // proposals are ready than free workers plus llm.proposals_ahead; true when an experiment was proposed.
  bool ask_beside();
  Status start(int64_t id);
  // Records a finished candidate; false when it started a recheck instead (keep it in flight).
  bool finish(InFlight& f);
  // After the Judge's judgement: the score, then a recheck or the analysis; false while in flight.
  bool judged(InFlight& f, archive::Outcome rec, const agents::Judgement& judgement);
  // The Analyst (if the design has a parent), then recording; false while the Analyst is asked.
  bool analyse_and_record(InFlight& f, archive::Outcome rec);
  // Records the outcome with `ev`, and the analysis (an `analysed` event) when there is one.
  bool record(InFlight& f, archive::Outcome rec, std::vector<archive::Event> ev,
              std::optional<agents::AnalystReport> analysis = std::nullopt);
  // The Judge and the Analyst are asked beside the loop when they are LLM roles and the run asks
  // ahead (llm.proposals_ahead > 0); with 0 every call is in the loop, as each one's order matters.
  bool judge_beside() const { return c_.llm.proposals_ahead > 0 && agents_.llm && c_.agents.judge == "llm"; }
  bool analyst_beside() const { return c_.llm.proposals_ahead > 0 && agents_.llm && c_.agents.analyst == "llm"; }
  int workers_held() const {
    return static_cast<int>(std::count_if(running_.begin(), running_.end(), [](const InFlight& f) { return f.holds_a_worker(); }));
  }
  bool start_recheck(InFlight& f, archive::Outcome rec);
  // Starts the next seed's evaluation of a design whose first seed scored; false when all ran.
  bool start_replica(InFlight& f);
  void compare_recheck(archive::Outcome& first, const archive::Outcome& again, int64_t id);
  // The one scoring of a design measured on seeds of `preset`: fitness on the mean over its seeds,
  // the reward-hacking flags against the best baseline, and (replicated) the seed count, the failed
  // seeds and the verdict against the reference, paired by seed. Every stage scores through it.
  archive::Score score_seeds(int64_t id, const std::string& preset, const agents::Judgement& judgement,
                             const std::vector<archive::TrainingRun>& runs,
                             const std::vector<archive::Measurement>& measurements,
                             const std::vector<std::string>& seed_failures, bool replicated);
  void summary(bool interrupted);
  // Fails each experiment that was being evaluated when the host died, twice in a row.
  void fail_poison_pills();
  // What fitness on `preset` measures against (engine/scoring.h): on the run's preset, the
  // fitness_reference baseline once every baseline of the run is done; on the rungs and the
  // held-out tasks, DeltaNet at ASI-Arch's scale. nullopt while it is not known.
  std::optional<FitnessBase> fitness_base() const { return fitness_base(c_.preset); }
  std::optional<FitnessBase> fitness_base(const std::string& preset) const;
  // DeltaNet's metrics on `preset` once it is done: the base of the rungs, and of the run's
  // baselines until every one is measured.
  std::optional<FitnessBase> reference_base(const std::string& preset) const;
  // Whether DeltaNet is done (scored or failed): a status, no measurements read.
  bool reference_done() const;
  // Once the base is known, every score on the run's preset is scored against it (the baselines
  // measured before were scored against DeltaNet); once per process, so a resumed run too.
  void rebase_scores();
  bool rebased_ = false;
  mutable std::optional<FitnessBase> base_;  // fitness_base() once known: the baselines are done
  // An experiment's metrics on `preset`: the mean over its seeds.
  Metrics metrics_on(int64_t id, const std::string& preset) const;
  // What the reward-hacking flags compare with: the best of the run's scored baselines on
  // `preset`, metric by metric, and `own` too when `id` is a baseline (a baseline is no leak).
  Metrics flag_bound(int64_t id, const std::string& preset, const Metrics& own) const;
  std::optional<int64_t> reference_id() const;
  // The reference, then the archived `stage_baselines`: the fixed points of every rung and of the held-out tasks.
  std::vector<int64_t> stage_baseline_ids() const;
  // The names of the first `n` of `ids`, for notes.
  std::string names_of(const std::vector<int64_t>& ids, size_t n) const {
    std::vector<std::string> names;
    for (size_t i = 0; i < n && i < ids.size(); ++i)
      if (auto e = archive_->experiment(ids[i])) names.push_back(e->name);
    return join(names);
  }
  std::vector<archive::TrainingRun> runs_on(int64_t id, const std::string& preset) const {
    std::vector<archive::TrainingRun> out;
    for (auto& r : archive_->training_runs(id))
      if (r.preset == preset) out.push_back(std::move(r));
    return out;
  }
  std::map<std::string, lab::Reference> references_on(const std::string& preset) const;
  bool promote();
  bool held_out_report();
  // Scored designs that are not baselines and whose score is trusted, best first.
  std::vector<int64_t> promotable() const {
    std::vector<int64_t> out;
    for (const auto& [id, total] : archive_->top(1000000)) {
      auto e = archive_->experiment(id);
      auto s = archive_->score(id);
      if (e && e->origin != archive::Origin::baseline && s && trusted(*s)) out.push_back(id);
    }
    return out;
  }
  std::vector<std::string> rungs() const;
  std::optional<double> fitness_on(int64_t id, const std::string& preset) const {
    return host::fitness_on(*archive_, id, preset, c_.preset);
  }
  // Evaluates each of `ids` not yet evaluated on `preset` with `stage_seeds` seeds from
  // `first_seed`, as many at once as there are workers, and records each as a stage; false when
  // cancelled (what finished is kept: re-running resumes).
  bool evaluate_stages(const std::vector<int64_t>& ids, const std::string& preset, std::uint64_t first_seed);
  std::optional<StageRun> begin_stage(int64_t id, const std::string& preset, std::uint64_t first_seed);
  void start_stage_seed(StageRun& r);
  // Takes a finished seed; true when the design's stage is complete, else its next seed started.
  bool stage_seed_done(StageRun& r);
  void record_stage(StageRun& r);
  // Every experiment as the roles see it; `suspicious` collects those whose score is flagged.
  std::vector<agents::ExperimentView> views(std::set<int64_t>* suspicious = nullptr) const;
  int evolved_done() const;
  int evolved_pending() const;
  bool is_reference(int64_t id) const { return reference_id() == id; }
  int seeds_for(int64_t id) const;  // seeds an experiment of the run's preset is trained on
  void note(const std::string& text) { events_->emit("note", std::nullopt, {{"text", text}}); }
  CandidateDeps deps() {
    return {*pool_, *executor_, *agents_.engineer, *events_, *toolchain_, agents_.llm && c_.agents.engineer == "llm"};
  }
  // A candidate of `e` with `source`, on the run's job. The name is part of the object's cache key:
  // the same source under the same name compiles once.
  CandidateSpec spec_for(const archive::Experiment& e, const std::string& source) const {
    CandidateSpec spec;
    spec.id = e.id;
    spec.name = e.name;
    spec.source = source;
    spec.job = base_job_;
    spec.job.experiment = e.id;
    spec.job.name = e.name + ".cpp";
    return spec;
  }
  // The same candidate again from the source it built, with no repair: a further seed or a recheck.
  static CandidateSpec rerun_of(const CandidateRun& from) {
    CandidateSpec spec = from.spec();
    spec.source = from.built_source();
    spec.max_repair_attempts = 1;
    spec.max_runtime_revisions = 0;
    spec.job.early_stop = false;  // a design already scored: its further runs are measurements, not a race
    return spec;
  }

  RunConfig c_;
  RunConfig given_;  // as given, before setup resolved defaults: what a reload is compared with
  std::ostream& out_;
  std::ostream& err_;
  const CancelToken& cancel_;
  LoopControl* control_;
  bool was_paused_ = false;
  // Tells the control (when there is one) what the loop is doing; notices pause and resume.
  void publish(const std::string& state);
  bool paused();
  // Applies what can change in a running loop from a configuration re-read on SIGHUP.
  void reload(const Result<RunConfig>& next);
  TextSink text_;
  JsonlSink jsonl_;
  std::filesystem::path workdir_;
  std::unique_ptr<archive::Archive> archive_;
  std::unique_ptr<EventLog> events_;
  agents::Agents agents_;
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<Executor> executor_;
  std::optional<jit::Toolchain> toolchain_;
  int lock_fd_ = -1;
  WorkerJob base_job_;
  std::list<InFlight> running_;
  std::set<int64_t> failed_to_start_;
  std::map<int64_t, std::pair<std::chrono::steady_clock::time_point, double>> proposed_at_;
  std::unique_ptr<ArchiveCallLog> calls_ = std::make_unique<ArchiveCallLog>();
  int failed_proposals_ = 0;
  std::string last_proposal_failure_;
  bool budget_noted_ = false;
  bool test_only_ = false;  // the preset is for tests (smoke): said at the start and in the summary
  bool preset_stops_early_ = false;  // the run's preset has points where early stopping checks (monitor.stop_at)
  // Fills what a proposal's parent and references are read with.
  void describe(agents::ExperimentView& v) const;
  // The reference (DeltaNet) and the strongest other scored baseline, described: what the Judge
  // weighs a design against.
  std::vector<agents::ExperimentView> comparisons(const std::vector<agents::ExperimentView>& all) const;
  // The model and parameter budget in numbers, for the Researcher (the preset's; the whole model's
  // count once DeltaNet's parameter gate has measured it).
  agents::Contract contract() const;
  agents::Contract contract_;  // the preset's part, set in setup
  std::optional<std::string> duplicate_of(const agents::Proposal& p, const std::vector<agents::ExperimentView>& all,
                                          nlohmann::json& details) const;
  // Whether the LLM roles may be asked now; says so in the events when that changes.
  bool llm_available();
  // Turns what the LLM breaker did into llm_paused / llm_resumed events.
  void breaker_events();
  bool consider_asking_ = true;
  std::chrono::steady_clock::time_point next_consideration_{};
  // Last: destroyed first, while the roles, the call log and the archive it reaches still exist.
  std::unique_ptr<ProposalDesk> desk_;
};

Status Loop::setup() {
  // Everything that can be refused without touching the disk first.
  if (c_.fitness_reference != kStrongestBaseline &&
      std::find(c_.baselines.begin(), c_.baselines.end(), c_.fitness_reference) == c_.baselines.end())
    return make_error("fitness_reference: \"" + c_.fitness_reference + "\" is not one of the run's baselines (" +
                      join(c_.baselines, ", ") + "); name one of them or \"" + kStrongestBaseline + "\"");
  if (!c_.gpus.empty()) {
    const std::string listed = join(c_.gpus, ",");
    if (!lab::torch_build().cuda)
      return make_error("gpus: " + listed + " asked for, but " + lab::gpu_unusable() + ", or leave --gpus out");
    auto devices = jit::cuda_device_count();
    if (!devices)
      return make_error("gpus: " + listed + " asked for, but no CUDA device can be used here (" + devices.error().message +
                        "); leave --gpus out to run on the CPU");
    std::set<std::string> seen;
    for (const auto& g : c_.gpus) {
      const bool index = !g.empty() && g.size() < 4 && std::all_of(g.begin(), g.end(), ::isdigit);
      if (!index && g.rfind("GPU-", 0) != 0 && g.rfind("MIG-", 0) != 0)
        return make_error("gpus: \"" + g + "\" is neither a device index nor a GPU-/MIG- UUID");
      if (index && std::stoi(g) >= *devices)
        return make_error("gpus: device " + g + " does not exist: this machine has " + std::to_string(*devices) +
                          " CUDA device(s), 0 to " + std::to_string(*devices - 1));
      if (!seen.insert(g).second) return make_error("gpus: " + g + " is listed twice");
    }
    c_.workers = static_cast<int>(c_.gpus.size());
  }
  auto agents = agents::make_agents(c_.agents, c_.llm, calls_.get());
  if (!agents) return agents.error();
  agents_ = std::move(*agents);
  c_.agents = agents_.backends;
  if (agents_.llm && c_.agents.researcher == "llm" && c_.llm.proposals_ahead > 0)
    desk_ = std::make_unique<ProposalDesk>(*agents_.researcher);
  // The pool starts nothing until asked, so the executor is made (or refused) before the disk is touched.
  workdir_ = std::filesystem::absolute(c_.workdir);
  base_job_.cache_dir = c_.cache_dir.empty() ? jit::default_cache_dir().string() : c_.cache_dir;
  WorkerSettings settings;
  settings.gpu = !c_.gpus.empty();
  settings.limits = c_.limits;
  settings.stage_limits = c_.stage_limits;
  settings.cache_dir = base_job_.cache_dir;  // spare workers set their JIT up while they wait
  settings.task_cache = std::make_shared<TaskCache>();  // every experiment trains on the same tasks
  // What workers read besides the system and the cache: the baselines and the presets file.
  settings.readable.emplace_back(c_.baselines_dir.empty() ? default_baselines_dir() : c_.baselines_dir);
  if (!c_.presets_file.empty()) settings.readable.push_back(std::filesystem::absolute(c_.presets_file));
  pool_ = std::make_unique<WorkerPool>(settings, workdir_ / "scratch");
  ExecutorOptions eo;
  eo.slurm = c_.slurm;
  eo.built_object = [this](const WorkerJob& job, const std::string& source) {
    if (!toolchain_) return std::filesystem::path();
    return toolchain_->shared_object_dir() / (jit::object_cache_key(*toolchain_, job.name, source) + ".o");
  };
  auto ex = make_executor(c_.executor, *pool_, eo);
  if (!ex) return ex.error();
  executor_ = std::move(*ex);

  std::error_code ec;
  std::filesystem::create_directories(workdir_, ec);
  if (ec) return make_error(workdir_.string() + ": cannot create the workdir: " + ec.message());
  if (::access(workdir_.c_str(), W_OK | X_OK) != 0)
    return make_error(workdir_.string() + ": the workdir is not writable: " + std::strerror(errno));
  lock_fd_ = ::open((workdir_ / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return make_error((workdir_ / ".lock").string() + ": " + std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return make_error(workdir_.string() + ": another asiarch run is using this workdir");

  auto preset = load_preset_arg(c_.preset, c_.presets_file);
  if (!preset) return preset.error();
  auto selected = lab::select_tasks(*preset, c_.tasks);
  if (!selected) return selected.error();
  test_only_ = test_only(*preset);
  preset_stops_early_ = preset->monitor.early_stop && !preset->monitor.stop_at.empty();
  // What each design is trained and scored on, for the Researcher (settings, not the data).
  contract_.tasks = "trained " + std::to_string(preset->train.steps) + " steps per task (batch " +
                    std::to_string(preset->train.batch_size) + ", AdamW, peak lr " + format_number(preset->train.lr) +
                    "), in float32, then scored on held-apart test examples:\n";
  for (const auto& [name, params] : *selected) {
    std::string settings;
    for (const auto& [k, v] : params.items())
      if (k != "train_examples" && k != "test_examples" && k != "corpus")
        settings += (settings.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
    contract_.tasks += "  - " + name + ": " + lab::task_description(name) + (settings.empty() ? "" : " (" + settings + ")") + "\n";
  }
  contract_.d_model = preset->model.d_model;
  contract_.num_heads = preset->model.num_heads;
  contract_.num_layers = preset->model.num_layers;
  contract_.tolerance = preset->parameter_tolerance;
  if (c_.promote < 0) c_.promote = c_.preset == "explore" ? 2 : 0;  // ASI-Arch's two stages: explore, then verify
  if (auto st = archive::check(c_.selection); !st) return st.error();
  if (!(c_.promote_share > 0 && c_.promote_share <= 1))
    return make_error("promote_share: " + format_number(c_.promote_share) + " is not a share: give a number in (0, 1]");
  for (const auto& b : c_.stage_baselines)
    if (std::find(c_.baselines.begin(), c_.baselines.end(), b) == c_.baselines.end())
      return make_error("stage_baselines: " + b + " is not among the run's baselines (" + join(c_.baselines, ",") + ")");
  for (const auto& rung : rungs()) {
    const std::string key = c_.ladder.empty() ? "promote_preset" : "ladder";
    auto p2 = load_preset_arg(rung, c_.presets_file);
    if (!p2) return make_error(key + ": " + p2.error().message);
    if (auto t = lab::select_tasks(*p2, c_.tasks); !t) return make_error(key + ": " + rung + ": " + t.error().message);
  }
  auto a = archive::Archive::open(workdir_ / "archive.db");
  if (!a) return a.error();
  archive_ = std::move(*a);
  // The ladder this run climbs, stored: the summary and `asiarch ladder` read rung order from it.
  std::vector<std::string> ladder{c_.preset};
  for (const auto& rung : rungs()) ladder.push_back(rung);
  if (auto st = archive_->set_ladder(ladder); !st) return st.error();
  std::vector<EventSink*> sinks;
  if (c_.events == "jsonl") sinks.push_back(&jsonl_);
  else if (!c_.quiet) sinks.push_back(&text_);
  if (control_ && control_->log) sinks.push_back(control_->log);
  events_ = std::make_unique<EventLog>(*archive_, sinks);
  calls_->bind(archive_.get(), events_.get());
  // llm.budget_usd is for the workdir, not for this process: what earlier runs spent counts.
  if (agents_.llm) agents_.llm->add_earlier_spend(archive_->llm_spent_usd());
  // The plugin folder: watched by the daemon (created if absent); read once by `run` when it exists.
  const auto plugins = c_.plugins_dir.empty() ? workdir_ / "plugins" : std::filesystem::absolute(c_.plugins_dir);
  if (control_ || std::filesystem::is_directory(plugins, ec)) {
    auto d = DropFolder::open(plugins, static_cast<size_t>(c_.plugin_max_kb) * 1024,
                              std::chrono::milliseconds(control_ ? 500 : 0));
    if (!d) return d.error();
    drop_.emplace(std::move(*d));
  }

  base_job_.preset = c_.preset;
  base_job_.presets_file = c_.presets_file.empty() ? "" : std::filesystem::absolute(c_.presets_file).string();
  base_job_.tasks = c_.tasks;
  base_job_.seed = c_.seed;
  base_job_.baselines_dir = c_.baselines_dir.empty() ? default_baselines_dir() : c_.baselines_dir;
  auto tc = jit::Toolchain::create({base_job_.cache_dir});
  if (!tc) return tc.error();
  toolchain_ = std::move(*tc);
  pool_->keep_spares();  // its start-up overlaps the preparation
  note("preparing the compile cache (" + base_job_.cache_dir + ")");
  auto prepared = prepare_cache(base_job_, workdir_ / "scratch" / "prepare", pool_->settings());
  if (!prepared) return prepared.error();
  base_job_.reference_parameters = prepared->reference_parameters;
  return Ok{};
}

void Loop::seed_experiments() {
  std::set<std::string> have;
  for (const auto& e : archive_->experiments())
    if (e.origin == archive::Origin::baseline) have.insert(e.name);
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
    e.source_hash = normalised_source_hash(*source);
    e.motivation = "Hand-written baseline from plugins/baselines; the first parents of the search.";
    if (auto known = agents::baseline_design(name)) {
      e.design = std::move(known->design);
      e.canonical = std::move(known->canonical);
    }
    std::vector<archive::Event> ev{EventLog::make("experiment_queued", std::nullopt, {{"name", name}, {"origin", "baseline"}})};
    if (archive_->add_experiment(e, &ev)) events_->published(ev);
  }
}

// Plugins dropped into the plugin folder (default <workdir>/plugins/) join the archive as
// hand-written experiments, each linked to its file (design {"file"}); a changed file is a new
// attempt; a refused one is an event with the reason. True when something joined.
bool Loop::adopt_hand_written() {
  if (!drop_) return false;
  std::vector<DroppedFile> ready;
  std::vector<RefusedFile> refused;
  drop_->poll(ready, refused);
  for (const auto& r : refused)
    events_->emit("plugin_refused", std::nullopt, {{"file", r.name}, {"reason", r.reason}, {"folder", drop_->dir().string()}});
  bool added = false;
  std::sort(ready.begin(), ready.end(), [](const DroppedFile& x, const DroppedFile& y) { return x.name < y.name; });
  for (const auto& f : ready) {
    const std::string hash = normalised_source_hash(f.source);
    if (archive_->find_duplicate("", hash)) continue;  // this source is in the archive already
    archive::Experiment e;
    e.name = std::filesystem::path(f.name).stem().string();
    e.origin = archive::Origin::hand_written;
    e.source = f.source;
    e.source_hash = hash;
    e.design = {{"file", f.name}};
    e.motivation = "Hand-written plugin from " + (drop_->dir() / f.name).string() + ".";
    std::vector<archive::Event> ev{EventLog::make("experiment_queued", std::nullopt,
                                                  {{"name", e.name}, {"origin", "hand-written"}, {"file", f.name}})};
    if (archive_->add_experiment(e, &ev)) {
      events_->published(ev);
      added = true;
    }
  }
  return added;
}

std::vector<agents::ExperimentView> Loop::views(std::set<int64_t>* suspicious) const {
  std::vector<agents::ExperimentView> out;
  for (const auto& e : archive_->experiments()) {
    agents::ExperimentView v;
    v.id = e.id;
    v.name = e.name;
    v.origin = archive::to_string(e.origin);
    v.parent = e.parent;
    v.motivation = e.motivation;
    v.source = e.source;
    v.design = e.design;
    if (auto s = archive_->score(e.id)) {
      v.fitness = s->total;
      if (suspicious && !trusted(*s)) suspicious->insert(e.id);
    }
    v.failed = e.status == archive::ExperimentStatus::failed;
    v.stopped = e.status == archive::ExperimentStatus::stopped;
    v.fail_reason = e.fail_reason;
    out.push_back(std::move(v));
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

std::optional<int64_t> Loop::reference_id() const { return reference_experiment(*archive_); }

std::vector<int64_t> Loop::stage_baseline_ids() const {
  std::vector<int64_t> ids;
  if (auto dn = reference_id()) ids.push_back(*dn);
  for (const auto& name : c_.stage_baselines)
    for (const auto& e : archive_->experiments())
      if (e.origin == archive::Origin::baseline && e.name == name && done_status(e.status) &&
          std::find(ids.begin(), ids.end(), e.id) == ids.end())
        ids.push_back(e.id);
  return ids;
}

bool Loop::reference_done() const {
  auto id = reference_id();
  if (!id) return false;
  auto e = archive_->experiment(*id);
  return e && done_status(e->status);
}

std::optional<FitnessBase> Loop::reference_base(const std::string& preset) const {
  if (!reference_done()) return std::nullopt;
  return FitnessBase{lab::kReferenceDesign, metrics_on(*reference_id(), preset)};
}

std::optional<FitnessBase> Loop::fitness_base(const std::string& preset) const {
  const bool asi_arch = c_.fitness_reference == lab::kReferenceDesign && c_.fitness_scale == "asi-arch";
  if (preset != c_.preset || asi_arch) return reference_base(preset);
  if (base_) return base_;
  if (!reference_done()) return std::nullopt;
  std::map<std::string, Metrics> measured;
  for (const auto& e : archive_->experiments()) {
    if (e.origin != archive::Origin::baseline) continue;
    if (!done_status(e.status)) return std::nullopt;  // every baseline first
    if (e.status == archive::ExperimentStatus::scored) measured[e.name] = metrics_on(e.id, preset);
  }
  auto base = choose_fitness_base(measured, c_.fitness_reference, c_.fitness_scale);
  // The named baseline failed (setup checked that it is one of the run's): DeltaNet, as ASI-Arch.
  base_ = base ? *base : *reference_base(preset);
  return base_;
}

void Loop::rebase_scores() {
  if (rebased_) return;
  auto base = fitness_base();
  if (!base) return;
  rebased_ = true;
  // The Researcher is told what fitness measures against (proposals wait for the base).
  contract_.fitness_base = base->name;
  contract_.loss_scale = base->loss_scale;
  contract_.accuracy_scale = base->accuracy_scale;
  int changed = 0;
  for (const auto& e : archive_->experiments()) {
    if (e.status != archive::ExperimentStatus::scored) continue;
    auto s = archive_->score(e.id);
    if (!s) continue;
    const Metrics own = metrics_on(e.id, c_.preset);
    if (!own.loss && own.accuracy.empty()) continue;  // nothing measured on this preset: the score stays
    auto next = rescore(*s, own, *base);
    if (next.total == s->total && s->details.value("fitness_reference", "") == base->name) continue;
    if (archive_->set_score(e.id, next)) ++changed;
  }
  char scales[96];
  std::snprintf(scales, sizeof scales, "loss part saturating at %.1f%%, accuracy part at %.1f%%", 100 * base->loss_scale,
                100 * base->accuracy_scale);
  note("fitness is measured against " + base->name + " (" + scales + ")" +
       (changed ? "; " + std::to_string(changed) + " earlier scores measured again against it" : ""));
}

Metrics Loop::metrics_on(int64_t id, const std::string& preset) const {
  // The mean over the seeds where there are several (the same seeds as every candidate's).
  auto by_seed = metrics_by_seed(archive_->measurements(id), preset);
  if (!by_seed.empty()) return mean_metrics(by_seed);
  return metrics_of(runs_on(id, preset));
}

Metrics Loop::flag_bound(int64_t id, const std::string& preset, const Metrics& own) const {
  Metrics bound;
  bool baseline = false;
  for (const auto& e : archive_->experiments()) {
    if (e.origin != archive::Origin::baseline) continue;
    if (e.id == id) baseline = true;
    else if (e.status == archive::ExperimentStatus::scored) bound = best_of(bound, metrics_on(e.id, preset));
  }
  return baseline ? best_of(bound, own) : bound;
}

// DeltaNet's completed training curves on `preset`: the quality monitor's references. With two
// or more seeds whose curves were kept, the mean over them and their spread (the early-stopping
// rule's noise); else the first seed's curve alone.
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
  std::map<std::string, std::vector<lab::Curve>> by_task;
  for (const auto& m : archive_->measurements(*id)) {
    if (m.preset != preset || m.stop_reason != "completed" || !m.curve.is_array() || m.curve.empty()) continue;
    lab::Curve c;
    for (const auto& p : m.curve) c.emplace_back(p.at(0).get<int64_t>(), p.at(1).get<double>());
    by_task[m.task].push_back(std::move(c));
  }
  for (const auto& [task, curves] : by_task) {
    auto it = refs.find(task);
    if (it == refs.end() || curves.size() < 2) continue;
    if (auto over = lab::reference_over_seeds(curves)) {
      over->seconds = it->second.seconds;
      it->second = std::move(*over);
    }
  }
  return refs;
}

void Loop::describe(agents::ExperimentView& v) const {
  // The run's own preset only: the ladder's rungs and the held-out tasks are never read by selection.
  v.results = results_json(runs_on(v.id, c_.preset), archive_->gates(v.id), archive_->score(v.id));
  for (const auto& a : archive_->analyses(v.id)) v.analysis = a.text;
}

std::vector<agents::ExperimentView> Loop::comparisons(const std::vector<agents::ExperimentView>& all) const {
  std::vector<agents::ExperimentView> out;
  const auto ref = reference_id();
  const agents::ExperimentView* strongest = nullptr;
  for (const auto& v : all) {
    if (ref && v.id == *ref) {
      out.insert(out.begin(), v);
      describe(out.front());
    } else if (v.origin == "baseline" && v.fitness && (!strongest || *v.fitness > *strongest->fitness)) {
      strongest = &v;
    }
  }
  if (strongest) {
    out.push_back(*strongest);
    describe(out.back());
  }
  return out;
}

agents::Contract Loop::contract() const {
  agents::Contract c = contract_;
  c.reference_mixer_parameters = base_job_.reference_parameters;
  if (auto ref = reference_id())
    for (const auto& g : archive_->gates(*ref))
      if (g.name == "parameter_budget" && g.details.is_object())
        c.reference_model_parameters = g.details.value("model_parameters", int64_t{0});
  return c;
}

// Exact copies (the same design, or the same source once comments and spacing go) and, for
// free-form code, near-duplicates (the same code under other names) are refused before any compile.
std::optional<std::string> Loop::duplicate_of(const agents::Proposal& p, const std::vector<agents::ExperimentView>& all,
                                              nlohmann::json& details) const {
  if (auto id = archive_->find_duplicate(p.canonical, p.source_hash)) {
    details = {{"similar_to", *id}, {"similarity", 1.0}};
    auto e = archive_->experiment(*id);
    return "\"" + p.name + "\" is a copy of experiment #" + std::to_string(*id) + (e ? " " + e->name : "") +
           ": propose something different";
  }
  // A design from a gene space is new when its canonical form is: neighbouring genes differ by a
  // token or two of source, which is a small step, not a copy. Free-form code has no such form.
  if (!p.canonical.empty()) return std::nullopt;
  double best = 0;
  const agents::ExperimentView* near = nullptr;
  for (const auto& v : all) {
    if (v.source.empty()) continue;
    const double sim = renamed_similarity(p.source, v.source);
    if (sim > best) best = sim, near = &v;
  }
  if (!near || best < kNearDuplicate) return std::nullopt;
  details = {{"similar_to", near->id}, {"similarity", best}};
  char pct[16];
  std::snprintf(pct, sizeof pct, "%.0f%%", best * 100);
  return "\"" + p.name + "\" is a near-duplicate of experiment #" + std::to_string(near->id) + " " + near->name + " (" +
         pct + " alike once names are ignored): change the mechanism, not the names";
}

void Loop::breaker_events() {
  if (!agents_.llm) return;
  for (const auto& ch : agents_.llm->take_breaker_changes()) {
    if (ch.open)
      events_->emit("llm_paused", std::nullopt, {{"seconds", ch.seconds}, {"reason", ch.reason}});
    else
      events_->emit("llm_resumed", std::nullopt, {{"reason", ch.reason}});
  }
}

bool Loop::llm_available() {
  if (!agents_.llm) return true;
  breaker_events();
  if (agents_.llm->budget_spent()) {
    if (!budget_noted_)
      note("the LLM budget is spent ($" + std::to_string(agents_.llm->spent_usd()) + " of $" +
           std::to_string(c_.llm.budget_usd) + "): no new proposal starts");
    budget_noted_ = true;
    return false;
  }
  // While the breaker is open no new proposal starts; once its cool-down ends the next call goes
  // through, and only an answer closes it (llm_resumed comes from the client then, not from here).
  return agents_.llm->paused_for() <= 0;
}

namespace {
// How a parent was chosen, as the experiment_proposed event records it.
nlohmann::json selection_record(const archive::Selection& s) {
  nlohmann::json j = {{"strategy", s.strategy}, {"chance", s.chance}};
  if (s.strategy == "ucb1") j["value"] = std::isfinite(s.value) ? nlohmann::json(s.value) : nlohmann::json("untried");
  if (s.island >= 0) j["island"] = s.island;
  if (s.migrant) j["migrant"] = *s.migrant;
  return j;
}
}  // namespace

std::optional<ProposalRequest> Loop::prepare_proposal() {
  ProposalRequest r;
  r.began = std::chrono::steady_clock::now();
  // Candidates: every scored experiment with a source (hand-written ones too), unless suspected of leakage.
  std::set<int64_t> suspicious;
  const auto all = views(&suspicious);
  std::vector<archive::Node> nodes;
  std::map<int64_t, const agents::ExperimentView*> by_id;
  int64_t turn = 0;  // proposals before this one: the islands take turns by it
  for (const auto& v : all) {
    by_id[v.id] = &v;
    nodes.push_back({v.id, v.parent, v.fitness, v.fitness && !v.source.empty() && !suspicious.count(v.id)});
    turn += v.origin == "evolved";
  }
  // The draw follows the archive: the same archive and seed draw the same parent, and a proposal
  // that failed (its answer unusable, stored as such) moves the draw on rather than repeating it.
  const std::vector<std::string> kRejected = {"proposal_refused", "proposal_failed"};
  const auto count = all.size() + static_cast<size_t>(archive_->count_events({"proposal_failed"})) * 7919;
  r.rng.seed(c_.seed * 0x9E3779B97F4A7C15ULL + count);
  auto& rng = r.rng;
  auto sel = archive::select(nodes, c_.selection, rng, turn);
  if (!sel) {
    ++failed_proposals_;
    last_proposal_failure_ = "no scored design to be a parent";
    return std::nullopt;
  }
  r.selection = *sel;
  agents::ResearchContext& ctx = r.context;
  ctx.contract = contract();
  ctx.parent = *by_id[sel->parent];
  describe(ctx.parent);
  if (ctx.parent.analysis.empty()) {
    // A baseline or hand-written parent has no analysis of its own: what the Analyst found in its
    // newest children stands in, so a lineage's lessons reach the next proposal from it.
    std::vector<std::string> found;
    for (auto it = all.rbegin(); it != all.rend() && found.size() < 3; ++it)
      if (it->parent == ctx.parent.id)
        if (const auto a = archive_->analyses(it->id); !a.empty())
          found.push_back("- [" + agents::analysis_label(it->id) + "] on its child #" + std::to_string(it->id) + " " +
                          it->name + ": " + a.back().text);
    if (!found.empty()) {
      ctx.parent.analysis = "What the Analyst found in its newest children:\n";
      for (auto f = found.rbegin(); f != found.rend(); ++f) ctx.parent.analysis += *f + "\n";
    }
  }
  for (int64_t r : sel->references) {
    ctx.references.push_back(*by_id[r]);
    describe(ctx.references.back());
  }
  ctx.archive = all;
  ctx.seed = rng();
  ctx.number = turn + 1;
  r.asked_at_event = archive_->last_event_seq();
  if (desk_) {
    // Asked beside the loop: what the archive holds now, copied (the desk's thread never reads it).
    auto held = std::make_shared<std::pair<std::set<std::string>, std::set<std::string>>>();
    for (const auto& e : archive_->experiments()) {
      if (!e.canonical.empty()) held->first.insert(e.canonical);
      if (!e.source_hash.empty()) held->second.insert(e.source_hash);
    }
    ctx.known = [held](const std::string& canonical, const std::string& hash) {
      return (!canonical.empty() && held->first.count(canonical)) || (!hash.empty() && held->second.count(hash));
    };
  } else {
    ctx.known = [this](const std::string& canonical, const std::string& hash) {
      return archive_->find_duplicate(canonical, hash).has_value();
    };
  }
  // What went wrong lately: the newest failures with their reasons, then this run's refusals.
  for (auto it = all.rbegin(); it != all.rend() && ctx.rejections.size() < 5; ++it)
    if (it->failed && it->origin == "evolved") ctx.rejections.push_back(it->name + " failed: " + it->fail_reason.substr(0, 300));
  std::reverse(ctx.rejections.begin(), ctx.rejections.end());
  // The newest refused or unusable proposals, read from the archive so that a resumed run sees them.
  for (const auto& ev : archive_->latest_events(kRejected, 3)) {
    const std::string reason = ev.data.value("reason", "");
    if (reason.empty()) continue;
    ctx.rejections.push_back(ev.kind == "proposal_failed" ? "A proposal could not be used: " + reason : reason);
  }
  // The cognition base as it stands now: the built-in entries, the user's notes, every insight so far.
  std::shared_ptr<const cognition::Index> knowledge;
  if (auto entries = workdir_knowledge(workdir_, archive_.get()); entries) {
    if (auto ix = cognition::Index::build(*entries)) knowledge = std::make_shared<const cognition::Index>(std::move(*ix));
  } else {
    err_ << "asiarch run: the cognition base: " << entries.error().message << "\n";
  }
  if (knowledge)
    ctx.retrieve = [knowledge](const std::string& query, int k) {
      std::vector<agents::Knowledge> out;
      for (const auto& h : knowledge->search(query, k))
        out.push_back({h.entry.id, h.entry.title, h.entry.year, h.entry.key_idea, h.entry.source});
      return out;
    };
  // Several Researcher models: a UCB1 bandit on the share of each one's proposals that built and
  // passed every gate picks the model for this proposal.
  nlohmann::json& model_choice = r.model_choice;
  if (agents_.llm && c_.agents.researcher == "llm" && !c_.llm.models.empty()) {
    const auto record = archive::proposals_by_model(*archive_, std::max(0, c_.max_repair_attempts - 1));
    std::vector<archive::Arm> arms;
    for (const auto& m : c_.llm.models) {
      const auto it = record.find(m);
      arms.push_back(it == record.end() ? archive::Arm{}
                                        : archive::Arm{it->second.proposals, static_cast<double>(it->second.passed_gates)});
    }
    double value = 0;
    const size_t pick = archive::ucb1(arms, c_.llm.model_exploration, &value);
    ctx.model = c_.llm.models[pick];
    model_choice = {{"model", ctx.model},
                    {"proposals", arms[pick].pulls},
                    {"passed_gates", arms[pick].reward},
                    {"value", std::isfinite(value) ? nlohmann::json(value) : nlohmann::json("untried")}};
  }
  return r;
}

std::optional<int64_t> Loop::accept_proposal(ProposalRequest& r, Result<agents::Proposal> p, bool beside, bool& again) {
  again = false;
  const auto& sel = r.selection;
  auto& ctx = r.context;
  if (!p) {
    if (beside) calls_->attach_beside(std::nullopt);
    if (agents_.llm && agents_.llm->paused_for() > 0) return std::nullopt;  // not the proposal's fault: wait
    ++failed_proposals_;
    last_proposal_failure_ = p.error().message;
    events_->emit("proposal_failed", std::nullopt,
                  {{"researcher", c_.agents.researcher}, {"reason", p.error().message}, {"parent", sel.parent}});
    err_ << "asiarch run: the Researcher: " << p.error().message << "\n";
    return std::nullopt;
  }
  // Read now, not when the request was made: a proposal made beside the loop is compared with
  // everything archived meanwhile too.
  const auto all = views();
  nlohmann::json details;
  if (auto refused = duplicate_of(*p, all, details)) {
    details["name"] = p->name;
    details["reason"] = *refused;
    details["try"] = r.attempt + 1;
    events_->emit("proposal_refused", std::nullopt, details);
    ctx.rejections.push_back(*refused);
    ctx.seed = r.rng();
    if (++r.attempt < c_.max_proposal_tries) {
      again = true;
    } else {
      if (beside) calls_->attach_beside(std::nullopt);
      ++failed_proposals_;
      last_proposal_failure_ = "every one of " + std::to_string(c_.max_proposal_tries) + " tries was refused as a duplicate";
    }
    return std::nullopt;
  }
  archive::Experiment e;
  e.parent = sel.parent;
  e.references = sel.references;
  e.name = p->name;
  e.motivation = p->motivation;
  e.source = p->source;
  e.design = p->design;
  e.canonical = p->canonical;
  e.source_hash = p->source_hash;
  e.origin = archive::Origin::evolved;
  nlohmann::json data = {{"name", p->name},           {"parent", sel.parent},
                         {"references", sel.references}, {"motivation", p->motivation},
                         {"researcher", c_.agents.researcher}, {"selection", selection_record(sel)}};
  if (!r.model_choice.is_null()) data["model_choice"] = r.model_choice;
  data["drew_on"] = agents::provenance_record(*p);
  if (beside) data["asked_beside_the_loop"] = true;
  data["asked_at_event"] = r.asked_at_event;  // what the Researcher saw: the archive up to this event
  std::vector<archive::Event> ev{EventLog::make("experiment_proposed", std::nullopt, std::move(data))};
  auto id = archive_->add_experiment(e, &ev);
  if (!id) {
    if (beside) calls_->attach_beside(std::nullopt);
    err_ << "asiarch run: " << id.error().message << "\n";
    return std::nullopt;
  }
  if (beside) calls_->attach_beside(*id);
  else calls_->attach(*id);
  events_->published(ev);
  failed_proposals_ = 0;
  proposed_at_[*id] = {r.began, std::chrono::duration<double>(std::chrono::steady_clock::now() - r.began).count()};
  return *id;
}

std::optional<int64_t> Loop::propose() {
  if (!llm_available()) return std::nullopt;
  auto r = prepare_proposal();
  if (!r) return std::nullopt;
  calls_->working_on(std::nullopt);
  for (;;) {
    bool again = false;
    auto id = accept_proposal(*r, agents_.researcher->propose(r->context), false, again);
    if (!again) return id;
  }
}

bool Loop::ask_beside() {
  if (!desk_) return false;
  bool proposed = false;
  if (auto done = desk_->take()) {
    bool again = false;
    proposed = accept_proposal(done->request, std::move(done->proposal), true, again).has_value();
    if (again) {
      desk_->post(std::move(done->request));
      return false;
    }
    consider_asking_ = true;
  }
  // Whether to ask reads the archive: on a change, else four times a second (a breaker's cool-down
  // ends, a paused daemon resumes).
  const auto now = std::chrono::steady_clock::now();
  if (desk_->busy() || (!consider_asking_ && now < next_consideration_)) return proposed;
  consider_asking_ = false;
  next_consideration_ = now + std::chrono::milliseconds(250);
  if (paused() || failed_proposals_ >= kMaxFailedProposals) return proposed;
  const bool have_reference = fitness_base().has_value() || !reference_id();
  if (!have_reference || evolved_done() + evolved_pending() >= c_.budget) return proposed;
  // Proposals kept ready: one for every free worker and `proposals_ahead` more.
  int ready = 0;
  for (int64_t id : archive_->with_status(archive::ExperimentStatus::proposed))
    ready += std::none_of(running_.begin(), running_.end(), [&](const InFlight& f) { return f.run->spec().id == id; });
  if (ready >= c_.workers - workers_held() + c_.llm.proposals_ahead) return proposed;
  if (!llm_available()) return proposed;
  if (auto r = prepare_proposal()) desk_->post(std::move(*r));
  return proposed;
}

// A candidate cannot stop the host (its code runs in a worker, and what the worker says is parsed
// with bounds), but should one find a way, or should the machine fail under it, the workdir must
// not be lost to it: an experiment started twice without ending (no outcome, no clean stop) was in
// flight when the host died both times, and is failed instead of being started a third time.
void Loop::fail_poison_pills() {
  constexpr int kHostDeaths = 2;
  for (int64_t id : archive_->with_status(archive::ExperimentStatus::proposed)) {
    int unended = 0;
    for (const auto& ev : archive_->events_of(id, {"experiment_started", "experiment_stopped"}))
      unended = ev.kind == "experiment_started" ? unended + 1 : 0;
    if (unended < kHostDeaths) continue;
    const std::string why = "killed the host: it was being evaluated each of the last " + std::to_string(unended) +
                            " times the host ended without stopping cleanly";
    std::vector<archive::Event> ev{EventLog::make("failed", id, {{"cause", why}, {"poison_pill", true}})};
    if (auto st = archive_->set_status(id, archive::ExperimentStatus::failed, why); !st) {
      err_ << "asiarch run: #" << id << ": " << st.error().message << "\n";
      continue;
    }
    (void)archive_->append_events(ev);
    events_->published(ev);
  }
}

Status Loop::start(int64_t id) {
  auto e = archive_->experiment(id);
  if (!e) return e.error();
  InFlight f;
  f.began = std::chrono::steady_clock::now();
  if (auto it = proposed_at_.find(id); it != proposed_at_.end()) {
    f.began = it->second.first;
    f.propose_seconds = it->second.second;
    proposed_at_.erase(it);
  }
  CandidateSpec spec = spec_for(*e, e->source);
  // One worker per GPU: the first GPU no running experiment holds (there is one: workers = GPUs).
  for (const auto& g : c_.gpus)
    if (std::none_of(running_.begin(), running_.end(), [&](const InFlight& r) { return r.gpu == g; })) {
      f.gpu = spec.job.gpu = g;
      break;
    }
  const bool baseline = e->origin == archive::Origin::baseline;
  spec.max_repair_attempts = baseline ? 1 : c_.max_repair_attempts;
  spec.max_runtime_revisions = baseline ? 0 : c_.max_runtime_revisions;
  if (!is_reference(id)) spec.job.references = references_on(c_.preset);
  spec.job.early_stop = c_.early_stop == "on" && !baseline;
  nlohmann::json started = {{"name", e->name}, {"origin", archive::to_string(e->origin)}};
  if (!f.gpu.empty()) started["gpu"] = f.gpu;
  events_->emit("experiment_started", id, started);
  f.run = std::make_unique<CandidateRun>(std::move(spec), deps());
  running_.push_back(std::move(f));
  return Ok{};
}

bool Loop::finish(InFlight& f) {
  if (f.judging.valid()) {
    if (!ready(f.judging)) return false;
    auto rec = std::move(*f.pending);
    f.pending.reset();
    return judged(f, std::move(rec), f.judging.get());
  }
  if (f.analysing.valid()) {
    if (!ready(f.analysing)) return false;
    auto rec = std::move(*f.pending);
    f.pending.reset();
    return record(f, std::move(rec), std::move(f.pending_events), f.analysing.get());
  }
  if (f.seed0) {
    // A replica ended: keep its metrics, then the next seed, else back to the first seed's run.
    const auto& o = f.run->outcome();
    const std::uint64_t seed = f.run->spec().job.seed;
    f.count(*f.run);
    if (o.status == archive::ExperimentStatus::scored) {
      auto m = measurements_of(o.runs, seed);
      f.measurements.insert(f.measurements.end(), m.begin(), m.end());
    } else {
      f.seed_failures.push_back("seed " + std::to_string(seed) + ": " + o.fail_reason);
    }
    events_->emit("seed_finished", f.run->spec().id,
                  {{"name", f.run->spec().name}, {"seed", seed}, {"status", archive::to_string(o.status)}, {"fail_reason", o.fail_reason},
                   {"results", results_json(o.runs, {}, std::nullopt)["tasks"]}});
    if (start_replica(f)) return false;
    f.run = std::move(f.seed0);
  } else if (!f.first && f.measurements.empty() && f.run->outcome().status == archive::ExperimentStatus::scored) {
    f.measurements = measurements_of(f.run->outcome().runs, c_.seed);
    if (start_replica(f)) return false;
  }
  if (f.first) {
    // The recheck ended: the first evaluation is what is recorded, with what the second said of it.
    f.count(*f.run);
    f.recheck_lab += f.run->lab_seconds() - f.run->gates_seconds();
    archive::Outcome again = std::move(f.run->outcome());
    archive::Outcome rec = std::move(*f.first_outcome);
    compare_recheck(rec, again, f.first->spec().id);
    f.run = std::move(f.first);
    f.first_outcome = std::move(rec);
  }
  CandidateRun& r = *f.run;
  const int64_t id = r.spec().id;
  const bool rechecked = f.first_outcome.has_value();
  archive::Outcome rec = rechecked ? std::move(*f.first_outcome) : std::move(r.outcome());
  f.first_outcome.reset();
  if (!rechecked && rec.status == archive::ExperimentStatus::scored) rec.measurements = f.measurements;
  if (rechecked || rec.status != archive::ExperimentStatus::scored || !r.evaluation() || !r.evaluation()->result.report)
    return analyse_and_record(f, std::move(rec));
  auto all = views();
  agents::ExperimentView* self = nullptr;
  for (auto& v : all)
    if (v.id == id) self = &v;
  if (!self) return true;
  self->results = results_json(rec.runs, rec.gates, std::nullopt);
  agents::JudgeInput ji;
  ji.report = &*r.evaluation()->result.report;  // lives in f.run, which outlives the call
  ji.reference_parameters = base_job_.reference_parameters;
  ji.candidate = *self;
  if (self->origin != "baseline") ji.comparisons = comparisons(all);
  ji.archive = std::move(all);
  ji = judge_input(ji);
  if (!judge_beside()) {
    calls_->working_on(id);
    return judged(f, std::move(rec), agents_.judge->judge(ji));
  }
  f.pending = std::move(rec);
  f.judging = std::async(std::launch::async, [judge = agents_.judge.get(), ji = std::move(ji), id] {
    const CallTag tag(id);  // its calls are this experiment's
    return judge->judge(ji);
  });
  return false;
}

bool Loop::judged(InFlight& f, archive::Outcome rec, const agents::Judgement& judgement) {
  const int64_t id = f.run->spec().id;
  rec.score = score_seeds(id, c_.preset, judgement, rec.runs, rec.measurements, f.seed_failures, seeds_for(id) > 1);
  if (start_recheck(f, std::move(rec))) return false;
  rec = std::move(*f.first_outcome);
  f.first_outcome.reset();
  return analyse_and_record(f, std::move(rec));
}

bool Loop::analyse_and_record(InFlight& f, archive::Outcome rec) {
  CandidateRun& r = *f.run;
  const int64_t id = r.spec().id;
  auto all = views();
  agents::ExperimentView* self = nullptr;
  for (auto& v : all)
    if (v.id == id) self = &v;
  if (!self) return true;
  // The Analyst reads the child's results, its fitness parts among them, beside its parent's and siblings'.
  self->results = results_json(rec.runs, rec.gates, rec.score);
  if (rec.score) self->fitness = rec.score->total;
  self->failed = rec.status == archive::ExperimentStatus::failed;
  self->stopped = rec.status == archive::ExperimentStatus::stopped;
  self->fail_reason = rec.fail_reason;
  std::vector<archive::Event> ev;
  if (rec.score)
    ev.push_back(EventLog::make("scored", id,
                                {{"name", r.spec().name},
                                 {"fitness", rec.score->total},
                                 {"loss_score", rec.score->loss_score},
                                 {"bench_score", rec.score->bench_score},
                                 {"judge_score", rec.score->judge_score}}));
  else if (rec.status == archive::ExperimentStatus::stopped)
    ev.push_back(EventLog::make("stopped_early", id, {{"name", r.spec().name}, {"cause", rec.fail_reason}}));
  else
    ev.push_back(EventLog::make("failed", id, {{"name", r.spec().name}, {"cause", rec.fail_reason}}));
  if (!self->parent) return record(f, std::move(rec), std::move(ev));
  // The Analyst compares figures: the parent's and the siblings' as measured on this preset.
  for (auto& v : all)
    if (v.id == *self->parent || (v.parent == self->parent && v.id != id)) describe(v);
  if (!analyst_beside()) {
    calls_->working_on(id);
    return record(f, std::move(rec), std::move(ev), agents_.analyst->analyse(*self, all));
  }
  f.pending = std::move(rec);
  f.pending_events = std::move(ev);
  f.analysing = std::async(std::launch::async, [analyst = agents_.analyst.get(), child = *self, all = std::move(all), id] {
    const CallTag tag(id);
    return analyst->analyse(child, all);
  });
  return false;
}

bool Loop::record(InFlight& f, archive::Outcome rec, std::vector<archive::Event> ev,
                  std::optional<agents::AnalystReport> analysis) {
  CandidateRun& r = *f.run;
  const int64_t id = r.spec().id;
  if (analysis) {
    rec.analysis_text = std::move(analysis->text);
    rec.insights = std::move(analysis->insights);
    ev.push_back(EventLog::make("analysed", id,
                                {{"name", r.spec().name}, {"analyst", c_.agents.analyst}, {"insights", rec.insights.size()}}));
  }
  // Where the time went: the loop's own overhead is wall - compile - lab.
  const double compile = r.compile_seconds() + f.more_compile, lab = r.lab_seconds() + f.more_lab;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - f.began).count();
  rec.timing = {{"wall", wall},
                {"compile", compile},
                {"lab", lab},
                {"gates", r.gates_seconds() + f.more_gates},  // of lab
                {"recheck", f.recheck_lab},                   // of lab: training and testing again
                {"worker", r.worker_seconds() + f.more_worker},
                {"propose", f.propose_seconds},
                {"overhead", wall - compile - lab}};
  calls_->drain();  // an answer asked beside the loop is archived before the outcome it shaped
  if (auto st = archive_->record_outcome(id, rec, &ev); !st) {
    err_ << "asiarch run: " << st.error().message << "\n";
    return true;
  }
  events_->published(ev);
  std::error_code ec;
  std::filesystem::create_directories(workdir_ / "logs", ec);
  (void)write_file_atomic(workdir_ / "logs" / (std::to_string(id) + ".log"), r.log());
  return true;
}

archive::Score Loop::score_seeds(int64_t id, const std::string& preset, const agents::Judgement& judgement,
                                 const std::vector<archive::TrainingRun>& runs,
                                 const std::vector<archive::Measurement>& measurements,
                                 const std::vector<std::string>& seed_failures, bool replicated) {
  // Fitness is measured on the mean over seeds (the first seed's runs keep their curves).
  const auto mean_runs = with_mean_metrics(runs, measurements);
  const Metrics own = metrics_of(mean_runs);
  // Before the run's base is known (the baselines themselves): DeltaNet, rebased later.
  auto base = fitness_base(preset);
  if (!base) base = is_reference(id) ? FitnessBase{lab::kReferenceDesign, own} : reference_base(preset);
  archive::Score s = score(judgement, mean_runs, base.value_or(FitnessBase{}), flag_bound(id, preset, own));
  if (!replicated) return s;
  auto& d = s.details;
  d["seeds"] = metrics_by_seed(measurements, preset).size();
  if (!seed_failures.empty()) d["seed_failures"] = seed_failures;
  if (auto ref = reference_id(); ref && !is_reference(id))
    d["against_reference"] = to_json(compare_paired(metrics_by_seed(measurements, preset),
                                                    metrics_by_seed(archive_->measurements(*ref), preset)));
  return s;
}

// The reference is trained on two seeds at least while early stopping is on and the preset has
// points to check at: the rule needs the noise of its curve at each step, which one seed cannot
// give (lab::early_stop_bound), and a run on the default single seed would otherwise never stop
// anything. A preset that never checks (smoke: stop_at []) does not pay for it.
int Loop::seeds_for(int64_t id) const {
  return is_reference(id) && c_.early_stop == "on" && preset_stops_early_ ? std::max(c_.seeds, 2) : c_.seeds;
}

bool Loop::start_replica(InFlight& f) {
  const int wanted = seeds_for(f.run->spec().id);
  if (f.seeds_started >= wanted) return false;
  CandidateRun& from = f.seed0 ? *f.seed0 : *f.run;
  CandidateSpec spec = rerun_of(from);
  spec.job.replica = true;
  spec.job.seed = c_.seed + static_cast<std::uint64_t>(f.seeds_started);
  ++f.seeds_started;
  events_->emit("seed_started", spec.id, {{"name", spec.name}, {"seed", spec.job.seed}, {"of", wanted}});
  if (!f.seed0) f.seed0 = std::move(f.run);
  f.run = std::make_unique<CandidateRun>(std::move(spec), deps());
  return true;
}

// A scored design whose fitness beats the reference's (recheck 1; every scored design: 2) is evaluated again, from the source it
// built, in a fresh worker: a design whose score depends on something other than its code (a
// state it keeps, the time, a lucky race) shows as a disagreement. Keeps `rec` in `f` either way.
bool Loop::start_recheck(InFlight& f, archive::Outcome rec) {
  const int64_t id = f.run->spec().id;
  auto ref = reference_id();
  auto ref_score = ref ? archive_->score(*ref) : std::nullopt;
  auto e = archive_->experiment(id);
  const bool wanted = c_.recheck > 0 && rec.score && !is_reference(id) && e && e->origin != archive::Origin::baseline &&
                      (c_.recheck >= 2 || (ref_score && rec.score->total > ref_score->total));
  f.first_outcome = std::move(rec);
  if (!wanted) return false;
  CandidateSpec spec = rerun_of(*f.run);
  events_->emit("recheck_started", id,
                {{"name", spec.name}, {"fitness", f.first_outcome->score->total},
                 {"reference", ref_score ? nlohmann::json(ref_score->total) : nlohmann::json(nullptr)}});
  f.first = std::move(f.run);
  f.run = std::make_unique<CandidateRun>(std::move(spec), deps());
  return true;
}

// Per task, the two evaluations' metrics must agree (the lab is deterministic for a seed: an
// honest design gets the same numbers twice); any difference beyond rounding flags the design.
void Loop::compare_recheck(archive::Outcome& first, const archive::Outcome& again, int64_t id) {
  nlohmann::json detail = nlohmann::json::array();
  std::vector<std::string> disagree;
  if (again.status != archive::ExperimentStatus::scored) disagree.push_back("the re-evaluation failed: " + again.fail_reason);
  for (const auto& a : first.runs) {
    auto b = std::find_if(again.runs.begin(), again.runs.end(), [&](const archive::TrainingRun& r) { return r.task == a.task; });
    const double second = b == again.runs.end() ? std::nan("") : b->metric;
    detail.push_back({{"task", a.task}, {"first", a.metric}, {"again", std::isfinite(second) ? nlohmann::json(second) : nlohmann::json(nullptr)}});
    const double tolerance = a.metric_name == "accuracy" ? 0.02 : 0.01 * std::max(1.0, std::abs(a.metric));
    if (again.status == archive::ExperimentStatus::scored && !(std::abs(a.metric - second) <= tolerance))
      disagree.push_back(a.task + " " + format_number(a.metric) + " then " + format_number(second));
  }
  const bool agree = disagree.empty();
  if (first.score) {
    first.score->recheck = nlohmann::json{{"agree", agree}, {"tasks", detail}};
    if (!agree) {
      std::string text = "re-evaluation in a fresh worker disagrees: ";
      for (size_t i = 0; i < disagree.size(); ++i) text += (i ? "; " : "") + disagree[i];
      first.score->flag(text);
    }
  }
  events_->emit("rechecked", id, {{"agree", agree}, {"tasks", detail}});
}

void Loop::summary(bool interrupted) {
  // With JSON lines on stdout, the summary for people goes to stderr.
  std::ostream& out_ = c_.events == "jsonl" ? err_ : this->out_;
  // The program as the user can type it from here.
  std::error_code rel_ec;
  std::string prog = std::filesystem::relative(self_executable(), std::filesystem::current_path(), rel_ec).string();
  if (rel_ec || prog.empty() || prog.rfind("..", 0) == 0) prog = self_executable();
  else if (prog.find('/') != std::string::npos) prog = "./" + prog;
  auto top = archive_->top(10);
  out_ << "\n" << (interrupted ? "stopped" : "done") << ": " << evolved_done() << "/" << c_.budget
       << " evolved experiments in " << workdir_.string() << "\n";
  if (test_only_)
    out_ << "TEST-ONLY preset " << c_.preset << ": 40 training steps, metrics at chance; this ranking is noise. "
            "`--preset first` (minutes) or `explore` compare designs.\n";
  out_ << "\non " << c_.preset << " (the top " << top.size() << " by fitness):\n";
  std::vector<int64_t> ids;
  for (const auto& [id, total] : top) ids.push_back(id);
  print_rows(out_, design_rows(*archive_, ids, c_.preset, c_.preset));
  const auto fixed = stage_baseline_ids();  // the reference first, then the run's stage baselines
  for (size_t i = 1; i < fixed.size(); ++i) print_against(out_, *archive_, ids, fixed[i], c_.preset);
  // Against the baseline fitness measured them with too, where it is not DeltaNet (with two seeds).
  if (auto b = fitness_base(); b && b->name != lab::kReferenceDesign)
    if (auto bid = archive_->baseline_named(b->name); bid && std::find(fixed.begin(), fixed.end(), *bid) == fixed.end())
      print_against(out_, *archive_, ids, *bid, c_.preset);
  int failed = 0, stopped = 0;
  for (const auto& e : archive_->experiments()) {
    failed += e.status == archive::ExperimentStatus::failed;
    stopped += e.status == archive::ExperimentStatus::stopped;
  }
  // The ladder's rungs and the held-out tasks, each with the designs evaluated there, as stored
  // (results/ladder.h: the same rungs `asiarch ladder` shows).
  const auto ladder = ladder_of(*archive_);
  for (size_t k = 1; k < ladder.size(); ++k) {
    const Rung& rung = ladder[k];
    if (rung.scored.empty() && rung.failed.empty()) continue;
    out_ << "\n" << (rung.held_out ? "held-out tasks, " : "ladder rung ") << rung.preset
         << (rung.held_out ? " (never used for selection):" : ":") << "\n";
    print_rows(out_, design_rows(*archive_, rung.scored, rung.preset, c_.preset));
    for (size_t i = 1; i < fixed.size(); ++i) print_against(out_, *archive_, rung.scored, fixed[i], rung.preset);
    for (int64_t id : rung.failed)
      for (const auto& st : archive_->stages(id))
        if (st.preset == rung.preset) out_ << "  #" << id << " FAILED: " << st.fail_reason << "\n";
    if (!rung.below.empty())
      out_ << "  rank agreement with " << rung.below << ": Spearman "
           << (rung.agreement.spearman ? format_number(*rung.agreement.spearman) : std::string("undefined")) << " over "
           << rung.agreement.pairs << " design(s)\n";
  }
  if (failed || stopped)
    out_ << "  (" << (failed ? std::to_string(failed) + " failed" : "") << (failed && stopped ? ", " : "")
         << (stopped ? std::to_string(stopped) + " stopped early, clearly behind DeltaNet" : "") << "; `" << prog
         << " ls --workdir " << c_.workdir << "` lists them)\n";
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
         << [&] {
              // "Best" is by fitness; whether it beats the reference is the paired verdict's to say.
              auto sc = archive_->score(*best);
              if (!sc || !sc->details.contains("against_reference")) return std::string();
              const std::string v = sc->details["against_reference"].value("verdict", "");
              return "against DeltaNet, paired by seed: " + v +
                     (v == "better" ? "\n" : " (the best by fitness, not shown to beat DeltaNet)\n");
            }()
         << "inspect it:  " << prog << " show " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " history " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " lineage " << *best << " --workdir " << c_.workdir << "\n"
         << "             " << prog << " top --workdir " << c_.workdir << "\n";
  }
  if (interrupted) out_ << "re-run the same command to resume\n";
}

std::vector<std::string> Loop::rungs() const {
  if (!c_.ladder.empty()) return c_.ladder;
  if (c_.promote > 0) return {c_.promote_preset};
  return {};
}

// The ladder: each rung re-evaluates the reference and the best share of the candidates (evolved
// and hand-written designs, never a flagged one) scored on the rung below (at most `promote` of them), on `stage_seeds` seeds; how well each rung's
// order predicts the next is its Spearman correlation, over the designs scored on both.
bool Loop::promote() {
  const auto ladder = rungs();
  if (ladder.empty()) return true;
  std::vector<int64_t> below = promotable();  // best first on the rung below
  std::string below_preset = c_.preset;
  for (const auto& rung : ladder) {
    // Baselines alone on a rung compare nothing, and a larger rung is the dearest part of a run.
    if (below.empty()) {
      note("ladder: no candidate scored on " + below_preset + ", so " + rung + " and the rungs above it are skipped");
      break;
    }
    size_t keep = static_cast<size_t>(std::ceil(c_.promote_share * static_cast<double>(below.size()) - 1e-9));
    if (c_.promote > 0) keep = std::min(keep, static_cast<size_t>(c_.promote));
    keep = std::max<size_t>(keep, 1);
    std::vector<int64_t> ids = stage_baseline_ids();  // the reference first: the rest are scored against it
    const size_t fixed = ids.size();
    ids.insert(ids.end(), below.begin(), below.begin() + static_cast<std::ptrdiff_t>(std::min(keep, below.size())));
    note("ladder: " + rung + " gets " + names_of(ids, fixed) + " and the best " + std::to_string(ids.size() - fixed) + " of " +
         std::to_string(below.size()) + " candidate(s) on " + below_preset + ", " +
         std::to_string(c_.stage_seeds) + " seed(s) each (Ctrl-C stops; re-running resumes)");
    // The fixed points first (every candidate is scored against the reference), then the candidates.
    if (!evaluate_stages({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(fixed)}, rung, c_.seed) ||
        !evaluate_stages({ids.begin() + static_cast<std::ptrdiff_t>(fixed), ids.end()}, rung, c_.seed))
      return false;
    const auto agreement = rank_agreement(*archive_, ids, below_preset, rung, c_.preset);
    events_->emit("ladder_rung", std::nullopt,
                  {{"preset", rung}, {"below", below_preset}, {"promoted", ids}, {"pairs", agreement.pairs},
                   {"spearman", agreement.spearman ? nlohmann::json(*agreement.spearman) : nlohmann::json(nullptr)}});
    std::vector<std::pair<double, int64_t>> next;
    for (size_t i = fixed; i < ids.size(); ++i)
      if (auto f = fitness_on(ids[i], rung)) next.emplace_back(*f, ids[i]);
    std::stable_sort(next.begin(), next.end(), [](const auto& l, const auto& r) { return l.first > r.first; });
    below.clear();
    for (const auto& [f, id] : next) below.push_back(id);
    below_preset = rung;
  }
  return true;
}

// The final report's held-out tasks: the reference and the best `held_out` candidates (evolved or
// hand-written) on the run's preset, once the search is over. Nothing here is read by selection: the Researcher, the
// parent choice and the ladder see first-stage and rung scores only.
bool Loop::held_out_report() {
  if (c_.held_out <= 0) return true;
  auto p = load_preset_arg(c_.preset, c_.presets_file);
  if (!p || p->held_out_tasks.empty()) return true;
  const std::string preset = c_.preset + lab::kHeldOutSuffix;
  std::vector<int64_t> ids = stage_baseline_ids();
  const size_t fixed = ids.size();
  for (int64_t id : promotable()) {
    if (ids.size() - fixed >= static_cast<size_t>(c_.held_out)) break;
    ids.push_back(id);
  }
  if (ids.size() == fixed) {
    note("held-out tasks (" + preset + "): no candidate to report on, skipped");
    return true;
  }
  note("held-out tasks (" + preset + "): " + names_of(ids, fixed) + " and the best " + std::to_string(ids.size() - fixed) +
       " candidate(s), " + std::to_string(c_.stage_seeds) + " seed(s) each; reported, never selected on");
  const std::uint64_t seed = c_.seed + p->held_out_seed_offset;
  return evaluate_stages({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(fixed)}, preset, seed) &&
         evaluate_stages({ids.begin() + static_cast<std::ptrdiff_t>(fixed), ids.end()}, preset, seed);
}

std::optional<StageRun> Loop::begin_stage(int64_t id, const std::string& preset, std::uint64_t first_seed) {
  auto e = archive_->experiment(id);
  if (!e) return std::nullopt;
  std::string source = e->source;  // the Engineer's final, built source when there is one
  for (const auto& a : archive_->compile_attempts(id))
    if (a.ok) source = a.source;
  StageRun r;
  r.spec = spec_for(*e, source);  // compiled before: a cache hit
  CandidateSpec& spec = r.spec;
  spec.job.preset = preset;
  spec.job.seed = first_seed;
  if (lab::is_held_out(preset)) spec.job.tasks = {};  // the held-out set is whole, whatever --tasks chose
  spec.job.reference_parameters = 0;  // the worker counts the reference's at this preset's width
  if (!is_reference(id)) spec.job.references = references_on(preset);
  spec.max_repair_attempts = 1;
  spec.max_runtime_revisions = 0;
  spec.stage_preset = preset;
  r.st.preset = preset;
  r.st.score = {0, 0, 0, 0, nlohmann::json::object()};
  events_->emit("promoted", id, {{"name", e->name}, {"preset", preset}, {"stage_preset", preset}, {"seeds", c_.stage_seeds}});
  start_stage_seed(r);
  return r;
}

void Loop::start_stage_seed(StageRun& r) {
  CandidateSpec s = r.spec;
  s.job.seed = r.spec.job.seed + static_cast<std::uint64_t>(r.k);
  s.job.replica = r.k > 0;
  if (r.k > 0)
    events_->emit("seed_started", s.id,
                  {{"name", s.name}, {"seed", s.job.seed}, {"of", c_.stage_seeds}, {"stage_preset", r.st.preset}});
  r.run = std::make_unique<CandidateRun>(s, deps());
}

bool Loop::stage_seed_done(StageRun& r) {
  archive::Outcome& rec = r.run->outcome();
  const std::uint64_t seed = r.spec.job.seed + static_cast<std::uint64_t>(r.k);
  r.log += r.run->log();
  if (r.k == 0) {
    r.st.runs = rec.runs;
    r.st.status = rec.status;
    r.st.fail_reason = rec.fail_reason;
    if (rec.status != archive::ExperimentStatus::scored) return true;  // a design that fails its first seed is not run again
    r.report = r.run->evaluation();
  } else if (rec.status != archive::ExperimentStatus::scored) {
    r.seed_failures.push_back("seed " + std::to_string(seed) + ": " + rec.fail_reason);
  }
  if (rec.status == archive::ExperimentStatus::scored) {
    auto m = measurements_of(rec.runs, seed);
    r.st.measurements.insert(r.st.measurements.end(), m.begin(), m.end());
  }
  if (++r.k >= std::max(1, c_.stage_seeds)) return true;
  start_stage_seed(r);
  return false;
}

void Loop::record_stage(StageRun& r) {
  const int64_t id = r.spec.id;
  const std::string& preset = r.st.preset;
  archive::StageResult& st = r.st;
  if (st.status == archive::ExperimentStatus::scored && r.report && r.report->result.report) {
    agents::JudgeInput ji;
    ji.report = &*r.report->result.report;
    ji.reference_parameters = r.report->result.reference_parameters;
    st.score = score_seeds(id, preset, agents_.judge->judge(judge_input(ji)), st.runs, st.measurements, r.seed_failures, true);
  }
  std::vector<archive::Event> ev{
      st.status == archive::ExperimentStatus::scored
          ? EventLog::make("stage_scored", id, {{"name", r.spec.name}, {"stage_preset", preset}, {"fitness", st.score.total}})
          : EventLog::make("stage_failed", id, {{"name", r.spec.name}, {"stage_preset", preset}, {"cause", st.fail_reason}})};
  if (auto rec = archive_->record_stage(id, st, &ev); !rec) err_ << "asiarch run: " << rec.error().message << "\n";
  else events_->published(ev);
  std::error_code ec;
  std::filesystem::create_directories(workdir_ / "logs", ec);
  std::string file = preset;
  std::replace(file.begin(), file.end(), '/', '-');
  (void)write_file_atomic(workdir_ / "logs" / (std::to_string(id) + "-" + file + ".log"), r.log);
}

bool Loop::evaluate_stages(const std::vector<int64_t>& ids, const std::string& preset, std::uint64_t first_seed) {
  std::vector<int64_t> todo;
  for (int64_t id : ids) {
    bool done = false;
    for (const auto& st : archive_->stages(id)) done = done || st.preset == preset;
    if (!done) todo.push_back(id);
  }
  // As many designs at once as the run has workers, each running its seeds in turn: a rung fills
  // every worker, the way the search does.
  std::list<StageRun> active;
  size_t next = 0;
  for (;;) {
    while (next < todo.size() && static_cast<int>(active.size()) < std::max(1, c_.workers))
      if (auto r = begin_stage(todo[next++], preset, first_seed)) active.push_back(std::move(*r));
    if (active.empty()) return true;
    if (cancel_.cancelled()) {
      for (auto& r : active) r.run->cancel();
      return false;
    }
    for (auto it = active.begin(); it != active.end();) {
      calls_->working_on(it->spec.id);
      if (it->run->step() && stage_seed_done(*it)) {
        record_stage(*it);
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    executor_->wait(20);
  }
}

void Loop::publish(const std::string& state) {
  if (!control_) return;
  nlohmann::json running = nlohmann::json::array();
  for (const auto& f : running_) running.push_back({{"id", f.run->spec().id}, {"name", f.run->spec().name}});
  nlohmann::json llm = nullptr;
  if (agents_.llm)
    llm = {{"spent_usd", agents_.llm->spent_usd()},
           {"budget_usd", c_.llm.budget_usd},
           {"breaker", agents_.llm->paused_for() > 0 ? "open" : "closed"},
           {"paused_for_seconds", agents_.llm->paused_for()},
           {"reason", agents_.llm->pause_reason()}};
  control_->publish({{"state", state},
                     {"running", running},
                     {"workers", c_.workers},
                     {"budget", c_.budget},
                     {"preset", c_.preset},
                     {"agents", {{"researcher", c_.agents.researcher}, {"engineer", c_.agents.engineer},
                                 {"analyst", c_.agents.analyst}, {"judge", c_.agents.judge}}},
                     {"llm", llm}});
}

void Loop::reload(const Result<RunConfig>& next) {
  if (!next) {
    events_->emit("config_refused", std::nullopt, {{"reason", next.error().message}, {"kept", "the running configuration"}});
    return;
  }
  RunConfig n = next.value();
  static const std::set<std::string> live = {"budget", "workers", "pool_size", "parent_top", "references",
                                             "max_repair_attempts", "max_runtime_revisions", "recheck",
                                             "max_proposal_tries", "plugin_max_kb"};
  nlohmann::json applied = nlohmann::json::array(), restart = nlohmann::json::array();
  for (const auto& s : run_settings()) {
    if (s.get(given_) == s.get(n)) continue;
    if (live.count(s.key)) {
      s.set(given_, s.get(n));
      s.set(c_, s.get(n));
      if (s.key == "budget" && control_ && c_.budget == 0) c_.budget = std::numeric_limits<int>::max();
      applied.push_back(s.key);
    } else {
      restart.push_back(s.key);
    }
  }
  if (!c_.gpus.empty()) c_.workers = static_cast<int>(c_.gpus.size());  // one worker per GPU, whatever the file says
  events_->emit("config_reloaded", std::nullopt, {{"applied", applied}, {"needs_restart", restart}});
}

bool Loop::paused() {
  if (!control_) return false;
  const bool now = control_->paused.load();
  if (now != was_paused_) events_->emit(now ? "paused" : "resumed", std::nullopt);
  if (was_paused_ && !now) failed_proposals_ = 0;  // resuming tries the Researcher again
  was_paused_ = now;
  return now;
}

int Loop::run() {
  if (control_ && c_.budget == 0) c_.budget = std::numeric_limits<int>::max();  // the daemon: keep going
  if (auto st = setup(); !st) {
    err_ << "asiarch run: " << st.error().message << "\n";
    return 1;
  }
  fail_poison_pills();
  seed_experiments();
  adopt_hand_written();
  events_->emit("run_started", std::nullopt,
                {{"preset", c_.preset},
                 {"budget", c_.budget},
                 {"done", evolved_done()},
                 {"workers", c_.workers},
                 {"executor", executor_->name()},
                 {"seed", c_.seed},
                 {"agents",
                  {{"researcher", c_.agents.researcher},
                   {"engineer", c_.agents.engineer},
                   {"analyst", c_.agents.analyst},
                   {"judge", c_.agents.judge}}}});
  if (test_only_)
    note("preset " + c_.preset + " is TEST-ONLY: at 40 steps every metric is at chance and rankings are noise; "
         "use --preset first or explore to compare designs");
  bool interrupted = false;
  bool refill = true;
  std::string stop_reason;  // why the run stopped short, as an error
  std::string done_reason = "done";
  for (;;) {
    if (cancel_.cancelled()) {
      interrupted = true;
      break;
    }
    if (control_)
      if (auto offer = control_->take_offer()) {
        reload(*offer);
        refill = true;
      }
    calls_->drain();  // what the Researcher and the Engineer were asked beside the loop
    rebase_scores();
    breaker_events();
    if (ask_beside()) refill = true;
    // Fill the workers: interrupted or queued experiments first, then new proposals.
    // The archive is read only when something changed: at the start and after each finish.
    while (refill && workers_held() < c_.workers) {
      std::optional<int64_t> next;
      // DeltaNet goes first: the quality monitor and every base start from it. The other baselines
      // follow it; evolved and hand-written designs wait for the base fitness is measured against.
      const bool have_reference = fitness_base().has_value() || !reference_id();
      const bool dn_done = reference_done();
      for (int64_t id : archive_->with_status(archive::ExperimentStatus::proposed)) {
        bool busy = failed_to_start_.count(id) > 0;
        for (const auto& r : running_) busy = busy || r.run->spec().id == id;
        bool baseline = false;
        if (!have_reference && dn_done)
          if (auto e = archive_->experiment(id)) baseline = e->origin == archive::Origin::baseline;
        if (!busy && (have_reference || is_reference(id) || baseline)) {
          next = id;
          break;
        }
      }
      // Evolved proposals wait for the baseline that fitness is measured against.
      if (!next && !desk_ && evolved_done() + evolved_pending() < c_.budget && have_reference && !paused())
        next = propose();
      if (!next) break;
      if (auto st = start(*next); !st) {
        err_ << "asiarch run: #" << *next << ": " << st.error().message << "\n";
        failed_to_start_.insert(*next);
      }
    }
    refill = false;
    publish(paused() ? "paused" : running_.empty() ? "idle" : "running");
    if (running_.empty() && control_ && control_->keep_serving &&
        (paused() || evolved_done() + evolved_pending() >= c_.budget || (agents_.llm && agents_.llm->budget_spent()) ||
         failed_proposals_ >= kMaxFailedProposals)) {
      // The daemon: nothing to do now; it keeps serving (and watching the plugin folder) until stopped.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      adopt_hand_written();
      refill = true;
      continue;
    }
    if (running_.empty()) {
      if (desk_ && desk_->busy()) {
        // Nothing to evaluate until the Researcher answers.
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        refill = true;
        continue;
      }
      // Nothing in flight and nothing started: the budget is met, or proposing failed.
      if (evolved_done() + evolved_pending() >= c_.budget) break;
      if (agents_.llm && agents_.llm->budget_spent()) {
        done_reason = "the LLM budget is spent";
        break;
      }
      if (failed_proposals_ >= kMaxFailedProposals) {
        stop_reason = "the Researcher failed " + std::to_string(failed_proposals_) + " times in a row: " +
                      last_proposal_failure_;
        break;
      }
      if (agents_.llm && agents_.llm->paused_for() > 0) {
        // LLM roles are paused: wait out the cool-down (Ctrl-C still stops), then propose again.
        std::this_thread::sleep_for(std::chrono::milliseconds(
            static_cast<int64_t>(std::min(agents_.llm->paused_for(), 0.5) * 1000) + 1));
      }
      if (desk_) std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the desk is asked on a later turn
      refill = true;
      continue;
    }
    for (auto it = running_.begin(); it != running_.end();) {
      calls_->working_on(it->run->spec().id);
      const bool held = it->holds_a_worker();
      if (it->run->step() && finish(*it)) {
        it = running_.erase(it);
        adopt_hand_written();
        refill = true;
        consider_asking_ = true;
      } else {
        if (held && !it->holds_a_worker()) refill = consider_asking_ = true;  // its worker is free while the Analyst thinks
        ++it;
      }
    }
    if (control_ && adopt_hand_written()) refill = true;  // the daemon watches the plugin folder throughout
    // A finished compile worker waits for this poll: 10 ms costs little and is 0.5% of a smoke
    // experiment. An evaluating one that waits on a reply is answered as soon as it asks.
    executor_->wait(10);
  }
  // Calls still in progress when the run is stopped are not waited for: they end now, and what
  // they were for is asked again on resume.
  if (interrupted && agents_.llm) agents_.llm->abort_calls();
  if (desk_) {
    desk_.reset();
    calls_->attach_beside(std::nullopt);
  }
  if (interrupted) {
    // Unfinished experiments stay "proposed" and are evaluated again on resume.
    for (auto& r : running_) {
      r.run->cancel();
      events_->emit("experiment_stopped", r.run->spec().id, {{"name", r.run->spec().name}});
    }
    running_.clear();
  }
  calls_->drain();
  publish("stopping");
  if (!interrupted && evolved_done() >= c_.budget) interrupted = !promote() || !held_out_report();
  pool_->shutdown();
  events_->emit("run_stopped", std::nullopt,
                {{"reason", interrupted ? "interrupted" : stop_reason.empty() ? done_reason : stop_reason},
                 {"evolved_done", evolved_done()},
                 {"budget", c_.budget}});
  summary(interrupted);
  if (!stop_reason.empty()) {
    err_ << "asiarch run: stopped: " << stop_reason << "\n";
    return 1;
  }
  if (control_ && control_->keep_serving) return 0;  // the daemon stops by being told to
  return interrupted ? 130 : 0;
}

}  // namespace

int run_discovery(const RunConfig& config, std::ostream& out, std::ostream& err, const CancelToken& cancel,
                  LoopControl* control) {
  Loop loop(config, out, err, cancel, control);
  return loop.run();
}

}  // namespace asiarch::host
