#include "jit/diagnostics.h"

#include <algorithm>
#include <sstream>

#include <nlohmann/json.hpp>

namespace asiarch::jit {

bool Diagnostics::has_errors() const {
  return std::any_of(items.begin(), items.end(), [](const Diagnostic& d) {
    return d.severity == Severity::error || d.severity == Severity::fatal;
  });
}

int Diagnostics::count(Severity s) const {
  return static_cast<int>(std::count_if(items.begin(), items.end(),
                                        [s](const Diagnostic& d) { return d.severity == s; }));
}

void Diagnostics::append(const Diagnostics& other) {
  items.insert(items.end(), other.items.begin(), other.items.end());
  dropped += other.dropped;
}

const char* to_string(Severity s) {
  switch (s) {
    case Severity::note: return "note";
    case Severity::remark: return "remark";
    case Severity::warning: return "warning";
    case Severity::error: return "error";
    case Severity::fatal: return "fatal";
  }
  return "error";
}

const char* to_string(Stage s) {
  switch (s) {
    case Stage::io: return "io";
    case Stage::compile: return "compile";
    case Stage::link: return "link";
    case Stage::abi: return "abi";
    case Stage::cuda: return "cuda";
    case Stage::runtime: return "runtime";
  }
  return "compile";
}

Severity severity_from_string(const std::string& s) {
  for (Severity v : {Severity::note, Severity::remark, Severity::warning, Severity::error, Severity::fatal})
    if (s == to_string(v)) return v;
  return Severity::error;
}

Stage stage_from_string(const std::string& s) {
  for (Stage v : {Stage::io, Stage::compile, Stage::link, Stage::abi, Stage::cuda, Stage::runtime})
    if (s == to_string(v)) return v;
  return Stage::compile;
}

static void write_text(std::ostringstream& out, const Diagnostic& d) {
  if (!d.file.empty()) {
    out << d.file;
    if (d.line > 0) out << ':' << d.line << ':' << d.column;
    out << ": ";
  }
  out << to_string(d.severity) << ": " << d.message;
  if (!d.option.empty()) out << " [" << d.option << ']';
  out << '\n';
  if (!d.source_line.empty()) {
    out << d.source_line << '\n';
    if (d.column > 0) {
      std::string caret;
      for (int i = 1; i < d.column && i <= static_cast<int>(d.source_line.size()); ++i)
        caret += d.source_line[i - 1] == '\t' ? '\t' : ' ';
      out << caret << "^\n";
    }
  }
  for (const FixIt& f : d.fixits) {
    if (f.line == f.end_line && f.column == f.end_column)
      out << "fix-it: insert \"" << f.replacement << "\" at " << f.line << ':' << f.column << '\n';
    else
      out << "fix-it: replace " << f.line << ':' << f.column << '-' << f.end_line << ':'
          << f.end_column << " with \"" << f.replacement << "\"\n";
  }
  for (const Diagnostic& n : d.notes) write_text(out, n);
}

std::string to_text(const Diagnostic& d) {
  std::ostringstream out;
  write_text(out, d);
  return out.str();
}

std::string to_text(const Diagnostics& ds) {
  std::ostringstream out;
  for (const Diagnostic& d : ds.items) write_text(out, d);
  if (ds.dropped > 0) out << "(" << ds.dropped << " more diagnostics not shown)\n";
  return out.str();
}

void to_json(nlohmann::json& j, const FixIt& f) {
  j = {{"line", f.line}, {"column", f.column}, {"end_line", f.end_line},
       {"end_column", f.end_column}, {"replacement", f.replacement}};
}

void from_json(const nlohmann::json& j, FixIt& f) {
  f.line = j.at("line");
  f.column = j.at("column");
  f.end_line = j.at("end_line");
  f.end_column = j.at("end_column");
  f.replacement = j.at("replacement");
}

void to_json(nlohmann::json& j, const Diagnostic& d) {
  j = {{"severity", to_string(d.severity)}, {"stage", to_string(d.stage)}, {"file", d.file},
       {"line", d.line}, {"column", d.column}, {"message", d.message},
       {"option", d.option}, {"source_line", d.source_line}, {"fixits", d.fixits},
       {"notes", d.notes}};
}

void from_json(const nlohmann::json& j, Diagnostic& d) {
  d.severity = severity_from_string(j.at("severity"));
  d.stage = stage_from_string(j.at("stage"));
  d.file = j.value("file", "");
  d.line = j.value("line", 0);
  d.column = j.value("column", 0);
  d.message = j.at("message");
  d.option = j.value("option", "");
  d.source_line = j.value("source_line", "");
  d.fixits = j.value("fixits", std::vector<FixIt>{});
  d.notes = j.value("notes", std::vector<Diagnostic>{});
}

void to_json(nlohmann::json& j, const Diagnostics& ds) {
  j = {{"items", ds.items}, {"dropped", ds.dropped}};
}

void from_json(const nlohmann::json& j, Diagnostics& ds) {
  ds.items = j.at("items").get<std::vector<Diagnostic>>();
  ds.dropped = j.value("dropped", 0);
}

Diagnostic make_diagnostic(Stage stage, Severity severity, std::string file, std::string message) {
  Diagnostic d;
  d.stage = stage;
  d.severity = severity;
  d.file = std::move(file);
  d.message = std::move(message);
  return d;
}

}  // namespace asiarch::jit
