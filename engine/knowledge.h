// A workdir's cognition base: the built-in entries, the user's notes in
// DIR/cognition/notes, and the Analyst's insights in its archive.
#pragma once

#include <filesystem>
#include <vector>

#include "archive/archive.h"
#include "cognition/cognition.h"
#include "util/result.h"

namespace asiarch::host {

std::filesystem::path notes_dir(const std::filesystem::path& workdir);

// Every entry a workdir's agents may retrieve; `archive` may be null (no insights yet).
Result<std::vector<cognition::Entry>> workdir_knowledge(const std::filesystem::path& workdir,
                                                        const archive::Archive* archive);

}  // namespace asiarch::host
