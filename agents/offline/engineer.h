// The offline Engineer: makes a plugin build by applying clang's fix-its,
// then rule-based repairs for common diagnostics, recompiling after each
// change, up to a number of attempts. Every attempt is recorded.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "jit/diagnostics.h"

namespace asiarch::agents {

// Compiles `text` (named `file`) and reports its diagnostics; ok when it
// built, linked and passed the ABI checks.
struct BuildOutcome {
  bool ok = false;
  jit::Diagnostics diagnostics;
};
using BuildFn = std::function<BuildOutcome(const std::string& file, const std::string& text)>;

struct RepairAttempt {
  int number = 0;               // 1 = the source as given
  std::string source;           // what was compiled
  BuildOutcome outcome;
  double seconds = 0;           // compile time
  // How this attempt's source was made from the previous one (empty for #1):
  std::string method;           // "fix-it", or "rule:<name>"
  std::vector<std::string> answered;  // the diagnostics ("line:col: message") the change answered
  std::string diff;             // unified diff from the previous attempt
};

struct RepairResult {
  std::vector<RepairAttempt> attempts;
  bool ok = false;
  std::string final_source;
  std::string gave_up;  // why it stopped without success
};

// One repair step: fix-its first, else the rules. Changes `text` and returns the method and the
// diagnostics answered; when nothing answers, `answered` is empty and `declined` says why.
struct RepairStep {
  std::string method;
  std::vector<std::string> answered;
  std::string declined;
};
RepairStep repair_step(const std::string& file, const jit::Diagnostics& diagnostics, std::string& text);

RepairResult repair(const std::string& file, const std::string& source, const BuildFn& build, int max_attempts = 4);

// Applies the fix-its of error diagnostics located in `file`; returns the
// diagnostics answered, empty when none applied. Overlapping fix-its after
// the first are skipped.
std::vector<std::string> apply_fixits(const std::string& file, const jit::Diagnostics& diagnostics, std::string& text);

// Rule-based repairs for diagnostics without fix-its; returns the rule's
// name and the diagnostics answered, or an empty name.
std::pair<std::string, std::vector<std::string>> apply_rules(const std::string& file,
                                                             const jit::Diagnostics& diagnostics, std::string& text);

}  // namespace asiarch::agents
