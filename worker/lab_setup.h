// What `eval` and `baselines` share: presets, the baseline table, and the
// evaluation of one plugin file with the lab.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "worker/jit_context.h"
#include "worker/worker_job.h"
#include "lab/eval.h"
#include "lab/presets.h"

namespace asiarch::host {

// --preset / --presets handling: the embedded presets, or a user file.
Result<lab::Preset> load_preset_arg(const std::string& name, const std::string& presets_file);

// A preset whose description starts "TEST-ONLY" (smoke) says so whenever it is run: its numbers rank nothing.
inline bool test_only(const lab::Preset& p) { return p.description.rfind("TEST-ONLY", 0) == 0; }

// <workdir>/baselines/<preset>.json: per baseline mixer, the source hash and
// settings it was evaluated with, and its report.
std::filesystem::path baseline_table_path(const std::string& workdir, const std::string& preset);
nlohmann::json load_baseline_table(const std::filesystem::path& path);  // {} when absent or unreadable
// DeltaNet's completed curves from that table, per task: the quality monitor's
// references (empty when there is no readable table).
std::map<std::string, lab::Reference> baseline_references(const std::string& workdir, const std::string& preset);

// Parameters of the DeltaNet baseline at the preset's width (0 if it cannot be
// built). baselines_dir empty: default_baselines_dir().
int64_t delta_net_parameters(JitContext& jit, const lab::Preset& preset, const std::string& baselines_dir = "");

// The job `eval` and `compare` give a worker for a plugin file on `preset`: the compile cache, and
// DeltaNet's curves from `workdir`'s baseline table as the quality monitor's references. The
// caller sets the name, seed and options.
WorkerJob plugin_eval_job(const std::string& preset, const std::string& presets_file, const std::vector<std::string>& tasks,
                          const std::string& cache_dir, const std::string& workdir);

struct PluginEvalRequest {
  std::string file;
  lab::Preset preset;
  lab::EvalOptions options;  // tasks, seed, mixer options; the rest is filled in
  std::string cache_dir;
  std::string workdir;  // for the baseline table (quality-monitor references)
  bool use_references = true;
};

struct PluginEvalOutcome {
  jit::PluginBuild build;
  std::optional<lab::EvalReport> report;  // set when the plugin built
  std::string error;                      // setup error (bad task, corpus, ...)
};

PluginEvalOutcome evaluate_plugin_file(JitContext& jit, PluginEvalRequest request);

}  // namespace asiarch::host
