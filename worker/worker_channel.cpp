#include "worker/worker_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace asiarch::host {
namespace {

constexpr std::size_t kHeader = 5;

std::size_t cap_of(FrameKind k) { return k == FrameKind::blob ? kMaxBlobFrame : kMaxJsonFrame; }

bool known(std::uint8_t k) { return k == static_cast<std::uint8_t>(FrameKind::json) || k == static_cast<std::uint8_t>(FrameKind::blob); }

Status write_all(int fd, const char* p, std::size_t n, int timeout_ms) {
  while (n > 0) {
    // A peer that died must be an error here, not a SIGPIPE that ends the host.
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == ENOTSOCK) w = ::write(fd, p, n);
    if (w > 0) {
      p += w;
      n -= static_cast<std::size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pfd{fd, POLLOUT, 0};
      const int r = ::poll(&pfd, 1, timeout_ms);
      if (r == 0) return make_error("the peer does not read (timed out writing a frame)");
      if (r < 0 && errno != EINTR) return make_error(std::string("poll: ") + std::strerror(errno));
      continue;
    }
    return make_error(std::string("write: ") + (w == 0 ? "nothing written" : std::strerror(errno)));
  }
  return Ok{};
}

Status read_all(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r > 0) {
      p += r;
      n -= static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return make_error(r == 0 ? std::string("the host closed the channel") : std::string("read: ") + std::strerror(errno));
  }
  return Ok{};
}

std::uint32_t length_of(const char* h) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(h[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(h[3])) << 24;
}

}  // namespace

Status write_frame(int fd, FrameKind kind, std::string_view payload, int timeout_ms) {
  if (payload.size() > cap_of(kind))
    return make_error("a frame of " + std::to_string(payload.size()) + " bytes is over its limit of " +
                      std::to_string(cap_of(kind)));
  const auto n = static_cast<std::uint32_t>(payload.size());
  const char h[kHeader] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                           static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff),
                           static_cast<char>(kind)};
  if (auto st = write_all(fd, h, kHeader, timeout_ms); !st) return st;
  return write_all(fd, payload.data(), payload.size(), timeout_ms);
}

Status FrameWriter::queue(FrameKind kind, std::string payload) {
  return queue(kind, std::make_shared<const std::string>(std::move(payload)));
}

Status FrameWriter::queue(FrameKind kind, std::shared_ptr<const std::string> payload) {
  if (payload->size() > cap_of(kind))
    return make_error("a frame of " + std::to_string(payload->size()) + " bytes is over its limit of " +
                      std::to_string(cap_of(kind)));
  const auto n = static_cast<std::uint32_t>(payload->size());
  std::string header = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                        static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff),
                        static_cast<char>(kind)};
  frames_.push_back(std::make_shared<const std::string>(std::move(header)));
  if (!payload->empty()) frames_.push_back(std::move(payload));
  return Ok{};
}

Status FrameWriter::flush(int fd) {
  while (!frames_.empty()) {
    const std::string& f = *frames_.front();
    ssize_t w = ::send(fd, f.data() + offset_, f.size() - offset_, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Ok{};
    if (w <= 0) return make_error(std::string("cannot write to the worker: ") + (w == 0 ? "nothing written" : std::strerror(errno)));
    offset_ += static_cast<std::size_t>(w);
    if (offset_ == f.size()) {
      frames_.erase(frames_.begin());
      offset_ = 0;
    }
  }
  return Ok{};
}

std::size_t FrameWriter::pending_bytes() const {
  std::size_t n = 0;
  for (const auto& f : frames_) n += f->size();
  return n - offset_;
}

Result<Frame> read_frame(int fd) {
  char h[kHeader];
  if (auto st = read_all(fd, h, kHeader); !st) return st.error();
  const auto k = static_cast<std::uint8_t>(h[4]);
  if (!known(k)) return make_error("unknown frame kind " + std::to_string(k));
  Frame f;
  f.kind = static_cast<FrameKind>(k);
  const std::uint32_t n = length_of(h);
  if (n > cap_of(f.kind)) return make_error("a frame of " + std::to_string(n) + " bytes is over its limit");
  f.payload.resize(n);
  if (auto st = read_all(fd, f.payload.data(), n); !st) return st.error();
  return f;
}

Status FrameReader::pump(int fd, std::vector<Frame>& out, bool& eof, std::size_t budget) {
  char chunk[64 * 1024];
  std::size_t taken = 0;
  while (taken < budget) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(r));
      taken += static_cast<std::size_t>(r);
      // Cut frames as they complete, so the buffer never holds more than one frame's cap.
      std::size_t at = 0;
      while (buffer_.size() - at >= kHeader) {
        const auto k = static_cast<std::uint8_t>(buffer_[at + 4]);
        if (!known(k)) return make_error("the worker broke the protocol: unknown frame kind " + std::to_string(k));
        const auto kind = static_cast<FrameKind>(k);
        const std::uint32_t n = length_of(buffer_.data() + at);
        if (n > cap_of(kind))
          return make_error("the worker broke the protocol: a frame of " + std::to_string(n) +
                            " bytes (limit " + std::to_string(cap_of(kind)) + ")");
        if (buffer_.size() - at < kHeader + n) break;
        out.push_back({kind, buffer_.substr(at + kHeader, n)});
        at += kHeader + n;
      }
      buffer_.erase(0, at);
      continue;
    }
    if (r == 0) {
      eof = true;
      return Ok{};
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Ok{};
    eof = true;
    return make_error(std::string("reading the worker's channel: ") + std::strerror(errno));
  }
  return Ok{};
}

void LogRing::append(std::string_view text) {
  total_ += text.size();
  if (text.size() >= capacity_) {
    data_.assign(text.substr(text.size() - capacity_));
    return;
  }
  data_.append(text);
  if (data_.size() > capacity_) data_.erase(0, data_.size() - capacity_);
}

bool LogRing::pump(int fd, std::size_t budget) {
  char chunk[64 * 1024];
  std::size_t taken = 0;
  while (taken < budget) {
    const ssize_t r = ::read(fd, chunk, sizeof chunk);
    if (r > 0) {
      append(std::string_view(chunk, static_cast<std::size_t>(r)));
      taken += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;  // closed, or broken
  }
  return true;
}

std::string LogRing::text() const { return total_ > data_.size() ? "..." + data_ : data_; }

}  // namespace asiarch::host
