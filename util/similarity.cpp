#include "util/similarity.h"

#include <cctype>
#include <functional>
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

std::set<size_t> shingles(const std::string& s) {
  const auto t = tokens(s);
  std::set<size_t> out;
  std::hash<std::string> h;
  for (size_t i = 0; i + 3 <= t.size(); ++i) out.insert(h(t[i] + '\x1f' + t[i + 1] + '\x1f' + t[i + 2]));
  return out;
}

}  // namespace

double source_similarity(const std::string& a, const std::string& b) {
  const auto sa = shingles(a), sb = shingles(b);
  if (sa.empty() && sb.empty()) return 1.0;
  size_t common = 0;
  for (size_t x : sa) common += sb.count(x);
  return static_cast<double>(common) / static_cast<double>(sa.size() + sb.size() - common);
}

}  // namespace asiarch
