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

}  // namespace asiarch
