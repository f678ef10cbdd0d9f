// Presets: the sizes of model, training and tasks, as data (lab/presets.json,
// embedded in the binary; a user file can replace it).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/gates.h"
#include "lab/model.h"
#include "lab/names.h"
#include "lab/train.h"
#include "util/result.h"

namespace asiarch::lab {

struct Preset {
  std::string name;
  std::string description;
  ModelConfig model;  // vocab and decode_length are set per task
  TrainConfig train;
  MonitorConfig monitor;
  std::vector<int64_t> gate_lengths;
  double parameter_tolerance = 0.3;
  // Task name -> its settings (generator keys plus optional steps / batch_size / lr).
  std::vector<std::pair<std::string, nlohmann::json>> tasks;
  // Tasks kept for the final report and never used for selection: other generator settings of the
  // same tasks, and byte-level LM on a second corpus. Evaluated as the preset "<name>/held-out",
  // on seeds offset by `held_out_seed_offset` (other generator seeds). Empty: the preset has none.
  std::vector<std::pair<std::string, nlohmann::json>> held_out_tasks;
  std::uint64_t held_out_seed_offset = 1000;
};


// The presets file the binary was built with.
const std::string& embedded_presets();

// Parses preset `name` from `text` (whose origin `source` names in errors). "<name>/held-out" is
// preset <name> with its held-out tasks as its tasks (an error where it has none).
// Unknown presets, unknown keys and wrong types are errors naming the field.
Result<Preset> load_preset(const std::string& name, const std::string& text = embedded_presets(),
                           const std::string& source = "lab/presets.json");
std::vector<std::string> preset_names(const std::string& text = embedded_presets());

// Training settings for one task: the preset's, with the task's overrides.
TrainConfig train_config_for(const Preset& preset, const nlohmann::json& task_settings);

}  // namespace asiarch::lab
