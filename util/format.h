// A number as printf would write it, for messages and tables.
#pragma once

#include <cstdio>
#include <string>

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

}  // namespace asiarch
