// Content hashes used as cache keys and identities (hex SHA-256).
#pragma once

#include <string>
#include <string_view>

namespace asiarch {

// Full 64-hex-digit SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace asiarch
