// Compiled plugin objects on disk, keyed by a hash of everything that can
// change the object: toolchain fingerprint, flags, file name and source.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "jit/compiler.h"

namespace asiarch::jit::detail {

struct CachedCompile {
  ObjectCode object;
  Diagnostics diagnostics;  // the warnings of the original compile
};

// An entry from its metadata (JSON) and object bytes; nullopt when they do not agree.
std::optional<CachedCompile> cache_parse(const std::string& meta_text, std::string bytes);
std::optional<CachedCompile> cache_lookup(const std::filesystem::path& dir, const std::string& key);
// Failures to store are not errors for the caller: the cache is an optimisation.
void cache_store(const std::filesystem::path& dir, const std::string& key, const ObjectCode& object,
                 const Diagnostics& diagnostics);

}  // namespace asiarch::jit::detail
