// The byte-level language-modelling corpora, extracted once from Debian text
// packages and cached: "kjv", the King James Bible (bible-kjv), which the
// search trains and tests on, and "fortunes", the fortune cookie collections
// (fortunes), a second corpus of different English kept for held-out tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch::lab {

const std::vector<std::string>& corpus_names();

// Returns corpus `name`'s text, extracting it into <cache_dir>/corpus/<name>.txt on first use.
Result<std::string> load_corpus(const std::filesystem::path& cache_dir, const std::string& name = "kjv");

}  // namespace asiarch::lab
