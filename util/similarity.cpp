#include "util/similarity.h"

#include "util/hash.h"

#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <vector>

namespace asiarch {
namespace {

// Identifiers and numbers as words, every other character a token of its own;
// comments, whitespace and string contents are dropped.
std::vector<std::string> tokens(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (s.compare(i, 2, "//") == 0) {
      i = s.find('\n', i);
      if (i == std::string::npos) break;
    } else if (s.compare(i, 2, "/*") == 0) {
      i = s.find("*/", i + 2);
      if (i == std::string::npos) break;
      i += 2;
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
      out.emplace_back("\"\"");
      i = j + 1;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '.')) ++j;
      out.push_back(s.substr(i, j - i));
      i = j;
    } else {
      out.emplace_back(1, c);
      ++i;
    }
  }
  return out;
}

bool keyword(const std::string& w) {
  static const std::set<std::string> k = {
      "auto", "bool", "break", "case", "class", "const", "constexpr", "continue", "default", "delete", "double",
      "else", "explicit", "false", "float", "for", "if", "include", "inline", "int", "int64_t", "long", "namespace",
      "new", "nullptr", "operator", "override", "private", "protected", "public", "return", "size_t", "static",
      "std", "struct", "switch", "template", "this", "true", "typename", "unsigned", "using", "virtual", "void",
      "while", "define", "pragma", "torch", "asiarch", "ops", "Tensor", "ASIARCH_REGISTER_MIXER", "TokenMixer",
      "MixerConfig", "forward", "register_module", "register_parameter", "nn", "Linear", "LinearOptions"};
  return k.count(w) > 0;
}

// Tokens with the file's own names replaced by their order of first appearance.
std::vector<std::string> renamed(const std::vector<std::string>& in) {
  std::vector<std::string> t;
  for (const auto& w : in) {  // "cfg.d_model" -> "cfg" "." "d_model"
    if (w.find('.') == std::string::npos || std::isdigit(static_cast<unsigned char>(w[0]))) {
      t.push_back(w);
      continue;
    }
    size_t at = 0;
    for (size_t dot = w.find('.'); ; dot = w.find('.', at)) {
      t.push_back(w.substr(at, dot == std::string::npos ? std::string::npos : dot - at));
      if (dot == std::string::npos) break;
      t.emplace_back(".");
      at = dot + 1;
    }
  }
  std::map<std::string, std::string> names;
  std::vector<std::string> out;
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string& w = t[i];
    const bool word = !w.empty() && (std::isalpha(static_cast<unsigned char>(w[0])) || w[0] == '_');
    const bool reached = (i > 0 && (t[i - 1] == "." || t[i - 1] == ":")) || (i + 1 < t.size() && t[i + 1] == ":");
    if (!word || reached || keyword(w)) {
      out.push_back(w);
      continue;
    }
    auto it = names.find(w);
    if (it == names.end()) it = names.emplace(w, "#" + std::to_string(names.size())).first;
    out.push_back(it->second);
  }
  return out;
}

std::set<size_t> shingles_of(const std::vector<std::string>& t) {
  std::set<size_t> out;
  std::hash<std::string> h;
  for (size_t i = 0; i + 3 <= t.size(); ++i) out.insert(h(t[i] + '\x1f' + t[i + 1] + '\x1f' + t[i + 2]));
  return out;
}

double jaccard(const std::set<size_t>& sa, const std::set<size_t>& sb) {
  if (sa.empty() && sb.empty()) return 1.0;
  size_t common = 0;
  for (size_t x : sa) common += sb.count(x);
  return static_cast<double>(common) / static_cast<double>(sa.size() + sb.size() - common);
}

}  // namespace

double source_similarity(const std::string& a, const std::string& b) {
  return jaccard(shingles_of(tokens(a)), shingles_of(tokens(b)));
}

double renamed_similarity(const std::string& a, const std::string& b) {
  return jaccard(shingles_of(renamed(tokens(a))), shingles_of(renamed(tokens(b))));
}

std::string normalised_source_hash(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 2, "//") == 0) {
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    if (s.compare(i, 2, "/*") == 0) {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string::npos ? s.size() : end + 1;
      continue;
    }
    if (s[i] == '"') {  // keep string literals verbatim
      const size_t start = i++;
      while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
      out.append(s, start, std::min(i, s.size() - 1) - start + 1);
      continue;
    }
    if (!std::isspace(static_cast<unsigned char>(s[i]))) out += s[i];
  }
  return sha256_hex(out);
}

}  // namespace asiarch
