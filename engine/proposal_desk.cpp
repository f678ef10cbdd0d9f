#include "engine/proposal_desk.h"

#include <exception>

namespace asiarch::host {

ProposalDesk::ProposalDesk(agents::Researcher& researcher) : researcher_(researcher), thread_([this] { serve(); }) {}

ProposalDesk::~ProposalDesk() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool ProposalDesk::busy() const {
  std::lock_guard<std::mutex> l(mu_);
  return asked_.has_value() || answered_.has_value();
}

void ProposalDesk::post(ProposalRequest r) {
  {
    std::lock_guard<std::mutex> l(mu_);
    asked_ = std::move(r);
  }
  cv_.notify_all();
}

std::optional<ProposalAnswer> ProposalDesk::take() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(answered_, std::nullopt);
}

void ProposalDesk::serve() {
  for (;;) {
    ProposalRequest r;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || (asked_ && !answered_); });
      if (stopping_) return;
      r = *asked_;
    }
    // The roles return errors as values; an exception from one is a failed proposal, not a dead loop.
    Result<agents::Proposal> p = make_error("the Researcher did not answer");
    try {
      p = researcher_.propose(r.context);
    } catch (const std::exception& e) {
      p = make_error(std::string("the Researcher failed: ") + e.what());
    }
    std::lock_guard<std::mutex> l(mu_);
    answered_ = ProposalAnswer{std::move(r), std::move(p)};
    asked_.reset();
  }
}

}  // namespace asiarch::host
