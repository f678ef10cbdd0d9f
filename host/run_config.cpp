#include "host/run_config.h"

#include <functional>
#include <map>

#include <nlohmann/json.hpp>

namespace asiarch::host {
namespace {

using Setter = std::function<void(RunConfig&, const nlohmann::json&)>;
struct Field {
  const char* type;  // for the message
  std::function<bool(const nlohmann::json&)> accepts;
  Setter set;
};

bool is_int(const nlohmann::json& j) { return j.is_number_integer(); }
bool is_pos_int(const nlohmann::json& j) { return j.is_number_integer() && j.get<int64_t>() > 0; }
bool is_nonneg_int(const nlohmann::json& j) { return j.is_number_integer() && j.get<int64_t>() >= 0; }
bool is_pos_number(const nlohmann::json& j) { return j.is_number() && j.get<double>() > 0; }
bool is_strings(const nlohmann::json& j) {
  if (!j.is_array()) return false;
  for (const auto& e : j)
    if (!e.is_string()) return false;
  return true;
}

bool is_agents(const nlohmann::json& j) {
  if (!j.is_object()) return false;
  for (const auto& [k, v] : j.items())
    if (!(k == "researcher" || k == "engineer" || k == "analyst" || k == "judge") || !v.is_string()) return false;
  return true;
}

const std::map<std::string, Field>& fields() {
  static const std::map<std::string, Field> f = {
      {"preset", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.preset = j; }}},
      {"presets_file", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.presets_file = j; }}},
      {"tasks", {"an array of strings", is_strings, [](RunConfig& c, const nlohmann::json& j) { c.tasks = j.get<std::vector<std::string>>(); }}},
      {"budget", {"a non-negative integer", is_nonneg_int, [](RunConfig& c, const nlohmann::json& j) { c.budget = j; }}},
      {"workers", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.workers = j; }}},
      {"seed", {"a non-negative integer", is_nonneg_int, [](RunConfig& c, const nlohmann::json& j) { c.seed = j; }}},
      {"pool_size", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.selection.pool_size = j; }}},
      {"parent_top", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.selection.parent_top = j; }}},
      {"references", {"a non-negative integer", is_nonneg_int, [](RunConfig& c, const nlohmann::json& j) { c.selection.references = j; }}},
      {"max_repair_attempts", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.max_repair_attempts = j; }}},
      {"max_runtime_revisions", {"a non-negative integer", is_nonneg_int, [](RunConfig& c, const nlohmann::json& j) { c.max_runtime_revisions = j; }}},
      {"executor", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.executor = j; }}},
      {"agents", {"an object of role names (researcher, engineer, analyst, judge) to strings", is_agents, [](RunConfig& c, const nlohmann::json& j) {
         c.agents.researcher = j.value("researcher", c.agents.researcher);
         c.agents.engineer = j.value("engineer", c.agents.engineer);
         c.agents.analyst = j.value("analyst", c.agents.analyst);
         c.agents.judge = j.value("judge", c.agents.judge);
       }}},
      {"promote", {"a non-negative integer", is_nonneg_int, [](RunConfig& c, const nlohmann::json& j) { c.promote = j; }}},
      {"promote_preset", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.promote_preset = j; }}},
      {"baselines", {"an array of strings", is_strings, [](RunConfig& c, const nlohmann::json& j) { c.baselines = j.get<std::vector<std::string>>(); }}},
      {"timeout_seconds", {"a positive number", is_pos_number, [](RunConfig& c, const nlohmann::json& j) { c.limits.wall_seconds = j; }}},
      {"memory_limit_mb", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.limits.address_space_mb = j; }}},
      {"cpu_limit_seconds", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.limits.cpu_seconds = j; }}},
      {"file_size_limit_mb", {"a positive integer", is_pos_int, [](RunConfig& c, const nlohmann::json& j) { c.limits.file_size_mb = j; }}},
      {"cache_dir", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.cache_dir = j; }}},
      {"baselines_dir", {"a string", &nlohmann::json::is_string, [](RunConfig& c, const nlohmann::json& j) { c.baselines_dir = j; }}},
  };
  (void)is_int;
  return f;
}

std::string type_of(const nlohmann::json& j) {
  if (j.is_number_integer()) return "integer " + j.dump();
  if (j.is_number()) return "number " + j.dump();
  if (j.is_string()) return "string " + j.dump();
  return std::string(j.type_name());
}

}  // namespace

std::vector<std::string> config_keys() {
  std::vector<std::string> k;
  for (const auto& [name, f] : fields()) k.push_back(name);
  return k;
}

Status apply_config_json(RunConfig& config, const std::string& text, const std::string& source) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return make_error(source + ": expected a JSON object of settings");
  RunConfig next = config;  // all or nothing
  for (const auto& [key, value] : j.items()) {
    auto f = fields().find(key);
    if (f == fields().end()) {
      std::string valid;
      for (const auto& k : config_keys()) valid += (valid.empty() ? "" : ", ") + k;
      return make_error(source + ": unknown field \"" + key + "\"; valid fields: " + valid);
    }
    if (!f->second.accepts(value))
      return make_error(source + ": field \"" + key + "\" must be " + f->second.type + ", got " + type_of(value));
    f->second.set(next, value);
  }
  config = next;
  return Ok{};
}

}  // namespace asiarch::host
