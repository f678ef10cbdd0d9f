// Peak CPU memory of LibTorch allocations, for the complexity gate.
#pragma once

#include <cstdint>

namespace asiarch::lab {

// While alive, counts bytes LibTorch allocates on the CPU (by installing a
// counting allocator in front of the default one, once per process).
class MemoryScope {
 public:
  MemoryScope();
  // Highest number of live bytes allocated since the scope began.
  std::int64_t peak_bytes() const;
 private:
  std::int64_t start_;
};

}  // namespace asiarch::lab
