// The byte-level language-modelling corpus: the King James Bible as plain
// English text, extracted once from Debian's bible-kjv packages and cached.
#pragma once

#include <filesystem>
#include <string>

#include "util/result.h"

namespace asiarch::lab {

// Returns the corpus text, extracting it into <cache_dir>/corpus/kjv.txt on
// first use (runs the `bible` program from the bible-kjv package).
Result<std::string> load_corpus(const std::filesystem::path& cache_dir);

}  // namespace asiarch::lab
