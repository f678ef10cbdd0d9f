#include <regex>
#include <sstream>

#include "jit/cuda.h"

namespace asiarch::jit {

Diagnostics parse_nvrtc_log(const std::string& log, const std::string& file, int max_items) {
  static const std::regex head(R"(^(.*)\((\d+)\): (catastrophic error|error|warning|remark)( #[0-9A-Za-z-]+)?: (.*)$)");
  Diagnostics out;
  std::vector<std::string> lines;
  {
    std::istringstream in(log);
    for (std::string l; std::getline(in, l);) lines.push_back(l);
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, head)) continue;
    if (static_cast<int>(out.items.size()) >= max_items) {
      ++out.dropped;
      continue;
    }
    Diagnostic d;
    d.stage = Stage::cuda;
    const std::string kind = m[3];
    d.severity = kind == "warning" ? Severity::warning
                 : kind == "remark" ? Severity::remark
                 : kind == "catastrophic error" ? Severity::fatal
                                                : Severity::error;
    d.file = file;
    d.line = std::stoi(m[2]);
    d.message = m[5];
    if (m[4].matched) d.option = std::string(m[4]).substr(2);  // "177-D"
    // NVRTC echoes the source line and a caret line, each indented by two
    // spaces (tabs kept).
    auto strip = [](const std::string& l) { return l.rfind("  ", 0) == 0 ? l.substr(2) : l; };
    if (i + 2 < lines.size()) {
      const std::string caret = strip(lines[i + 2]);
      const size_t pos = caret.find('^');
      if (pos != std::string::npos && caret.find_first_not_of(" \t") == pos &&
          caret.find_last_not_of(" \t") == pos) {
        d.source_line = strip(lines[i + 1]);
        d.column = static_cast<int>(pos) + 1;
        i += 2;
      }
    }
    out.items.push_back(std::move(d));
  }
  return out;
}

}  // namespace asiarch::jit
