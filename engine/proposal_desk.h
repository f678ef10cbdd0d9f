// The Researcher beside the engine loop: one proposal at a time on a thread of its own, so that the
// workers keep evaluating while a model thinks (30-120 s a call for a large local model). The engine
// prepares each request on its own thread (the parent draw, references, rejections: everything read
// from the archive, copied into the context), posts it, and takes the answer on a later turn of its
// loop; the archive is never touched from the desk's thread (the call log queues what is asked
// there, engine/llm_calls.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "agents/roles.h"
#include "archive/selection.h"
#include "util/result.h"

namespace asiarch::host {

// One proposal to ask for, as the engine prepared it.
struct ProposalRequest {
  agents::ResearchContext context;
  archive::Selection selection;
  nlohmann::json model_choice;  // null unless a bandit chose the model
  int attempt = 0;              // 0-based: how many tries of this request were refused as duplicates
  std::mt19937_64 rng;          // the draw's: a refused try is asked again with the next seed
  std::chrono::steady_clock::time_point began;
  int64_t asked_at_event = 0;   // the archive's last event when the request was prepared
};

struct ProposalAnswer {
  ProposalRequest request;
  Result<agents::Proposal> proposal;
};

class ProposalDesk {
 public:
  explicit ProposalDesk(agents::Researcher& researcher);
  ~ProposalDesk();  // waits for a proposal in progress (abort the client's calls first to end it at once)
  ProposalDesk(const ProposalDesk&) = delete;
  ProposalDesk& operator=(const ProposalDesk&) = delete;

  // A request posted and not yet taken (asked or answered).
  bool busy() const;
  // Asks for `r` beside the loop; only when !busy().
  void post(ProposalRequest r);
  // The answer, once there is one; never blocks.
  std::optional<ProposalAnswer> take();

 private:
  void serve();

  agents::Researcher& researcher_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<ProposalRequest> asked_;
  std::optional<ProposalAnswer> answered_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace asiarch::host
