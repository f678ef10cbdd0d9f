// A cancellation token: whoever owns the process's signals (the CLI's main)
// sets it; long-running library code polls it. It replaces a global stop flag.
#pragma once

#include <atomic>

namespace asiarch {

class CancelToken {
 public:
  // Safe from a signal handler: one lock-free store.
  void cancel(int reason = 1) { reason_.store(reason, std::memory_order_relaxed); }
  bool cancelled() const { return reason_.load(std::memory_order_relaxed) != 0; }
  int reason() const { return reason_.load(std::memory_order_relaxed); }  // e.g. the signal number

 private:
  std::atomic<int> reason_{0};
  static_assert(std::atomic<int>::is_always_lock_free);
};

}  // namespace asiarch
