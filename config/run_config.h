// Settings of `asiarch run`: defaults (the initialisers below), then the
// workdir's asiarch.json (or --config FILE), then command-line flags. Which
// field each config key and flag sets, and how it is checked, is the table in
// config/run_settings.cpp. Unknown keys and wrong types are errors that name the
// file and the field.
#pragma once

#include <string>
#include <vector>

#include "agents/factory.h"
#include "archive/selection.h"
#include "exec/slurm_settings.h"
#include "lab/names.h"
#include "worker/sandbox.h"
#include "util/result.h"

namespace asiarch::host {

// Which backend plays each agent role (agents/factory.h).
using AgentBackends = agents::Backends;

struct RunConfig {
  std::string workdir = "asiarch-work";
  std::string preset = "explore";
  std::string presets_file;        // empty: the embedded presets
  std::vector<std::string> tasks;  // empty: every task of the preset
  int budget = 10;                 // evolved experiments the workdir holds when the run ends
  int workers = 1;
  std::vector<std::string> gpus;
  slurm::Settings slurm;           // the slurm executor's (exec/slurm_settings.h)   // one worker per entry, each seeing that GPU alone (CUDA_VISIBLE_DEVICES)
  std::uint64_t seed = 0;
  archive::SelectionConfig selection;
  int max_repair_attempts = 4;     // compiles per built source (1: no repair)
  int max_runtime_revisions = 1;   // Engineer revisions after a runtime failure (0: none)
  AgentBackends agents;            // empty: llm when llm.url is set, else offline
  agents::llm::Config llm;         // the OpenAI-compatible endpoint (agents/llm/config.h)
  int max_proposal_tries = 3;      // a Researcher answer refused as a duplicate is asked again this many times in all
  std::string executor = "local";  // where built candidates are gated and trained
  std::string events = "text";     // what `run` prints: text (progress lines) | jsonl (one event a line)
  std::vector<std::string> baselines = {"linear_attention", lab::kReferenceDesign, "gated_delta_net", "mamba2"};
  std::string fitness_reference = "strongest";  // what fitness measures against: the strongest baseline, or one by name
  std::string fitness_scale = "spread";         // spread (from the baselines' measured distance) | asi-arch (10%)
  std::string early_stop = "on";   // on: a clear loser's first evaluation stops early (lab/train.h MonitorConfig)
  int recheck = 1;                 // 1: a design that beats the reference is evaluated again in a fresh worker
  int seeds = 1;                   // seeds per evaluation on `preset`; fitness is measured on their mean
  int promote = -1;                // the ladder: at most this many evolved designs per rung (-1: 2 on explore, else 0; 0 with no ladder: off)
  std::string promote_preset = "verify";  // the one rung above `preset` when `ladder` is empty
  std::vector<std::string> ladder; // the rungs above `preset`, in order (empty: promote_preset when promote > 0)
  double promote_share = 0.25;     // each rung keeps this share of the evolved designs scored on the rung below
  int stage_seeds = 3;             // seeds per evaluation on the rungs above `preset` and on the held-out tasks
  int held_out = 3;                // the best this many evolved designs and the reference get the held-out tasks at the end
  std::vector<std::string> stage_baselines;  // baselines beside the reference on the rungs and held-out tasks (empty: none)
  SandboxLimits limits;            // wall_seconds is the per-experiment timeout
  StageLimits stage_limits;        // gates and training, per stage
  std::string cache_dir;           // empty: the default cache
  std::string baselines_dir;       // empty: the source tree's plugins/baselines
  std::string plugins_dir;         // hand-written plugins to adopt; empty: <workdir>/plugins
  int plugin_max_kb = 256;         // a larger plugin file is refused
  bool quiet = false;
};

// Applies the settings in JSON `text` (from `source`) onto `config`: all of
// them, or none and an error.
Status apply_config_json(RunConfig& config, const std::string& text, const std::string& source);

// Applies `config_file`, or else `<config.workdir>/asiarch.json` when it exists, onto `config`.
Status apply_config_file(RunConfig& config, const std::string& config_file);

}  // namespace asiarch::host
