// Keeps LLM calls in memory, as the host keeps them in the archive (engine/llm_calls.h):
// recorded in order, and a request replayed when its newest answer was usable.
#pragma once

#include <optional>
#include <vector>

#include "agents/llm/client.h"

namespace asiarch::testing {

struct MemoryLog : agents::llm::CallLog {
  std::vector<agents::llm::Call> calls;
  void record(const agents::llm::Call& c) override { calls.push_back(c); }
  std::optional<agents::llm::Call> replay(const std::string& key) override {
    for (auto it = calls.rbegin(); it != calls.rend(); ++it)
      if (it->key == key && it->error.empty()) return it->usable ? std::optional(*it) : std::nullopt;
    return std::nullopt;
  }
};

}  // namespace asiarch::testing
