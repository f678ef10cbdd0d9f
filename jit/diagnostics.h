// Structured compiler diagnostics: what the Engineer agent reads and repairs.
//
// One shape for every source of trouble: clang, the ORC linker, the ABI check,
// NVRTC and plain I/O. Notes hang off the error they explain.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace asiarch::jit {

enum class Severity { note, remark, warning, error, fatal };

// Where a diagnostic came from.
enum class Stage { io, compile, link, abi, cuda, runtime };

// Replace [line:column, end_line:end_column) with `replacement` (1-based,
// columns in bytes). An insertion has an empty range.
struct FixIt {
  int line = 0, column = 0, end_line = 0, end_column = 0;
  std::string replacement;
};

struct Diagnostic {
  Severity severity = Severity::error;
  Stage stage = Stage::compile;
  std::string file;
  int line = 0;    // 0 when the diagnostic has no location
  int column = 0;
  std::string message;
  std::string option;       // e.g. "-Wunused-variable", when there is one
  std::string source_line;  // the text of `line`, without its newline
  std::vector<FixIt> fixits;
  std::vector<Diagnostic> notes;
};

// A capped list: `dropped` counts the errors and warnings left out.
struct Diagnostics {
  std::vector<Diagnostic> items;
  int dropped = 0;

  bool has_errors() const;
  int count(Severity s) const;  // top-level only
  void add(Diagnostic d) { items.push_back(std::move(d)); }
  void append(const Diagnostics& other);
};

const char* to_string(Severity s);
const char* to_string(Stage s);
Severity severity_from_string(const std::string& s);
Stage stage_from_string(const std::string& s);

// Clang-style text: "file:line:col: error: message", the source line, a caret,
// fix-its as "fix-it: replace 3:5-3:9 with "x"", then notes.
std::string to_text(const Diagnostic& d);
std::string to_text(const Diagnostics& ds);

void to_json(nlohmann::json& j, const FixIt& f);
void from_json(const nlohmann::json& j, FixIt& f);
void to_json(nlohmann::json& j, const Diagnostic& d);
void from_json(const nlohmann::json& j, Diagnostic& d);
void to_json(nlohmann::json& j, const Diagnostics& ds);
void from_json(const nlohmann::json& j, Diagnostics& ds);

// A diagnostic without a source location (I/O, ABI, ...).
Diagnostic make_diagnostic(Stage stage, Severity severity, std::string file, std::string message);

}  // namespace asiarch::jit
