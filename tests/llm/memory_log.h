// Keeps LLM calls in memory, as the host keeps them in the archive (engine/llm_calls.h):
// recorded in order, and an answered request replayed.
#pragma once

#include <optional>
#include <vector>

#include "agents/llm/client.h"

namespace asiarch::testing {

struct MemoryLog : agents::llm::CallLog {
  std::vector<agents::llm::Call> calls;
  void record(const agents::llm::Call& c) override { calls.push_back(c); }
  std::optional<agents::llm::Call> replay(const std::string& key) override {
    for (const auto& c : calls)
      if (c.key == key && c.error.empty() && !c.replayed) return c;
    return std::nullopt;
  }
};

}  // namespace asiarch::testing
