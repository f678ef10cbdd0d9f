#include "config/run_config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "config/run_settings.h"
#include "util/files.h"

namespace asiarch::host {
namespace {

std::string type_of(const nlohmann::json& j) {
  if (j.is_number_integer()) return "integer " + j.dump();
  if (j.is_number()) return "number " + j.dump();
  if (j.is_string()) return "string " + j.dump();
  return std::string(j.type_name());
}

// The names one level below `prefix` ("" or "agents"), in the table's order.
std::vector<std::string> names_under(const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& s : run_settings()) {
    if (!prefix.empty() && s.key.rfind(prefix + ".", 0) != 0) continue;
    const std::string rest = prefix.empty() ? s.key : s.key.substr(prefix.size() + 1);
    const std::string name = (prefix.empty() ? "" : prefix + ".") + rest.substr(0, rest.find('.'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

std::string joined(const std::vector<std::string>& names, size_t strip = 0) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n.substr(strip);
  return out;
}

// Applies the object `j`, the settings under `prefix`, onto `config`.
Status apply_object(RunConfig& config, const nlohmann::json& j, const std::string& prefix, const std::string& source) {
  for (const auto& [name, value] : j.items()) {
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    if (const RunSetting* s = find_setting(key)) {
      if (!s->type.accepts(value))
        return make_error(source + ": field \"" + key + "\" must be " + s->type.describe() + ", got " + type_of(value));
      s->set(config, value);
      continue;
    }
    const auto below = names_under(key);
    if (below.empty())
      return make_error(source + ": unknown field \"" + key + "\"; valid fields: " + joined(names_under(prefix)));
    if (!value.is_object())
      return make_error(source + ": field \"" + key + "\" must be an object with the keys " +
                        joined(below, key.size() + 1) + ", got " + type_of(value));
    if (auto st = apply_object(config, value, key, source); !st) return st;
  }
  return Ok{};
}

}  // namespace

Status apply_config_json(RunConfig& config, const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return make_error(source + ": expected a JSON object of settings");
  RunConfig next = config;  // all or nothing
  if (auto st = apply_object(next, j, "", source); !st) return st;
  if (auto st = agents::llm::check_tables(next.llm); !st) return make_error(source + ": " + st.error().message);
  config = next;
  return Ok{};
}

Status apply_config_file(RunConfig& config, const std::string& config_file) {
  std::string file = config_file;
  const auto beside = std::filesystem::path(config.workdir) / "asiarch.json";
  std::error_code ec;
  if (file.empty() && std::filesystem::exists(beside, ec)) file = beside.string();
  if (file.empty()) return Ok{};
  auto text = read_file(file);
  if (!text) return text.error();
  return apply_config_json(config, *text, file);
}

}  // namespace asiarch::host
