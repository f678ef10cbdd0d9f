// Where the LLM roles' calls go: the archive's llm_calls table, each tagged
// with the experiment the engine is working on when it is made (none while a
// proposal has no experiment yet: `attach` gives those their experiment once
// it exists), and an `llm_call` event. A request recorded with an answer is
// replayed from the archive instead of being paid for twice on resume.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agents/llm/client.h"
#include "archive/archive.h"
#include "engine/events.h"

namespace asiarch::host {

// Tags the calls made on this thread with the experiment they are for (the Engineer asked beside
// the loop about one candidate), for as long as it lives.
class CallTag {
 public:
  explicit CallTag(int64_t experiment);
  ~CallTag();
  CallTag(const CallTag&) = delete;
  CallTag& operator=(const CallTag&) = delete;
};

// The archive is written only from the engine's thread (the one that binds the log): calls made on
// another thread (the Researcher asked beside the loop) wait in memory until the engine drains
// them, and their replay lookups read through a read-only connection of their own.
class ArchiveCallLog : public agents::llm::CallLog {
 public:
  // The archive is opened after the roles are made: calls before `bind` are not recorded.
  void bind(archive::Archive* archive, EventLog* events) {
    archive_ = archive;
    events_ = events;
    engine_ = std::this_thread::get_id();
  }
  // The experiment that calls from now on are made for (none: a proposal in the making).
  void working_on(std::optional<int64_t> experiment) {
    experiment_ = experiment;
    if (!experiment) unattached_.clear();
  }
  // Gives the calls made since working_on(none) to `experiment`.
  void attach(int64_t experiment);
  // Writes the calls other threads made since the last drain (engine thread): a tagged call with its
  // experiment, a proposal's with none yet.
  void drain();
  // Gives the drained calls made beside the loop to the experiment their proposal became (none:
  // the proposal failed or was refused; they stay unattached), and starts the next proposal's.
  void attach_beside(std::optional<int64_t> experiment);

  void record(const agents::llm::Call& call) override;
  std::optional<agents::llm::Call> replay(const std::string& key) override;

 private:
  archive::Archive* archive_ = nullptr;
  EventLog* events_ = nullptr;
  std::optional<int64_t> experiment_;
  std::vector<int64_t> unattached_;
  std::thread::id engine_;
  std::mutex mu_;  // guards beside_ and reader_
  std::vector<std::pair<agents::llm::Call, std::optional<int64_t>>> beside_;  // with the thread's tag
  std::vector<int64_t> beside_rows_;
  std::unique_ptr<archive::Archive> reader_;
  std::optional<int64_t> write(const agents::llm::Call& c, std::optional<int64_t> experiment);
};

}  // namespace asiarch::host
