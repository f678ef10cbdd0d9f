// The command-line flags of the run settings that have one (config/run_settings.h).
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/run_config.h"
#include "config/run_settings.h"

namespace CLI {
class App;
}

namespace asiarch::host {

// The values given on the command line, checked as a config file's are; they
// are applied after the config file, which they override.
struct GivenFlags {
  std::vector<std::pair<const RunSetting*, nlohmann::json>> values;
  void apply(RunConfig& config) const;
};

// Adds a flag to `cmd` for every setting with one; what parsing finds goes to `given`.
void add_setting_flags(CLI::App& cmd, const std::shared_ptr<GivenFlags>& given);

}  // namespace asiarch::host
