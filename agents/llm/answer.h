// Reading answers as real models give them: <think> blocks to ignore, a JSON
// object bare or in a ```json fence (often a little broken: trailing commas,
// prose around it), prose with `Name:` / `Motivation:` lines and a ```cpp
// fence, or aider-style SEARCH/REPLACE edit blocks. Pure functions; errors
// say what was missing so a corrective request can quote them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace asiarch::agents::llm {

// Drops <think>...</think> blocks; an unclosed one drops the rest of the text.
std::string strip_think(const std::string& text);

// The first JSON object in `text`: a ```json fence, the whole text, or the
// first balanced {...}; trailing commas are forgiven. Error: none found.
Result<nlohmann::json> json_object(const std::string& text);

struct CodeBlock {
  std::string code;
  bool closed = true;  // false: the fence never closed (the answer was cut off)
};
// The C++ fence (```cpp, ```c++, ```cc, or a bare ``` holding C++); the longest when several.
std::optional<CodeBlock> code_block(const std::string& text);

struct Edit {
  std::string search, replace;
};
// <<<<<<< SEARCH / ======= / >>>>>>> REPLACE blocks, in order.
std::vector<Edit> edit_blocks(const std::string& text);

// Applies edits in order; each SEARCH must match exactly once, first
// verbatim, then ignoring differences in whitespace. The error names the edit
// (1-based) and whether it matched nowhere or several times.
Result<std::string> apply_edits(const std::string& source, const std::vector<Edit>& edits);

// A Researcher's answer: a name, a motivation, and a full file or edits.
struct DesignAnswer {
  std::string name;
  std::string motivation;
  std::string code;          // full file, or empty when edits
  std::vector<Edit> edits;
  std::string format;        // "json", "prose", "edits"
  // The labels of the knowledge entries and analyses the answer says it drew on, as written
  // (unchecked: the Researcher keeps only labels its prompt showed); stated: the answer said,
  // an empty list meaning "none".
  std::vector<std::string> drew_on;
  bool drew_on_stated = false;
};
Result<DesignAnswer> parse_design(const std::string& answer);

// Checks that `code` is a plugin for this host's contract (C++ against <asiarch/plugin.h>,
// registering a mixer, complete); the error says what is wrong, for a corrective request.
Status check_contract(const std::string& code);

// A source with 1-based line numbers, as the Engineer reads it.
std::string numbered(const std::string& source);

// An identifier-like name from a model's name ("Gated Delta-Net v2" -> "gated_delta_net_v2"), at most 48 bytes.
std::string tidy_name(const std::string& name);

}  // namespace asiarch::agents::llm
