// A number as printf would write it, for messages and tables.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace asiarch {

inline std::string format_number(double v, const char* printf_format = "%.3f") {
  char buf[48];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

// `s` padded with spaces to `width` characters as a terminal shows them (UTF-8: "±" is one).
inline std::string pad_right(const std::string& s, std::size_t width) {
  std::size_t shown = 0;
  for (unsigned char c : s) shown += (c & 0xC0) != 0x80;
  return shown >= width ? s : s + std::string(width - shown, ' ');
}

// "a, b, c" from {"a", "b", "c"}.
inline std::string join(const std::vector<std::string>& parts, const std::string& separator = ", ") {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? separator : "") + parts[i];
  return out;
}

}  // namespace asiarch
