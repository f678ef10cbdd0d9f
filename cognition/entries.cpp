#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cognition/cognition.h"

namespace asiarch::cognition {
namespace {

struct EmbeddedFile {
  const char* name;
  const char* text;
};

const EmbeddedFile kEntries[] = {
#include "cognition_entries.inc"
};

}  // namespace

Result<Entry> parse_entry(const std::string& json_text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    return make_error(where + ": not JSON: " + e.what());
  }
  if (!j.is_object()) return make_error(where + ": an entry must be a JSON object");
  Entry e;
  auto text = [&](const char* key, std::string& out, bool required) -> Status {
    if (!j.contains(key)) {
      if (required) return make_error(where + ": field \"" + key + "\" is missing");
      return Ok{};
    }
    if (!j[key].is_string()) return make_error(where + ": field \"" + key + "\" must be a string");
    out = j[key].get<std::string>();
    if (required && out.empty()) return make_error(where + ": field \"" + key + "\" is empty");
    return Ok{};
  };
  for (auto [key, out, required] :
       {std::tuple{"id", &e.id, true}, {"title", &e.title, true}, {"key_idea", &e.key_idea, true},
        {"mechanism", &e.mechanism, false}, {"topic", &e.topic, false}, {"strengths", &e.strengths, false},
        {"weaknesses", &e.weaknesses, false}, {"when_it_helps", &e.when_it_helps, false},
        {"build_with_ops", &e.build_with_ops, false}})
    if (auto st = text(key, *out, required); !st) return st.error();
  if (j.contains("year")) {
    if (!j["year"].is_number_integer()) return make_error(where + ": field \"year\" must be an integer");
    e.year = j["year"].get<int>();
  }
  return e;
}

Result<std::vector<Entry>> builtin_entries() {
  std::vector<Entry> out;
  for (const auto& f : kEntries) {
    auto e = parse_entry(f.text, std::string("cognition/entries/") + f.name);
    if (!e) return e.error();
    e->source = "built-in";
    out.push_back(std::move(*e));
  }
  return out;
}

Result<std::vector<Entry>> load_notes(const std::filesystem::path& dir) {
  std::vector<Entry> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec))
    if (f.path().extension() == ".json") files.push_back(f.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    auto e = parse_entry(text.str(), f.string());
    if (!e) return e.error();
    e->source = "note " + f.filename().string();
    out.push_back(std::move(*e));
  }
  return out;
}

std::string format_entry(const Entry& e) {
  std::ostringstream out;
  out << e.title << (e.year ? " (" + std::to_string(e.year) + ")" : "") << "  [" << e.id << "; " << e.source << "]\n";
  auto field = [&](const char* name, const std::string& v) {
    if (!v.empty()) out << "  " << name << ": " << v << "\n";
  };
  field("key idea", e.key_idea);
  field("mechanism", e.mechanism);
  field("strengths", e.strengths);
  field("weaknesses", e.weaknesses);
  field("when it helps", e.when_it_helps);
  field("build with ops", e.build_with_ops);
  return out.str();
}

}  // namespace asiarch::cognition
