// Unified diffs of text, line by line (what a repair changed).
#pragma once

#include <string>

namespace asiarch {

// A unified diff (3 lines of context) from `before` to `after`, with
// ---/+++ headers naming `name`; empty when the texts are equal.
std::string unified_diff(const std::string& before, const std::string& after, const std::string& name);

}  // namespace asiarch
