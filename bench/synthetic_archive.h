// Synthetic archives for the API and dashboard benchmarks and the browser test:
// n experiments in lineages of ten, three in four scored (with gates, a loss
// curve, timing), one in four failed to build (with clang-style diagnostics),
// every tenth with an LLM call. Experiment 1 is the DeltaNet reference.
#pragma once

#include <filesystem>

#include "util/result.h"

namespace asiarch::bench {

Status fill_synthetic_archive(const std::filesystem::path& dir, int n);

}  // namespace asiarch::bench
