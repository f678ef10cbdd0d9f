// Where the LLM roles' calls go: the archive's llm_calls table, each tagged
// with the experiment the engine is working on when it is made (none while a
// proposal has no experiment yet: `attach` gives those their experiment once
// it exists), and an `llm_call` event. A request recorded with an answer is
// replayed from the archive instead of being paid for twice on resume.
#pragma once

#include <optional>
#include <vector>

#include "agents/llm/client.h"
#include "archive/archive.h"
#include "engine/events.h"

namespace asiarch::host {

class ArchiveCallLog : public agents::llm::CallLog {
 public:
  // The archive is opened after the roles are made: calls before `bind` are not recorded.
  void bind(archive::Archive* archive, EventLog* events) {
    archive_ = archive;
    events_ = events;
  }
  // The experiment that calls from now on are made for (none: a proposal in the making).
  void working_on(std::optional<int64_t> experiment) {
    experiment_ = experiment;
    if (!experiment) unattached_.clear();
  }
  // Gives the calls made since working_on(none) to `experiment`.
  void attach(int64_t experiment);

  void record(const agents::llm::Call& call) override;
  std::optional<agents::llm::Call> replay(const std::string& key) override;

 private:
  archive::Archive* archive_ = nullptr;
  EventLog* events_ = nullptr;
  std::optional<int64_t> experiment_;
  std::vector<int64_t> unattached_;
};

}  // namespace asiarch::host
