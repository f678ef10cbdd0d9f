#include "util/diff.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace asiarch {
namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

enum class Op { keep, remove, add };

// Longest-common-subsequence edit script; plugin files are small.
std::vector<std::pair<Op, std::string>> edit_script(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<std::pair<Op, std::string>> out;
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] == b[j]) {
      out.emplace_back(Op::keep, a[i++]);
      ++j;
    } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.emplace_back(Op::remove, a[i++]);  // removals before additions, as diff(1) prints them
    } else {
      out.emplace_back(Op::add, b[j++]);
    }
  }
  return out;
}

}  // namespace

std::string unified_diff(const std::string& before, const std::string& after, const std::string& name) {
  if (before == after) return "";
  const auto script = edit_script(lines_of(before), lines_of(after));
  const int context = 3;
  std::ostringstream out;
  out << "--- a/" << name << "\n+++ b/" << name << "\n";
  size_t k = 0;
  while (k < script.size()) {
    // Find the next change, then grow a hunk while changes are within 2*context.
    size_t first = k;
    while (first < script.size() && script[first].first == Op::keep) ++first;
    if (first == script.size()) break;
    size_t start = first >= static_cast<size_t>(context) ? first - context : 0;
    start = std::max(start, k);
    size_t end = first, last_change = first;
    while (end < script.size()) {
      if (script[end].first != Op::keep) last_change = end;
      else if (end - last_change > 2 * static_cast<size_t>(context)) break;
      ++end;
    }
    end = std::min(script.size(), last_change + context + 1);
    // Line numbers of the hunk's start in each file.
    int a_line = 1, b_line = 1;
    for (size_t s = 0; s < start; ++s) {
      if (script[s].first != Op::add) ++a_line;
      if (script[s].first != Op::remove) ++b_line;
    }
    int a_count = 0, b_count = 0;
    for (size_t s = start; s < end; ++s) {
      if (script[s].first != Op::add) ++a_count;
      if (script[s].first != Op::remove) ++b_count;
    }
    out << "@@ -" << (a_count ? a_line : a_line - 1) << ',' << a_count << " +" << (b_count ? b_line : b_line - 1)
        << ',' << b_count << " @@\n";
    for (size_t s = start; s < end; ++s)
      out << (script[s].first == Op::keep ? ' ' : script[s].first == Op::add ? '+' : '-') << script[s].second << '\n';
    k = end;
  }
  return out.str();
}

}  // namespace asiarch
