#include "agents/offline/engineer.h"

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>

#include "util/diff.h"

namespace asiarch::agents {
namespace {

std::string where(const jit::Diagnostic& d) {
  return std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.message;
}

// Byte offset of (line, column), both 1-based; npos when outside the text.
size_t offset_of(const std::string& text, int line, int column) {
  size_t pos = 0;
  for (int l = 1; l < line; ++l) {
    pos = text.find('\n', pos);
    if (pos == std::string::npos) return std::string::npos;
    ++pos;
  }
  const size_t off = pos + static_cast<size_t>(column - 1);
  return off <= text.size() ? off : std::string::npos;
}

bool is_error(const jit::Diagnostic& d) {
  return d.severity == jit::Severity::error || d.severity == jit::Severity::fatal;
}

std::string snake_case(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0 && !std::isupper(static_cast<unsigned char>(name[i - 1]))) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// LibTorch functions often written without their namespace.
const std::set<std::string>& torch_functions() {
  static const std::set<std::string> names = {
      "silu", "sigmoid", "softmax", "log_softmax", "relu", "gelu", "tanh", "exp", "log", "sqrt", "rsqrt",
      "matmul", "einsum", "cumsum", "cumprod", "zeros", "ones", "randn", "rand", "empty", "full", "arange",
      "cat", "stack", "softplus", "tril", "triu", "where", "zeros_like", "ones_like", "randn_like", "eye",
      "sum", "mean", "clamp", "abs", "bmm", "outer", "elu", "logsigmoid", "erf", "sin", "cos"};
  return names;
}

}  // namespace

std::vector<std::string> apply_fixits(const std::string& file, const jit::Diagnostics& diagnostics, std::string& text) {
  struct Edit {
    size_t begin, end;
    std::string replacement;
    std::string answers;
  };
  std::vector<Edit> edits;
  for (const auto& d : diagnostics.items) {
    if (!is_error(d) || d.file != file) continue;
    const auto* fixits = &d.fixits;
    if (fixits->empty())  // some errors carry their fix-it on a note
      for (const auto& n : d.notes)
        if (!n.fixits.empty() && n.file == file) {
          fixits = &n.fixits;
          break;
        }
    for (const auto& f : *fixits) {
      const size_t b = offset_of(text, f.line, f.column), e = offset_of(text, f.end_line, f.end_column);
      if (b == std::string::npos || e == std::string::npos || e < b) continue;
      edits.push_back({b, e, f.replacement, where(d)});
    }
  }
  // Apply from the end so earlier offsets stay valid; skip overlaps.
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.begin > b.begin; });
  std::vector<std::string> answered;
  size_t limit = std::string::npos;
  for (const auto& e : edits) {
    if (limit != std::string::npos && e.end > limit) continue;
    text.replace(e.begin, e.end - e.begin, e.replacement);
    limit = e.begin;
    if (std::find(answered.begin(), answered.end(), e.answers) == answered.end()) answered.push_back(e.answers);
  }
  std::reverse(answered.begin(), answered.end());
  return answered;
}

std::pair<std::string, std::vector<std::string>> apply_rules(const std::string& file,
                                                             const jit::Diagnostics& diagnostics, std::string& text) {
  // 1. The plugin header is missing.
  if (text.find("<asiarch/plugin.h>") == std::string::npos) {
    for (const auto& d : diagnostics.items)
      if (is_error(d) && std::regex_search(d.message, std::regex("undeclared identifier 'torch'|'asiarch'|"
                                                                 "namespace 'torch'|name 'torch'"))) {
        text = "#include <asiarch/plugin.h>\n" + text;
        return {"add-plugin-include", {where(d)}};
      }
  }
  // 2. No registration: register the first TokenMixer subclass.
  for (const auto& d : diagnostics.items) {
    if (d.stage != jit::Stage::abi || d.message.find("registers no mixer") == std::string::npos) continue;
    std::smatch m;
    if (std::regex_search(text, m, std::regex(R"(class\s+(\w+)\s*(?:final\s*)?:\s*public\s+(?:::)?asiarch::TokenMixer)"))) {
      text += (text.empty() || text.back() == '\n' ? "" : "\n");
      text += "ASIARCH_REGISTER_MIXER(" + m[1].str() + ", \"" + snake_case(m[1].str()) + "\")\n";
      return {"register-mixer", {d.message}};
    }
  }
  // 3. A LibTorch function used without its namespace.
  std::vector<std::string> answered;
  std::vector<std::pair<size_t, std::string>> inserts;
  static const std::regex undeclared("use of undeclared identifier '(\\w+)'");
  for (const auto& d : diagnostics.items) {
    std::smatch m;
    if (!is_error(d) || d.file != file || !std::regex_search(d.message, m, undeclared)) continue;
    if (!torch_functions().count(m[1].str())) continue;
    const size_t at = offset_of(text, d.line, d.column);
    if (at == std::string::npos || text.compare(at, m[1].length(), m[1].str()) != 0) continue;
    inserts.emplace_back(at, "torch::");
    answered.push_back(where(d));
  }
  if (!inserts.empty()) {
    std::sort(inserts.begin(), inserts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [at, s] : inserts) text.insert(at, s);
    return {"qualify-torch-function", answered};
  }
  // 4. forward() declared override with a signature that overrides nothing.
  for (const auto& d : diagnostics.items) {
    if (!is_error(d) || d.file != file || d.message.find("marked 'override'") == std::string::npos)
      continue;
    const size_t line = offset_of(text, d.line, 1);
    if (line == std::string::npos) continue;
    const size_t eol = std::min(text.find('\n', line), text.size());
    std::string l = text.substr(line, eol - line);
    const std::string fixed =
        std::regex_replace(l, std::regex(R"(forward\s*\(\s*(?:const\s+)?(?:torch::|at::)?Tensor\s*&?\s*(\w+)\s*\))"),
                           "forward(const torch::Tensor& $1)");
    if (fixed != l) {
      text.replace(line, eol - line, fixed);
      return {"forward-signature", {where(d)}};
    }
  }
  return {"", {}};
}

RepairStep repair_step(const std::string& file, const jit::Diagnostics& diagnostics, std::string& text) {
  const std::string before = text;
  RepairStep step;
  step.answered = apply_fixits(file, diagnostics, text);
  step.method = "fix-it";
  if (step.answered.empty()) {
    auto [rule, answered] = apply_rules(file, diagnostics, text);
    step.method = "rule:" + rule;
    step.answered = std::move(answered);
  }
  if (step.answered.empty() || text == before) {
    auto first = std::find_if(diagnostics.items.begin(), diagnostics.items.end(), is_error);
    step.declined = "no fix-it or repair rule answers " +
                    (first == diagnostics.items.end() ? std::string("the failure") : "\"" + where(*first) + "\"");
    step.answered.clear();
    text = before;
  }
  return step;
}

RepairResult repair(const std::string& file, const std::string& source, const BuildFn& build, int max_attempts) {
  RepairResult r;
  std::string text = source;
  RepairAttempt next;
  for (int n = 1; n <= max_attempts; ++n) {
    next.number = n;
    next.source = text;
    const auto start = std::chrono::steady_clock::now();
    next.outcome = build(file, text);
    next.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.attempts.push_back(next);
    if (next.outcome.ok) {
      r.ok = true;
      r.final_source = text;
      return r;
    }
    if (n == max_attempts) {
      r.gave_up = "still failing after " + std::to_string(max_attempts) + " attempts";
      break;
    }
    std::string changed = text;
    next = RepairAttempt{};
    auto step = repair_step(file, r.attempts.back().outcome.diagnostics, changed);
    if (step.answered.empty()) {
      r.gave_up = step.declined;
      break;
    }
    next.method = std::move(step.method);
    next.answered = std::move(step.answered);
    next.diff = unified_diff(text, changed, file);
    text = changed;
  }
  r.final_source = text;
  return r;
}

}  // namespace asiarch::agents
