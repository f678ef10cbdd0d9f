// The settings of `asiarch run`, in one table: each one's name in
// asiarch.json, its value type, default, help, the RunConfig field it sets,
// and its command-line flag if it has one. The config file parser
// (run_config.cpp), the `run` flags (run_flags.cpp) and the settings section
// of docs/discovery.md (`asiarch settings --markdown`) all come from it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/run_config.h"

namespace asiarch::host {

// What values a setting accepts.
struct SettingType {
  enum class Kind { text, choice, texts, integer, positive_number, number, object };
  Kind kind = Kind::text;
  std::vector<std::string> choices;  // choice
  int64_t min = 0;                   // integer
  uint64_t max = 0;                  // integer: the RunConfig field's largest value

  bool accepts(const nlohmann::json& value) const;
  // For messages and docs: "a positive integer", "\"text\" or \"jsonl\"".
  std::string describe() const;
};

struct RunSetting {
  std::string key;   // in asiarch.json; "a.b" is the key b of the object a
  std::string flag;  // on `asiarch run`, e.g. "--pool-size"; empty: none
  SettingType type;
  std::string help;
  std::string default_note;  // shown instead of the default value where that is a sentinel
  // The RunConfig field, as JSON; set takes only values type.accepts.
  std::function<nlohmann::json(const RunConfig&)> get;
  std::function<void(RunConfig&, const nlohmann::json&)> set;

  // The default (from a default RunConfig) for people: the note, or the value.
  std::string default_text() const;
};

// In the order the docs list them.
const std::vector<RunSetting>& run_settings();
const RunSetting* find_setting(const std::string& key);

// The settings table of docs/discovery.md, in Markdown.
std::string settings_markdown();

}  // namespace asiarch::host
