#include "agents/llm/prompts.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "util/files.h"

namespace asiarch::agents::llm {
namespace {

struct Embedded {
  const char* name;
  const char* text;
};
const Embedded kTemplates[] = {
#include "llm_prompts.inc"
};

std::string trim_end(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string render(const std::string& text, const std::map<std::string, std::string>& values) {
  std::string out;
  size_t at = 0;
  for (;;) {
    const size_t open = text.find("{{", at);
    if (open == std::string::npos) break;
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) break;
    out += text.substr(at, open - at);
    const std::string key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    out += it == values.end() ? "" : it->second;
    at = close + 2;
  }
  return out + text.substr(at);
}

// Keeps the first and last lines of `text`, within about `tokens` tokens.
std::string cut_middle(const std::string& text, int64_t tokens) {
  const size_t keep = static_cast<size_t>(std::max<int64_t>(tokens, 64) * 4);
  if (text.size() <= keep) return text;
  const size_t head = keep * 2 / 3, tail = keep - head;
  size_t h = text.rfind('\n', head);
  size_t t = text.find('\n', text.size() - tail);
  if (h == std::string::npos || h == 0) h = head;
  if (t == std::string::npos) t = text.size() - tail;
  const auto lines = std::count(text.begin() + static_cast<std::ptrdiff_t>(h),
                                text.begin() + static_cast<std::ptrdiff_t>(t), '\n');
  return text.substr(0, h) + "\n... [" + std::to_string(lines) + " lines left out to fit the context] ...\n" +
         text.substr(t + 1);
}

}  // namespace

std::vector<std::string> template_names() {
  std::vector<std::string> out;
  for (const auto& t : kTemplates) {
    std::string n = t.name;
    out.push_back(n.substr(0, n.size() - 4));  // without .txt
  }
  return out;
}

Result<Template> parse_template(const std::string& text, const std::string& origin) {
  Template t;
  t.origin = origin;
  std::istringstream in(text);
  std::string line, *into = nullptr;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!into && line.rfind("# ", 0) == 0) {
      if (line.rfind("# name:", 0) == 0) t.name = line.substr(7);
      if (line.rfind("# version:", 0) == 0) {
        try {
          t.version = std::stoi(line.substr(10));
        } catch (...) {
          return make_error(origin + ":" + std::to_string(n) + ": the version must be an integer");
        }
      }
      continue;
    }
    if (line == "--- system") { into = &t.system; continue; }
    if (line == "--- user") { into = &t.user; continue; }
    if (into) *into += line + "\n";
  }
  t.name.erase(0, t.name.find_first_not_of(' '));
  if (t.name.empty() || t.version <= 0)
    return make_error(origin + ": a template starts with \"# name: NAME\" and \"# version: N\" lines");
  if (t.system.empty()) return make_error(origin + ": no \"--- system\" message");
  t.system = trim_end(t.system);
  t.user = trim_end(t.user);
  return t;
}

Result<Template> load_template(const std::string& name, const std::string& prompts_dir) {
  if (!prompts_dir.empty()) {
    const auto path = std::filesystem::path(prompts_dir) / (name + ".txt");
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      auto text = read_file(path);
      if (!text) return text.error();
      return parse_template(*text, path.string());
    }
  }
  for (const auto& t : kTemplates)
    if (std::string(t.name) == name + ".txt") return parse_template(t.text, "built-in " + name + ".txt");
  return make_error("no prompt template \"" + name + "\"");
}

const std::string& ops_summary() {
  static const std::string s = [] {
    auto t = load_template("ops", "");
    return t ? t->system : std::string();
  }();
  return s;
}

std::vector<Message> fit(const Template& t, std::vector<Part> parts, int64_t budget_tokens) {
  auto build = [&] {
    std::map<std::string, std::string> values;
    for (const auto& p : parts) values[p.key] = p.text.empty() ? "(none)" : p.text;
    return std::vector<Message>{{"system", render(t.system, values)}, {"user", render(t.user, values)}};
  };
  auto size = [](const std::vector<Message>& m) {
    int64_t n = 0;
    for (const auto& x : m) n += estimate_tokens(x.content);
    return n;
  };
  auto messages = build();
  // Leave out what matters least first.
  int max_drop = 0;
  for (const auto& p : parts) max_drop = std::max(max_drop, p.drop);
  for (int level = 1; level <= max_drop && size(messages) > budget_tokens; ++level) {
    for (auto& p : parts)
      if (p.drop == level && !p.text.empty()) p.text = "(left out to fit the context)";
    messages = build();
  }
  // Then cut the longest cuttable parts in the middle.
  for (int round = 0; round < 8 && size(messages) > budget_tokens; ++round) {
    Part* longest = nullptr;
    for (auto& p : parts)
      if (p.cut && (!longest || p.text.size() > longest->text.size())) longest = &p;
    if (!longest || longest->text.size() < 512) break;
    const int64_t over = size(messages) - budget_tokens;
    longest->text = cut_middle(longest->text, estimate_tokens(longest->text) - over - 64);
    messages = build();
  }
  // Whatever is still too long is cut from the user message's end.
  if (size(messages) > budget_tokens) {
    const int64_t room = std::max<int64_t>(budget_tokens - estimate_tokens(messages[0].content), 256);
    if (messages[1].content.size() > static_cast<size_t>(room * 4))
      messages[1].content = messages[1].content.substr(0, static_cast<size_t>(room * 4)) + "\n[cut to fit the context]";
  }
  return messages;
}

}  // namespace asiarch::agents::llm
