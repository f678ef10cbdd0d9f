// What a long-lived process (the daemon) shares with the engine loop: a pause
// switch the HTTP side flips, and a status snapshot the loop publishes. The
// loop owns the archive and the workers; the other side only reads this.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/events.h"
#include "config/run_config.h"

namespace asiarch::host {

struct LoopControl {
  std::atomic<bool> paused{false};  // no new proposals while set; work in flight goes on
  bool keep_serving = false;        // at the budget (or with none left to do) idle instead of ending
  EventSink* log = nullptr;         // one more sink for every event (the daemon's log file)

  // {state: running|paused|idle|stopping, running: [{id, name}], budget, evolved_done, llm: {...}}
  void publish(nlohmann::json s) {
    std::lock_guard<std::mutex> l(mu_);
    status_ = std::move(s);
  }
  nlohmann::json snapshot() const {
    std::lock_guard<std::mutex> l(mu_);
    return status_;
  }

  // A configuration re-read on SIGHUP, or why it was refused; the loop takes it at a safe point.
  void offer(Result<RunConfig> next) {
    std::lock_guard<std::mutex> l(mu_);
    offered_ = std::move(next);
  }
  std::optional<Result<RunConfig>> take_offer() {
    std::lock_guard<std::mutex> l(mu_);
    auto out = std::move(offered_);
    offered_.reset();
    return out;
  }

 private:
  mutable std::mutex mu_;
  nlohmann::json status_ = {{"state", "starting"}};
  std::optional<Result<RunConfig>> offered_;
};

}  // namespace asiarch::host
