#include "util/hash.h"

#include <llvm/ADT/ArrayRef.h>
#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>

namespace asiarch {

std::string sha256_hex(std::string_view data) {
  auto digest = llvm::SHA256::hash(llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  return llvm::toHex(digest, /*LowerCase=*/true);
}

}  // namespace asiarch
