// The run's one event stream: every state change becomes an
// archive::Event, stored in the archive (lifecycle events in the same
// transaction as the state they describe, progress events on their own) and
// published to sinks: the terminal's progress lines, JSON lines, and next
// the daemon's HTTP stream.
#pragma once

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "archive/archive.h"

namespace asiarch::host {

class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void publish(const archive::Event& event) = 0;
};

// One JSON object a line (`asiarch run --events jsonl`), as archive::event_view.
class JsonlSink : public EventSink {
 public:
  explicit JsonlSink(std::ostream& out) : out_(out) {}
  void publish(const archive::Event& event) override;

 private:
  std::ostream& out_;
};

// The progress lines a person reads in the terminal ("#5 name: proposed. ...").
// Training steps are not printed; everything else is, in a line each.
class TextSink : public EventSink {
 public:
  explicit TextSink(std::ostream& out) : out_(out) {}
  void publish(const archive::Event& event) override;

 private:
  std::ostream& out_;
  std::map<int64_t, std::string> names_;  // learned from the events that name experiments
};

// Stores events and publishes them.
class EventLog {
 public:
  EventLog(archive::Archive& archive, std::vector<EventSink*> sinks) : archive_(archive), sinks_(std::move(sinks)) {}
  // A progress event: appended in its own transaction, then published.
  void emit(const std::string& kind, std::optional<int64_t> experiment, nlohmann::json data = nlohmann::json::object());
  // Events that a state change stored in its transaction: published now.
  void published(const std::vector<archive::Event>& stored);
  static archive::Event make(const std::string& kind, std::optional<int64_t> experiment,
                             nlohmann::json data = nlohmann::json::object());

 private:
  archive::Archive& archive_;
  std::vector<EventSink*> sinks_;
};

}  // namespace asiarch::host
