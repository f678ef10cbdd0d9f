// The one way a worker and the host talk: frames on a socketpair the host
// made, and the worker's output on a pipe the host drains into a ring. The
// host never reads the worker's scratch folder, so nothing the worker puts
// there (a symlink, a FIFO, an endless file) can reach it; every frame is
// length-prefixed and capped before a byte of it is stored.
#pragma once

#include "util/safe_text.h"  // escape_control, for what a worker says

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace asiarch::host {

enum class FrameKind : std::uint8_t { json = 'J', blob = 'B' };

struct Frame {
  FrameKind kind = FrameKind::json;
  std::string payload;
};

constexpr std::size_t kMaxJsonFrame = 8u << 20;    // a message, a job, a result
constexpr std::size_t kMaxBlobFrame = 256u << 20;  // a compiled object

// Writes one frame: a 4-byte little-endian length, a kind byte, the payload.
// Blocks on a blocking fd; on a non-blocking one waits for room at most
// `timeout_ms` (a peer that stops reading is an error, not a hang).
Status write_frame(int fd, FrameKind kind, std::string_view payload, int timeout_ms = -1);
// Blocking read of one whole frame (the worker's side). End of file: an error
// saying so.
Result<Frame> read_frame(int fd);

// The host's side: reads what is there without blocking and cuts it into
// frames. A frame over its cap or of an unknown kind is a protocol error.
class FrameReader {
 public:
  // Reads at most `budget` bytes; appends complete frames to `out`. Sets
  // `eof` when the peer closed its end.
  Status pump(int fd, std::vector<Frame>& out, bool& eof, std::size_t budget = 16u << 20);

 private:
  std::string buffer_;
};

// The host's outgoing frames to one worker: queued, and written as far as the
// socket takes them without blocking, so a worker that is busy (or refuses to
// read) never stalls the host.
class FrameWriter {
 public:
  // Queues one frame; a payload over its cap is an error and queues nothing.
  Status queue(FrameKind kind, std::string payload);
  // The same for a payload shared with other workers' queues (task data): not copied.
  Status queue(FrameKind kind, std::shared_ptr<const std::string> payload);
  // Writes what the socket takes now. An error when the worker's end is gone.
  Status flush(int fd);
  bool empty() const { return frames_.empty(); }
  std::size_t pending_bytes() const;

 private:
  std::vector<std::shared_ptr<const std::string>> frames_;  // headers, small payloads, big payloads
  std::size_t offset_ = 0;           // into frames_.front()
};

// The last `capacity` bytes of a stream, and how many bytes it carried.
class LogRing {
 public:
  explicit LogRing(std::size_t capacity = 64u << 10) : capacity_(capacity) {}
  void append(std::string_view text);
  // Drains a non-blocking fd into the ring; false once the writer closed it.
  bool pump(int fd, std::size_t budget = 4u << 20);
  std::string text() const;  // "..." first when bytes were dropped
  std::size_t total() const { return total_; }

 private:
  std::size_t capacity_;
  std::string data_;
  std::size_t total_ = 0;
};


}  // namespace asiarch::host
