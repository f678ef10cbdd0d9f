// Small file helpers whose errors name the path.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

namespace asiarch {

Result<std::string> read_file(const std::filesystem::path& path);

// A token or key kept in a file: its text without trailing whitespace; an empty file is an error.
Result<std::string> read_secret(const std::filesystem::path& path);
// Writes via a temporary file and rename, so readers never see half a file.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace asiarch
