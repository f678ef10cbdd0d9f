// The worker protocol's wire format: frames (worker/worker_channel.h) carry JSON messages
// {"kind": <name>, ...fields} and binary blobs; these are the codecs of the messages and of the
// data they carry. Both sides use them; neither trusts the other's bytes to be well formed, so
// every decode is bounded and its failure is a value.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"
#include "worker/protocol.h"

namespace asiarch::host {

// How deep a message may nest: the deepest the protocol itself sends is a result's report
// (about 6); beyond this a message is refused before it is built, so no recursion runs deep.
inline constexpr int kMaxMessageDepth = 32;

// Parses `text` as one JSON message, refusing one that nests deeper than `max_depth` (without
// building it) or is not JSON.
Result<nlohmann::json> parse_message(const std::string& text, int max_depth = kMaxMessageDepth);

// A message of that kind with those fields.
nlohmann::json message(WorkerMessage kind, nlohmann::json fields = nlohmann::json::object());
nlohmann::json message(HostMessage kind, nlohmann::json fields = nlohmann::json::object());

// The kind of a message, or why it has none a host can accept.
Result<WorkerMessage> worker_message_of(const nlohmann::json& m);

void to_json(nlohmann::json& j, const WorkerJob& w);
void from_json(const nlohmann::json& j, WorkerJob& w);
void to_json(nlohmann::json& j, const CompileReport& c);
void from_json(const nlohmann::json& j, CompileReport& c);
void to_json(nlohmann::json& j, const WorkerResult& r);
void from_json(const nlohmann::json& j, WorkerResult& r);

// Token ids as 32-bit little-endian integers: how a task's rows cross the channel (binary frames).
std::string int32_bytes(const std::vector<int64_t>& ids);
std::vector<int64_t> from_int32(const std::string& bytes);

// A progress item as one JSON object {"kind": <name>, ...data} (the Slurm job's progress file, the
// printers that read lab::describe_progress), and back: a line whose kind is not a ProgressKind is
// refused, so a file a node wrote cannot name any other event.
nlohmann::json to_message(const Progress& p);
Result<Progress> progress_from(const nlohmann::json& m);

}  // namespace asiarch::host
