// Prompt templates: versioned text files under agents/llm/prompts/, embedded
// in the binary and overridable file by file from a `prompts_dir`. A template
// holds a system and a user message with {{placeholders}}; `fit` fills them
// and keeps the result within a token budget by leaving out the parts that
// matter least first, then cutting the longest sources in the middle.
#pragma once

#include <string>
#include <vector>

#include "agents/llm/client.h"
#include "util/result.h"

namespace asiarch::agents::llm {

struct Template {
  std::string name;
  int version = 0;
  std::string system, user;
  std::string origin;  // "built-in" or the file it came from
};

// `name` from `prompts_dir` when that folder has NAME.txt, else the built-in one.
// A file without a name/version header or without both messages is an error naming it.
Result<Template> load_template(const std::string& name, const std::string& prompts_dir);
Result<Template> parse_template(const std::string& text, const std::string& origin);

// The names of the built-in templates.
std::vector<std::string> template_names();

// A value for a placeholder. `drop` > 0: may be left out to fit, lowest first
// (0: never). `cut`: may be cut in the middle to fit.
struct Part {
  std::string key;
  std::string text;
  int drop = 0;
  bool cut = false;
};

// The template's two messages with every part filled in, within `budget_tokens`
// (estimated). Never fails: what cannot fit is left out or cut, and says so.
std::vector<Message> fit(const Template& t, std::vector<Part> parts, int64_t budget_tokens);

// What plugins may call: a summary of <asiarch/ops.h>, for the prompts.
const std::string& ops_summary();

}  // namespace asiarch::agents::llm
