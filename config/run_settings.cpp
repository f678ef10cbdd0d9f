#include "config/run_settings.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <utility>

namespace asiarch::host {
namespace {

using Kind = SettingType::Kind;

SettingType text() { return {Kind::text, {}, 0, 0}; }
SettingType choice(std::vector<std::string> choices) { return {Kind::choice, std::move(choices), 0, 0}; }
SettingType texts() { return {Kind::texts, {}, 0, 0}; }
SettingType integer(int64_t min) { return {Kind::integer, {}, min, 0}; }
SettingType positive_number() { return {Kind::positive_number, {}, 0, 0}; }
SettingType non_negative_number() { return {Kind::number, {}, 0, 0}; }
SettingType object() { return {Kind::object, {}, 0, 0}; }

// `field` is a generic lambda returning the RunConfig member, so one
// expression serves reading (const) and writing.
template <class Field>
RunSetting setting(std::string key, std::string flag, SettingType type, Field field, std::string help,
                   std::string default_note = "") {
  using T = std::decay_t<decltype(field(std::declval<RunConfig&>()))>;
  if constexpr (std::is_integral_v<T>) type.max = static_cast<uint64_t>(std::numeric_limits<T>::max());
  RunSetting s;
  s.key = std::move(key);
  s.flag = std::move(flag);
  s.type = std::move(type);
  s.help = std::move(help);
  s.default_note = std::move(default_note);
  s.get = [field](const RunConfig& c) { return nlohmann::json(field(c)); };
  s.set = [field](RunConfig& c, const nlohmann::json& j) { field(c) = j.get<T>(); };
  return s;
}

#define ASIARCH_FIELD(path) [](auto& c) -> auto& { return c.path; }

std::vector<RunSetting> make_settings() {
  return {
      setting("preset", "--preset", text(), ASIARCH_FIELD(preset),
              "the preset candidates are gated and trained on: smoke, explore or verify (lab/presets.json)"),
      setting("presets_file", "--presets", text(), ASIARCH_FIELD(presets_file),
              "a presets JSON file to use instead of the built-in one (empty: the built-in presets)"),
      setting("tasks", "--tasks", texts(), ASIARCH_FIELD(tasks),
              "the preset's tasks to train on, comma-separated on the command line (empty: all of them)"),
      setting("budget", "--budget", integer(0), ASIARCH_FIELD(budget),
              "evolved experiments the workdir holds when the run ends"),
      setting("workers", "--workers", integer(1), ASIARCH_FIELD(workers), "experiments evaluated at once"),
      setting("gpus", "--gpus", texts(), ASIARCH_FIELD(gpus),
              "GPUs to use, comma-separated (indexes or UUIDs): one worker per GPU, each given its own through "
              "CUDA_VISIBLE_DEVICES; sets workers; refused where no CUDA device exists (empty: none)"),
      setting("seed", "--seed", integer(0), ASIARCH_FIELD(seed), "seed for selection, proposals and training"),
      setting("selection", "--selection", choice(archive::selection_strategies()), ASIARCH_FIELD(selection.strategy),
              "how parents are drawn: weighted (the best most, a much-drawn design yielding to its peers, as "
              "ShinkaEvolve), asi-arch (uniform over the best parent_top), ucb1 (by its children's improvement, as "
              "ASI-Evolve) or islands (independent lineages from each root, with migrant references)"),
      setting("selection_sharpness", "", non_negative_number(), ASIARCH_FIELD(selection.sharpness),
              "weighted, islands: weight sigmoid(sharpness * (fitness - median) / spread) / (1 + children)"),
      setting("selection_exploration", "", non_negative_number(), ASIARCH_FIELD(selection.exploration),
              "ucb1: c in mean improvement + c * sqrt(ln N / n)"),
      setting("islands", "", integer(1), ASIARCH_FIELD(selection.islands),
              "islands: at most this many (one per root design, then shared)"),
      setting("migration_interval", "", integer(0), ASIARCH_FIELD(selection.migration_interval),
              "islands: every this many proposals, the best of the next island is shown as a reference (0: never)"),
      setting("pool_size", "--pool-size", integer(1), ASIARCH_FIELD(selection.pool_size),
              "candidate pool: the best this many scored experiments"),
      setting("parent_top", "--parent-top", integer(1), ASIARCH_FIELD(selection.parent_top),
              "asi-arch, ucb1: the parent is drawn from the best this many"),
      setting("references", "", integer(0), ASIARCH_FIELD(selection.references),
              "references beside the parent: the best design (when it is not the parent), then drawn from the pool"),
      setting("max_repair_attempts", "", integer(1), ASIARCH_FIELD(max_repair_attempts),
              "compiles per built source, the first included (1: no repair)"),
      setting("max_runtime_revisions", "--max-runtime-revisions", integer(0), ASIARCH_FIELD(max_runtime_revisions),
              "Engineer revisions after a runtime failure (0: none)"),
      setting("agents.researcher", "--researcher", text(), ASIARCH_FIELD(agents.researcher),
              "what plays the Researcher: offline (the built-in algorithm) or llm (the endpoint of llm.url)",
              "llm when llm.url is set, else offline"),
      setting("agents.engineer", "--engineer", text(), ASIARCH_FIELD(agents.engineer),
              "what plays the Engineer: offline (the built-in algorithm) or llm (the endpoint of llm.url)",
              "llm when llm.url is set, else offline"),
      setting("agents.analyst", "--analyst", text(), ASIARCH_FIELD(agents.analyst),
              "what plays the Analyst: offline (the built-in algorithm) or llm (the endpoint of llm.url)",
              "llm when llm.url is set, else offline"),
      setting("agents.judge", "--judge", text(), ASIARCH_FIELD(agents.judge),
              "what plays the Judge: offline (the built-in algorithm) or llm (the endpoint of llm.url)",
              "llm when llm.url is set, else offline"),
      setting("llm.url", "--llm-url", text(), ASIARCH_FIELD(llm.url),
              "the OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (empty: no LLM; every role offline)"),
      setting("llm.model", "--model", text(), ASIARCH_FIELD(llm.model), "the model every LLM role asks"),
      setting("llm.api_key_env", "", text(), ASIARCH_FIELD(llm.api_key_env),
              "the environment variable holding the API key (the key itself is never written anywhere)"),
      setting("llm.models", "--models", texts(), ASIARCH_FIELD(llm.models),
              "several Researcher models, comma-separated on the command line: each proposal asks the one a UCB1 "
              "bandit picks on the share of its proposals that built and passed every gate (empty: one model)"),
      setting("llm.model_exploration", "", non_negative_number(), ASIARCH_FIELD(llm.model_exploration),
              "the models bandit's c in share + c * sqrt(ln N / n)"),
      setting("llm.proposals_ahead", "", integer(0), ASIARCH_FIELD(llm.proposals_ahead),
              "LLM Researcher proposals kept ready beyond the free workers, asked beside the engine loop so "
              "workers keep evaluating while the model thinks, as are the LLM Judge and Analyst (0: the loop "
              "asks them and waits)"),
      setting("llm.roles", "", object(), ASIARCH_FIELD(llm.roles),
              "per role (researcher, engineer, analyst, judge): {model, temperature, max_tokens} overriding llm.model"),
      setting("llm.timeout_seconds", "", positive_number(), ASIARCH_FIELD(llm.timeout_seconds),
              "time limit of one request, seconds"),
      setting("llm.max_retries", "", integer(0), ASIARCH_FIELD(llm.max_retries),
              "retries after connection errors, timeouts, 429 and 5xx (exponential backoff with jitter)"),
      setting("llm.retry_base_seconds", "", positive_number(), ASIARCH_FIELD(llm.retry_base_seconds),
              "the first retry's backoff, doubled for each further retry"),
      setting("llm.context_tokens", "", integer(1024), ASIARCH_FIELD(llm.context_tokens),
              "the model's context: each prompt and its answer are fitted into it"),
      setting("llm.budget_usd", "", non_negative_number(), ASIARCH_FIELD(llm.budget_usd),
              "once this much is spent, no new proposal starts (0: no cap)"),
      setting("llm.prices", "", object(), ASIARCH_FIELD(llm.prices),
              "per model: {input_per_mtok, output_per_mtok} in USD, for the cost of each call"),
      setting("llm.prompts_dir", "", text(), ASIARCH_FIELD(llm.prompts_dir),
              "a folder of prompt templates (NAME.txt) overriding the built-in ones"),
      setting("llm.ca_file", "", text(), ASIARCH_FIELD(llm.ca_file),
              "a CA bundle to trust for an HTTPS endpoint with a private certificate (empty: the system's)"),
      setting("llm.breaker_failures", "", integer(1), ASIARCH_FIELD(llm.breaker_failures),
              "failed requests in a row that open the circuit breaker (LLM roles pause)"),
      setting("llm.breaker_cooldown_seconds", "", positive_number(), ASIARCH_FIELD(llm.breaker_cooldown_seconds),
              "how long LLM roles pause once the breaker opens, seconds"),
      setting("max_proposal_tries", "", integer(1), ASIARCH_FIELD(max_proposal_tries),
              "tries per proposal when the Researcher's design is refused as a duplicate"),
      setting("executor", "--executor", text(), ASIARCH_FIELD(executor),
              "where built candidates are gated and trained (local: sandboxed workers on this machine; slurm: "
              "one batch job each, docs/slurm.md)"),
      setting("slurm.shared_dir", "", text(), ASIARCH_FIELD(slurm.shared_dir),
              "a folder the host and the compute nodes both see: jobs and results travel through it"),
      setting("slurm.partition", "", text(), ASIARCH_FIELD(slurm.partition),
              "the partition jobs go to (checked at start; empty: the cluster's default)"),
      setting("slurm.account", "", text(), ASIARCH_FIELD(slurm.account), "sbatch --account (empty: none)"),
      setting("slurm.qos", "", text(), ASIARCH_FIELD(slurm.qos), "sbatch --qos (empty: none)"),
      setting("slurm.time_limit", "", text(), ASIARCH_FIELD(slurm.time_limit),
              "sbatch --time (empty: the experiment's timeout, in whole minutes, plus two)"),
      setting("slurm.gres", "", text(), ASIARCH_FIELD(slurm.gres), "sbatch --gres, e.g. gpu:1 (empty: none)"),
      setting("slurm.cpus_per_task", "", integer(0), ASIARCH_FIELD(slurm.cpus_per_task),
              "sbatch --cpus-per-task (0: the cluster's default)"),
      setting("slurm.mem", "", text(), ASIARCH_FIELD(slurm.mem), "sbatch --mem, e.g. 16G (empty: the cluster's default)"),
      setting("slurm.extra_args", "", texts(), ASIARCH_FIELD(slurm.extra_args),
              "more sbatch arguments, as given (not --export: see slurm.export_vars)"),
      setting("slurm.export_vars", "", texts(), ASIARCH_FIELD(slurm.export_vars),
              "host environment variables a job gets beyond PATH, HOME, USER, LOGNAME, LANG, LC_ALL, TZ and TMPDIR "
              "(never a secret: names with KEY, TOKEN, SECRET, PASSWORD or CREDENTIAL are refused)"),
      setting("slurm.unreachable_seconds", "", positive_number(), ASIARCH_FIELD(slurm.unreachable_seconds),
              "how long a job's state may go unread (squeue and scontrol failing) before the job is cancelled and "
              "its experiment failed; asked again with backoff meanwhile"),
      setting("events", "--events", choice({"text", "jsonl"}), ASIARCH_FIELD(events),
              "what the run prints: text (progress lines) or jsonl (one event a line)"),
      setting("recheck", "--recheck", integer(0), ASIARCH_FIELD(recheck),
              "1: each design that beats the reference is evaluated again in a fresh worker before it is "
              "recorded, and flagged when the two disagree; 2: every scored design; 0: off"),
      setting("seeds", "--seeds", integer(1), ASIARCH_FIELD(seeds),
              "seeds each design is trained with on the run's preset: every metric is stored per seed, fitness "
              "uses their means, and comparisons with the reference are paired by seed"),
      setting("promote", "--promote", integer(0), ASIARCH_FIELD(promote),
              "the ladder: at most this many candidates (evolved or hand-written) are kept per rung (0: no limit when ladder is set, "
              "else no ladder)",
              "2 on explore, else 0"),
      setting("promote_preset", "--promote-preset", text(), ASIARCH_FIELD(promote_preset),
              "the one rung above the run's preset when ladder is empty"),
      setting("ladder", "--ladder", texts(), ASIARCH_FIELD(ladder),
              "the rungs above the run's preset, in order, comma-separated on the command line: each re-evaluates "
              "the best share of the rung below (with DeltaNet)",
              "promote_preset when promote > 0"),
      setting("promote_share", "--promote-share", positive_number(), ASIARCH_FIELD(promote_share),
              "the share of the candidates scored on a rung that the next rung keeps (at most 1; at least one "
              "design)"),
      setting("stage_seeds", "--stage-seeds", integer(1), ASIARCH_FIELD(stage_seeds),
              "seeds per evaluation on the ladder's rungs and on the held-out tasks"),
      setting("held_out", "--held-out", integer(0), ASIARCH_FIELD(held_out),
              "at the end, the best this many candidates (evolved or hand-written) and DeltaNet are evaluated on the preset's held-out "
              "tasks (never read during selection; presets without held-out tasks: none)"),
      setting("stage_baselines", "--stage-baselines", texts(), ASIARCH_FIELD(stage_baselines),
              "baselines (of `baselines`) evaluated beside DeltaNet on every rung and on the held-out tasks, at the "
              "same seeds, so the summary compares each candidate with them paired by seed (e.g. gated_delta_net)",
              "none: DeltaNet only"),
      setting("fitness_reference", "--fitness-reference", text(), ASIARCH_FIELD(fitness_reference),
              "what fitness measures each design against: \"strongest\" (the run's baseline whose measured gain over "
              "DeltaNet is largest; evolved designs wait until every baseline is measured) or a baseline's name "
              "(delta_net with fitness_scale asi-arch is ASI-Arch's fitness)"),
      setting("fitness_scale", "--fitness-scale", choice({"spread", "asi-arch"}), ASIARCH_FIELD(fitness_scale),
              "the relative gain at which the loss and accuracy parts saturate: spread (the distance between DeltaNet "
              "and the reference baseline, 1-10%) or asi-arch (10%)"),
      setting("early_stop", "--early-stop", choice({"on", "off"}), ASIARCH_FIELD(early_stop),
              "on: a candidate's first evaluation stops where its training loss is clearly behind DeltaNet's at the "
              "same step (the preset's monitor: stop_at, stop_sigmas, stop_min_gap); it is recorded as stopped, "
              "with its figures, never scored nor a parent; off: every candidate trains its whole budget"),
      setting("baselines", "--baselines", texts(), ASIARCH_FIELD(baselines),
              "the baseline plugins (in baselines_dir) that seed the archive, comma-separated on the command line "
              "(DeltaNet, the reference, is always among them in practice: fitness is measured against it)"),
      setting("timeout_seconds", "--timeout", positive_number(), ASIARCH_FIELD(limits.wall_seconds),
              "wall-clock limit per experiment, seconds"),
      setting("memory_limit_mb", "", integer(1), ASIARCH_FIELD(limits.address_space_mb),
              "address-space limit of a worker, MiB"),
      setting("cpu_limit_seconds", "", integer(1), ASIARCH_FIELD(limits.cpu_seconds),
              "CPU-time limit of a worker, seconds", "2 x timeout_seconds x 2 threads"),
      setting("file_size_limit_mb", "", integer(1), ASIARCH_FIELD(limits.file_size_mb),
              "largest file a worker may write, MiB"),
      setting("scratch_limit_mb", "", integer(1), ASIARCH_FIELD(limits.scratch_mb),
              "size of a worker's private scratch (a tmpfs), MiB"),
      setting("max_processes", "", integer(1), ASIARCH_FIELD(limits.max_processes),
              "threads and processes of a worker (pids cgroup, else RLIMIT_NPROC)"),
      setting("gate_timeout_seconds", "--gate-timeout", positive_number(), ASIARCH_FIELD(stage_limits.gates_seconds),
              "time limit of the sanity gates, seconds"),
      setting("training_time_factor", "--training-factor", positive_number(), ASIARCH_FIELD(stage_limits.training_factor),
              "a task's training may take this many times the reference's time on it (plus 60 s)"),
      setting("cache_dir", "--cache-dir", text(), ASIARCH_FIELD(cache_dir),
              "compile and corpus cache directory (empty: $ASIARCH_CACHE_DIR or ~/.cache/asiarch)"),
      setting("plugins_dir", "--plugins", text(), ASIARCH_FIELD(plugins_dir),
              "the folder of hand-written plugins that join the archive (the daemon watches it)",
              "<workdir>/plugins"),
      setting("plugin_max_kb", "", integer(1), ASIARCH_FIELD(plugin_max_kb),
              "a plugin file larger than this many KiB is refused"),
      setting("baselines_dir", "", text(), ASIARCH_FIELD(baselines_dir),
              "where the baseline plugins are (empty: the source tree's plugins/baselines)"),
  };
}

#undef ASIARCH_FIELD

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + ("\"" + items[i] + "\"");
  return out;
}

std::string markdown_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

bool SettingType::accepts(const nlohmann::json& j) const {
  switch (kind) {
    case Kind::text:
      return j.is_string();
    case Kind::choice:
      return j.is_string() && std::find(choices.begin(), choices.end(), j.get<std::string>()) != choices.end();
    case Kind::texts:
      if (!j.is_array()) return false;
      for (const auto& e : j)
        if (!e.is_string()) return false;
      return true;
    case Kind::integer: {
      if (!j.is_number_integer()) return false;
      if (j.is_number_unsigned()) {
        const uint64_t v = j.get<uint64_t>();
        return (min <= 0 || v >= static_cast<uint64_t>(min)) && v <= max;
      }
      const int64_t v = j.get<int64_t>();
      return v >= min && (v < 0 || static_cast<uint64_t>(v) <= max);
    }
    case Kind::positive_number:
      return j.is_number() && std::isfinite(j.get<double>()) && j.get<double>() > 0;
    case Kind::number:
      return j.is_number() && std::isfinite(j.get<double>()) && j.get<double>() >= 0;
    case Kind::object:
      return j.is_object();
  }
  return false;
}

std::string SettingType::describe() const {
  switch (kind) {
    case Kind::text: return "a string";
    case Kind::choice: return quoted_list(choices);
    case Kind::texts: return "an array of strings";
    case Kind::integer:
      return min == 0 ? "a non-negative integer" : min == 1 ? "a positive integer" : "an integer of at least " + std::to_string(min);
    case Kind::positive_number: return "a positive number";
    case Kind::number: return "a non-negative number";
    case Kind::object: return "an object";
  }
  return "";
}

std::string RunSetting::default_text() const {
  if (!default_note.empty()) return default_note;
  const nlohmann::json j = get(RunConfig{});
  if (j.is_string()) return j.get<std::string>();
  if (j.is_array()) {
    std::string out;
    for (const auto& e : j) out += (out.empty() ? "" : ",") + e.get<std::string>();
    return out;
  }
  return j.dump();
}

const std::vector<RunSetting>& run_settings() {
  static const std::vector<RunSetting> settings = make_settings();
  return settings;
}

const RunSetting* find_setting(const std::string& key) {
  for (const auto& s : run_settings())
    if (s.key == key) return &s;
  return nullptr;
}

std::string settings_markdown() {
  std::string out = "| setting | flag | value | default | what it sets |\n|---|---|---|---|---|\n";
  for (const auto& s : run_settings()) {
    const std::string def = s.default_note.empty() ? "`" + s.get(RunConfig{}).dump() + "`" : s.default_note;
    out += "| `" + s.key + "` | " + (s.flag.empty() ? "" : "`" + s.flag + "`") + " | " +
           markdown_cell(s.type.describe()) + " | " + markdown_cell(def) + " | " + markdown_cell(s.help) + " |\n";
  }
  return out;
}

}  // namespace asiarch::host
