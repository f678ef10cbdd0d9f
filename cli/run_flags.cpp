#include "cli/run_flags.h"

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

namespace asiarch::host {
namespace {

using Kind = SettingType::Kind;

// A flag's text as the JSON value a config file would hold, if it is one the setting accepts.
std::optional<nlohmann::json> flag_value(const RunSetting& s, const std::string& text) {
  nlohmann::json v = text;
  if (s.type.kind == Kind::integer || s.type.kind == Kind::positive_number || s.type.kind == Kind::number) {
    v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!v.is_number()) return std::nullopt;
  }
  if (!s.type.accepts(v)) return std::nullopt;
  return v;
}

std::string type_name(const SettingType& t) {
  switch (t.kind) {
    case Kind::integer: return "INT";
    case Kind::positive_number:
    case Kind::number: return "NUMBER";
    case Kind::object: return "JSON";
    case Kind::texts: return "LIST";
    case Kind::choice: {
      std::string names;
      for (const auto& c : t.choices) names += (names.empty() ? "" : "|") + c;
      return names;
    }
    case Kind::text: return "TEXT";
  }
  return "TEXT";
}

}  // namespace

void GivenFlags::apply(RunConfig& config) const {
  for (const auto& [setting, value] : values) setting->set(config, value);
}

void add_setting_flags(CLI::App& cmd, const std::shared_ptr<GivenFlags>& given) {
  for (const RunSetting& s : run_settings()) {
    if (s.flag.empty()) continue;
    const RunSetting* setting = &s;
    CLI::Option* opt = nullptr;
    if (s.type.kind == Kind::texts) {
      opt = cmd.add_option_function<std::vector<std::string>>(
                   s.flag, [given, setting](const std::vector<std::string>& v) { given->values.emplace_back(setting, v); },
                   s.help)
                ->delimiter(',');
    } else {
      // Checked before the callback runs, so the callback's value is there.
      opt = cmd.add_option_function<std::string>(
                   s.flag,
                   [given, setting](const std::string& text) {
                     given->values.emplace_back(setting, *flag_value(*setting, text));
                   },
                   s.help)
                ->check(CLI::Validator(
                    [setting](std::string& text) {
                      return flag_value(*setting, text) ? std::string() : "must be " + setting->type.describe();
                    },
                    ""));
    }
    opt->type_name(type_name(s.type));
    if (const std::string d = s.default_text(); !d.empty()) opt->default_str(d);
  }
}

}  // namespace asiarch::host
