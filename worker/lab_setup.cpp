#include "worker/lab_setup.h"

#include <asiarch/plugin.h>

#include <iostream>

#include "jit/mixer.h"
#include "lab/corpus.h"
#include "lab/tasks.h"
#include "util/files.h"

namespace asiarch::host {

Result<lab::Preset> load_preset_arg(const std::string& name, const std::string& presets_file) {
  if (presets_file.empty()) return lab::load_preset(name);
  auto text = read_file(presets_file);
  if (!text) return text.error();
  return lab::load_preset(name, *text, presets_file);
}

std::filesystem::path baseline_table_path(const std::string& workdir, const std::string& preset) {
  return std::filesystem::path(workdir) / "baselines" / (preset + ".json");
}

nlohmann::json load_baseline_table(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return nlohmann::json::object();
  try {
    auto j = nlohmann::json::parse(*text);
    return j.is_object() ? j : nlohmann::json::object();
  } catch (const std::exception&) {
    return nlohmann::json::object();
  }
}

std::map<std::string, lab::Reference> baseline_references(const std::string& workdir, const std::string& preset) {
  std::map<std::string, lab::Reference> refs;
  auto table = load_baseline_table(baseline_table_path(workdir, preset));
  if (!table.contains(lab::kReferenceDesign)) return refs;
  try {
    auto ref = table[lab::kReferenceDesign]["report"].get<lab::EvalReport>();
    for (const auto& t : ref.tasks)
      if (t.completed()) refs[t.task] = lab::reference_from(t);
  } catch (const std::exception&) {
    // an unreadable table only costs the monitor its references
  }
  return refs;
}

int64_t delta_net_parameters(JitContext& jit, const lab::Preset& preset, const std::string& baselines_dir) {
  auto b = jit.build_file((baselines_dir.empty() ? default_baselines_dir() : baselines_dir) + "/" + lab::kReferenceDesign + ".cpp");
  if (!b.ok()) return 0;
  MixerConfig cfg;
  cfg.d_model = preset.model.d_model;
  cfg.num_heads = preset.model.num_heads;
  try {
    int64_t n = 0;
    for (const auto& p : jit::instantiate(b, cfg)->parameters()) n += p.numel();
    return n;
  } catch (const std::exception&) {
    return 0;
  }
}

PluginEvalOutcome evaluate_plugin_file(JitContext& jit, PluginEvalRequest req) {
  PluginEvalOutcome out;
  out.build = jit.build_file(req.file);
  if (!out.build.ok()) return out;
  auto tasks = lab::select_tasks(req.preset, req.options.tasks);
  if (!tasks) {
    out.error = tasks.error().message;
    return out;
  }
  for (const auto& [name, settings] : *tasks) {
    if (!lab::task_reads_corpus(name)) continue;
    auto corpus = lab::load_corpus(req.cache_dir.empty() ? jit::default_cache_dir() : std::filesystem::path(req.cache_dir),
                                   settings.value("corpus", "kjv"));
    if (!corpus) {
      out.error = corpus.error().message;
      return out;
    }
    req.options.corpus = std::move(*corpus);
  }
  req.options.declared_quadratic = out.build.declares_quadratic;
  req.options.reference_parameters = delta_net_parameters(jit, req.preset);
  if (req.use_references) req.options.references = baseline_references(req.workdir, req.preset.name);
  const jit::PluginBuild& build = out.build;
  auto report = lab::evaluate_mixer(
      build.entry->name, [&build](const MixerConfig& cfg) { return jit::instantiate(build, cfg); }, req.preset,
      req.options);
  if (!report) {
    out.error = report.error().message;
    return out;
  }
  out.report = std::move(*report);
  return out;
}

WorkerJob plugin_eval_job(const std::string& preset, const std::string& presets_file, const std::vector<std::string>& tasks,
                          const std::string& cache_dir, const std::string& workdir) {
  WorkerJob job;
  job.preset = preset;
  job.presets_file = presets_file.empty() ? "" : std::filesystem::absolute(presets_file).string();
  job.tasks = tasks;
  job.kind = JobKind::evaluate;
  job.baselines_dir = default_baselines_dir();
  job.cache_dir = cache_dir.empty() ? jit::default_cache_dir().string() : cache_dir;
  job.references = baseline_references(workdir, preset);
  return job;
}

}  // namespace asiarch::host
