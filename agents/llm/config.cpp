#include "agents/llm/config.h"

#include <algorithm>
#include "util/safe_text.h"

#include <cstring>

namespace asiarch::agents::llm {
namespace {

bool known_role(const std::string& r) {
  for (const char* k : kRoles)
    if (r == k) return true;
  return false;
}

// Role defaults: the Engineer and the Judge want exactness, the Researcher variety.
RoleSettings defaults(const std::string& role) {
  RoleSettings s;
  if (role == "engineer" || role == "judge") s.temperature = 0.2;
  if (role == "researcher" || role == "engineer") s.max_tokens = 8192;
  return s;
}

}  // namespace

Status check_tables(const Config& c) {
  if (!c.roles.is_object()) return make_error("llm.roles must be an object of roles");
  for (const auto& [role, v] : c.roles.items()) {
    const std::string at = "llm.roles." + role;
    if (!known_role(role)) return make_error(at + ": unknown role; roles are researcher, engineer, analyst, judge");
    if (!v.is_object()) return make_error(at + " must be an object with model, temperature, max_tokens");
    for (const auto& [k, x] : v.items()) {
      if (k == "model") {
        if (!x.is_string()) return make_error(at + ".model must be a string");
      } else if (k == "temperature") {
        if (!x.is_number() || x.get<double>() < 0 || x.get<double>() > 2)
          return make_error(at + ".temperature must be a number from 0 to 2");
      } else if (k == "max_tokens") {
        if (!x.is_number_integer() || x.get<int64_t>() < 1) return make_error(at + ".max_tokens must be a positive integer");
      } else {
        return make_error(at + ": unknown field \"" + k + "\"; valid fields: model, temperature, max_tokens");
      }
    }
  }
  if (!c.prices.is_object()) return make_error("llm.prices must be an object of models");
  for (const auto& [model, v] : c.prices.items()) {
    const std::string at = "llm.prices." + model;
    if (!v.is_object()) return make_error(at + " must be an object with input_per_mtok, output_per_mtok");
    for (const auto& [k, x] : v.items()) {
      if (k != "input_per_mtok" && k != "output_per_mtok")
        return make_error(at + ": unknown field \"" + k + "\"; valid fields: input_per_mtok, output_per_mtok");
      if (!x.is_number() || x.get<double>() < 0) return make_error(at + "." + k + " must be a non-negative number");
    }
  }
  return Ok{};
}

Status check_config(const Config& c) {
  if (auto st = check_tables(c); !st) return st;
  if (!c.url.empty()) {
    if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0)
      return make_error("llm.url must start with http:// or https://, got \"" + redact_url(c.url) + "\"");
    for (size_t i = 0; i < c.models.size(); ++i)
      if (c.models[i].empty() || std::find(c.models.begin(), c.models.begin() + i, c.models[i]) != c.models.begin() + i)
        return make_error("llm.models[" + std::to_string(i) + "]: " +
                          (c.models[i].empty() ? "an empty model name" : "\"" + c.models[i] + "\" is listed twice"));
    for (const char* r : kRoles)
      if (role_settings(c, r).model.empty())
        return make_error(std::string("llm.roles.") + r + ".model: no model for this role; set llm.model (--model)");
  }
  return Ok{};
}

RoleSettings role_settings(const Config& c, const std::string& role) {
  RoleSettings s = defaults(role);
  s.model = c.model;
  // With several Researcher models and no llm.model, the first is the default (the bandit picks per proposal).
  if (s.model.empty() && role == "researcher" && !c.models.empty()) s.model = c.models.front();
  if (c.roles.is_object() && c.roles.contains(role)) {
    const auto& r = c.roles.at(role);
    if (r.contains("model")) s.model = r.at("model").get<std::string>();
    if (r.contains("temperature")) s.temperature = r.at("temperature").get<double>();
    if (r.contains("max_tokens")) s.max_tokens = r.at("max_tokens").get<int>();
  }
  return s;
}

std::optional<Price> price_of(const Config& c, const std::string& model) {
  if (!c.prices.is_object() || !c.prices.contains(model)) return std::nullopt;
  const auto& p = c.prices.at(model);
  return Price{p.value("input_per_mtok", 0.0), p.value("output_per_mtok", 0.0)};
}

}  // namespace asiarch::agents::llm
