#include "agents/llm/answer.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace asiarch::agents::llm {
namespace {

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in(s);
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Models write JSON by hand: raw newlines and tabs inside strings, a comma before a closing brace.
std::string mend_json(const std::string& s) {
  std::string out;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      if (c == '\n') { out += "\\n"; continue; }
      if (c == '\t') { out += "\\t"; continue; }
      if (c == '\r') continue;
      out += c;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == ',') {
      size_t j = i + 1;
      while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
      if (j < s.size() && (s[j] == '}' || s[j] == ']')) continue;
    }
    out += c;
  }
  return out;
}

std::optional<nlohmann::json> parse_object(const std::string& text) {
  for (const std::string& t : {text, mend_json(text)}) {
    auto j = nlohmann::json::parse(t, nullptr, false);
    if (!j.is_discarded() && j.is_object()) return j;
  }
  return std::nullopt;
}

// The first balanced {...} from `from`, strings respected.
std::optional<std::string> balanced_object(const std::string& s, size_t from) {
  const size_t start = s.find('{', from);
  if (start == std::string::npos) return std::nullopt;
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = start; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}' && --depth == 0) return s.substr(start, i - start + 1);
  }
  return std::nullopt;
}

struct Fence {
  std::string lang, body;
  bool closed = false;
};

std::vector<Fence> fences(const std::string& text) {
  std::vector<Fence> out;
  const auto ls = lines_of(text);
  for (size_t i = 0; i < ls.size(); ++i) {
    const std::string t = trim(ls[i]);
    if (t.rfind("```", 0) != 0) continue;
    Fence f;
    f.lang = lower(trim(t.substr(3)));
    size_t j = i + 1;
    for (; j < ls.size(); ++j) {
      if (trim(ls[j]) == "```") {
        f.closed = true;
        break;
      }
      f.body += ls[j] + "\n";
    }
    out.push_back(std::move(f));
    i = j;
  }
  return out;
}

bool cpp_lang(const std::string& lang) {
  return lang == "cpp" || lang == "c++" || lang == "cc" || lang == "cxx" || lang == "c" || lang == "cuda" ||
         lang == "hpp";
}

bool looks_like_cpp(const std::string& body) {
  return body.find("#include") != std::string::npos || body.find("class ") != std::string::npos ||
         body.find("ASIARCH_REGISTER_MIXER") != std::string::npos;
}

// A labelled line's value: "Name: x", "**Name:** x", "# Name: x".
// A line as a label reads it: markdown emphasis, headings and bullets stripped.
std::string label_text(const std::string& line) {
  std::string t = trim(line);
  while (!t.empty() && (t[0] == '*' || t[0] == '#' || t[0] == '-' || t[0] == ' ')) t.erase(0, 1);
  return t;
}
bool starts_label(const std::string& t, const std::string& label) {
  const std::string l = lower(t);
  return l.rfind(label + ":", 0) == 0 || l.rfind(label + "**:", 0) == 0 || l.rfind(label + ":**", 0) == 0;
}

std::optional<std::string> labelled(const std::string& text, const std::string& label) {
  const auto ls = lines_of(text);
  // A motivation ends where the answer's next labelled line begins.
  auto another_label = [](const std::string& line) {
    const std::string t = label_text(line);
    return starts_label(t, "name") || starts_label(t, "drew on") || starts_label(t, "motivation");
  };
  for (size_t i = 0; i < ls.size(); ++i) {
    std::string t = label_text(ls[i]);
    if (!starts_label(t, label)) continue;
    std::string v = t.substr(t.find(':') + 1);
    while (!v.empty() && (v[0] == '*' || v[0] == ' ')) v.erase(0, 1);
    v = trim(v);
    // A motivation runs on until a blank line or a fence.
    if (label == "motivation")
      for (size_t j = i + 1; j < ls.size() && !trim(ls[j]).empty() && trim(ls[j]).rfind("```", 0) != 0 &&
                             trim(ls[j]).rfind("<<<<<<<", 0) != 0 && !another_label(ls[j]);
           ++j)
        v += (v.empty() ? "" : " ") + trim(ls[j]);
    if (!v.empty()) return v;
  }
  return std::nullopt;
}

std::string registered_name(const std::string& code) {
  const auto at = code.find("ASIARCH_REGISTER_MIXER(");
  if (at == std::string::npos) return "";
  const auto q1 = code.find('"', at), q2 = q1 == std::string::npos ? q1 : code.find('"', q1 + 1);
  if (q2 == std::string::npos) return "";
  return code.substr(q1 + 1, q2 - q1 - 1);
}

// Lines with their content trimmed, blank ones left out: (text, line index).
std::vector<std::pair<std::string, size_t>> content_lines(const std::vector<std::string>& ls) {
  std::vector<std::pair<std::string, size_t>> out;
  for (size_t i = 0; i < ls.size(); ++i)
    if (auto t = trim(ls[i]); !t.empty()) out.emplace_back(t, i);
  return out;
}

size_t count_of(const std::string& hay, const std::string& needle, size_t* first) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
    if (n == 0) *first = at;
    ++n;
  }
  return n;
}

}  // namespace

std::string strip_think(const std::string& text) {
  std::string s = text;
  // A template that opens the block itself leaves only its end in the answer.
  const auto close = s.find("</think>");
  const auto open = s.find("<think>");
  if (close != std::string::npos && (open == std::string::npos || open > close)) s.erase(0, close + 8);
  for (auto at = s.find("<think>"); at != std::string::npos; at = s.find("<think>", at)) {
    const auto end = s.find("</think>", at);
    if (end == std::string::npos) {
      s.erase(at);
      break;
    }
    s.erase(at, end + 8 - at);
  }
  return trim(s);
}

Result<nlohmann::json> json_object(const std::string& text) {
  for (const auto& f : fences(text))
    if (f.lang == "json")
      if (auto j = parse_object(f.body)) return *j;
  if (auto j = parse_object(trim(text))) return *j;
  for (size_t from = 0; from < text.size();) {
    auto o = balanced_object(text, from);
    if (!o) break;
    if (auto j = parse_object(*o)) return *j;
    from = text.find('{', from) + 1;
  }
  return make_error("no JSON object in the answer");
}

std::optional<CodeBlock> code_block(const std::string& text) {
  std::optional<CodeBlock> best;
  for (const auto& f : fences(text)) {
    if (!(cpp_lang(f.lang) || (f.lang.empty() && looks_like_cpp(f.body)))) continue;
    if (!best || f.body.size() > best->code.size()) best = CodeBlock{f.body, f.closed};
  }
  return best;
}

std::vector<Edit> edit_blocks(const std::string& text) {
  std::vector<Edit> out;
  const auto ls = lines_of(text);
  for (size_t i = 0; i < ls.size(); ++i) {
    if (trim(ls[i]).rfind("<<<<<<< SEARCH", 0) != 0) continue;
    Edit e;
    size_t j = i + 1;
    for (; j < ls.size() && trim(ls[j]) != "======="; ++j) e.search += ls[j] + "\n";
    for (++j; j < ls.size() && trim(ls[j]).rfind(">>>>>>> REPLACE", 0) != 0; ++j) e.replace += ls[j] + "\n";
    if (j >= ls.size()) break;  // an unfinished block is not an edit
    out.push_back(std::move(e));
    i = j;
  }
  return out;
}

Result<std::string> apply_edits(const std::string& source, const std::vector<Edit>& edits) {
  std::string s = source;
  for (size_t n = 0; n < edits.size(); ++n) {
    const auto& e = edits[n];
    const std::string which = "edit " + std::to_string(n + 1) + " of " + std::to_string(edits.size());
    if (trim(e.search).empty()) return make_error(which + ": its SEARCH text is empty");
    size_t at = 0;
    const size_t exact = count_of(s, e.search, &at);
    if (exact == 1) {
      s.replace(at, e.search.size(), e.replace);
      continue;
    }
    // Whitespace-tolerant: the same non-blank lines, trimmed, in the same order.
    auto src_lines = lines_of(s);
    const auto src = content_lines(src_lines);
    const auto want = content_lines(lines_of(e.search));
    std::vector<size_t> hits;
    for (size_t i = 0; i + want.size() <= src.size(); ++i) {
      bool same = true;
      for (size_t k = 0; k < want.size() && same; ++k) same = src[i + k].first == want[k].first;
      if (same) hits.push_back(i);
    }
    if (hits.size() != 1) {
      const std::string first = want.empty() ? "" : want[0].first;
      return make_error(which + ": its SEARCH text " +
                        (hits.empty() ? std::string("matches nowhere in the parent's source")
                                      : "matches " + std::to_string(hits.size()) + " places") +
                        " (it begins \"" + first.substr(0, 80) + "\")");
    }
    const size_t from = src[hits[0]].second, to = src[hits[0] + want.size() - 1].second;
    std::string out;
    for (size_t i = 0; i < from; ++i) out += src_lines[i] + "\n";
    out += e.replace;
    for (size_t i = to + 1; i < src_lines.size(); ++i) out += src_lines[i] + "\n";
    s = std::move(out);
  }
  return s;
}

namespace {
// "[a], b; c" or "none" -> {"a", "b", "c"} / {}: labels as a model writes them in a line.
std::vector<std::string> label_list(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    std::string t = trim(cur);
    while (!t.empty() && (t.front() == '[' || t.front() == '`' || t.front() == '"')) t.erase(0, 1);
    while (!t.empty() && (t.back() == ']' || t.back() == '`' || t.back() == '"' || t.back() == '.')) t.pop_back();
    if (!t.empty() && lower(t) != "none" && lower(t) != "(none)") out.push_back(t);
    cur.clear();
  };
  for (char c : line) {
    if (c == ',' || c == ';') flush();
    else cur += c;
  }
  flush();
  return out;
}
}  // namespace

Result<DesignAnswer> parse_design(const std::string& answer) {
  const std::string text = strip_think(answer);
  if (text.empty()) return make_error("the answer is empty (or only a <think> block)");
  DesignAnswer d;
  auto j = json_object(text);
  if (j && (j->contains("code") || j->contains("edits") || j->contains("name"))) {
    const auto& o = *j;
    if (o.contains("name") && !o["name"].is_string()) return make_error("JSON field \"name\" must be a string");
    if (o.contains("motivation") && !o["motivation"].is_string())
      return make_error("JSON field \"motivation\" must be a string");
    d.name = o.value("name", "");
    d.motivation = o.value("motivation", "");
    if (o.contains("drew_on")) {
      const auto& w = o["drew_on"];
      d.drew_on_stated = true;
      if (w.is_string()) {
        d.drew_on = label_list(w.get<std::string>());
      } else if (w.is_array()) {
        for (const auto& x : w)
          if (x.is_string()) {
            auto l = label_list(x.get<std::string>());
            d.drew_on.insert(d.drew_on.end(), l.begin(), l.end());
          }
      } else if (!w.is_null()) {
        return make_error("JSON field \"drew_on\" must be an array of the bracketed labels you drew on ([] for none)");
      }
    }
    if (o.contains("code")) {
      if (!o["code"].is_string()) return make_error("JSON field \"code\" must be a string holding the full C++ file");
      d.code = o["code"].get<std::string>();
      // Some models fence the code inside the string.
      if (auto b = code_block(d.code)) d.code = b->code;
      d.format = "json";
    } else if (o.contains("edits")) {
      if (!o["edits"].is_array()) return make_error("JSON field \"edits\" must be an array of {search, replace}");
      for (size_t i = 0; i < o["edits"].size(); ++i) {
        const auto& e = o["edits"][i];
        if (!e.is_object() || !e.contains("search") || !e["search"].is_string() || !e.contains("replace") ||
            !e["replace"].is_string())
          return make_error("JSON field \"edits[" + std::to_string(i) + "]\" must be {\"search\": string, \"replace\": string}");
        d.edits.push_back({e["search"].get<std::string>(), e["replace"].get<std::string>()});
      }
      d.format = "json";
    }
  }
  if (d.format.empty()) {
    if (auto edits = edit_blocks(text); !edits.empty()) {
      d.edits = std::move(edits);
      d.format = "edits";
    } else if (auto b = code_block(text)) {
      if (!b->closed) return make_error("the ```cpp block is not closed: the answer was cut off before the end of the file");
      d.code = b->code;
      d.format = "prose";
    } else {
      return make_error(
          "the answer holds no code: neither a JSON object with \"code\" or \"edits\", nor a ```cpp block, nor "
          "SEARCH/REPLACE edits");
    }
    if (d.name.empty()) d.name = labelled(text, "name").value_or("");
    if (d.motivation.empty()) d.motivation = labelled(text, "motivation").value_or("");
    if (auto w = labelled(text, "drew on")) {
      d.drew_on = label_list(*w);
      d.drew_on_stated = true;
    }
  }
  if (d.name.empty()) d.name = registered_name(d.code);
  if (d.name.empty()) return make_error("the answer gives no name (a \"name\" field or a `Name:` line)");
  if (trim(d.motivation).empty())
    return make_error("the answer gives no motivation (a \"motivation\" field or a `Motivation:` line)");
  return d;
}

Status check_contract(const std::string& code) {
  if (code.find("import torch") != std::string::npos || code.find("def forward(") != std::string::npos ||
      code.find("nn.Module") != std::string::npos)
    return make_error("the code is Python (PyTorch), not a C++ plugin: write a C++ class deriving from "
                      "asiarch::TokenMixer, registered with ASIARCH_REGISTER_MIXER");
  if (code.find("asiarch/plugin.h") == std::string::npos)
    return make_error("the code does not include <asiarch/plugin.h>: it is not written for this plugin contract");
  if (code.find("ASIARCH_REGISTER_MIXER") == std::string::npos)
    return make_error("the code registers no mixer: it must end with ASIARCH_REGISTER_MIXER(Class, \"name\")");
  int depth = 0;
  bool in_string = false, line_comment = false, block_comment = false;
  for (size_t i = 0; i < code.size(); ++i) {
    const char c = code[i], next = i + 1 < code.size() ? code[i + 1] : '\0';
    if (line_comment) { line_comment = c != '\n'; continue; }
    if (block_comment) { if (c == '*' && next == '/') { block_comment = false; ++i; } continue; }
    if (in_string) { if (c == '\\') ++i; else if (c == '"') in_string = false; continue; }
    if (c == '/' && next == '/') line_comment = true;
    else if (c == '/' && next == '*') block_comment = true;
    else if (c == '"') in_string = true;
    else if (c == '{') ++depth;
    else if (c == '}') --depth;
  }
  if (depth > 0)
    return make_error("the code ends with " + std::to_string(depth) + " unclosed brace(s): it was cut off");
  return Ok{};
}

std::string numbered(const std::string& source) {
  std::string out;
  const auto ls = lines_of(source);
  for (size_t i = 0; i < ls.size(); ++i) {
    std::string n = std::to_string(i + 1);
    out += std::string(n.size() < 4 ? 4 - n.size() : 0, ' ') + n + " | " + ls[i] + "\n";
  }
  return out;
}

std::string tidy_name(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
    else if (!out.empty() && out.back() != '_') out += '_';
    if (out.size() >= 48) break;
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "llm_design" : out;
}

}  // namespace asiarch::agents::llm
