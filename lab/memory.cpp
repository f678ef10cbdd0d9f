#include "lab/memory.h"

#include <algorithm>
#include <unordered_map>
#include <mutex>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

namespace asiarch::lab {
namespace {

// Wraps the default CPU allocator and keeps current and peak live bytes.
// LibTorch requires a CPU DataPtr's context to be its data (raw_allocate), so
// sizes are kept in a table rather than in a context object.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* base) : base_(base), base_free_(base->raw_deleter()) {}

  c10::DataPtr allocate(size_t n) const override {
    void* data = base_->raw_allocate(n);
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[data] = n;
      current_ += static_cast<int64_t>(n);
      peak_ = std::max(peak_, current_);
    }
    return {data, data, &CountingAllocator::release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &CountingAllocator::release; }

  int64_t current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  // Restarts the peak from the current level.
  void reset_peak() const {
    std::lock_guard<std::mutex> lock(mu_);
    peak_ = current_;
  }
  int64_t peak() const {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }

  static CountingAllocator* self;

 private:
  static void release(void* p) {
    if (!p) return;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->sizes_.find(p);
      if (it != self->sizes_.end()) {
        self->current_ -= static_cast<int64_t>(it->second);
        self->sizes_.erase(it);
      }
    }
    self->base_free_(p);
  }
  c10::Allocator* base_;
  c10::DeleterFnPtr base_free_;
  mutable std::mutex mu_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable int64_t current_ = 0;
  mutable int64_t peak_ = 0;
};

CountingAllocator* CountingAllocator::self = nullptr;

// LibTorch's CPU allocator is process-wide, so the counter is too; it is
// installed on first use and never removed (tensors may outlive any scope).
CountingAllocator& counter() {
  static CountingAllocator* instance = [] {
    auto* a = new CountingAllocator(c10::GetDefaultCPUAllocator());
    CountingAllocator::self = a;  // the deleter is a plain function pointer
    c10::SetCPUAllocator(a, /*priority=*/10);
    return a;
  }();
  return *instance;
}

}  // namespace

MemoryScope::MemoryScope() {
  counter().reset_peak();
  start_ = counter().current();
}

std::int64_t MemoryScope::peak_bytes() const { return counter().peak() - start_; }

}  // namespace asiarch::lab
