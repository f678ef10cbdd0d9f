// What a long-lived process (the daemon) shares with the engine loop: a pause
// switch the HTTP side flips, and a status snapshot the loop publishes. The
// loop owns the archive and the workers; the other side only reads this.
#pragma once

#include <atomic>
#include <mutex>

#include <nlohmann/json.hpp>

namespace asiarch::host {

struct LoopControl {
  std::atomic<bool> paused{false};  // no new proposals while set; work in flight goes on
  bool keep_serving = false;        // at the budget (or with none left to do) idle instead of ending

  // {state: running|paused|idle|stopping, running: [{id, name}], budget, evolved_done, llm: {...}}
  void publish(nlohmann::json s) {
    std::lock_guard<std::mutex> l(mu_);
    status_ = std::move(s);
  }
  nlohmann::json snapshot() const {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

 private:
  mutable std::mutex mu_;
  nlohmann::json status_ = {{"state", "starting"}};
};

}  // namespace asiarch::host
