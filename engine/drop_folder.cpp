#include "engine/drop_folder.h"

#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/files.h"
#include "util/safe_text.h"
#include "worker/sandbox.h"  // UniqueFd

namespace asiarch::host {

Result<DropFolder> DropFolder::open(const std::filesystem::path& dir, size_t max_bytes, std::chrono::milliseconds settle) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return make_error(dir.string() + ": cannot create the plugin folder: " + ec.message());
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return make_error(std::string("inotify: ") + std::strerror(errno));
  if (::inotify_add_watch(fd, dir.c_str(), IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_CREATE | IN_ATTRIB) < 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    return make_error(dir.string() + ": cannot watch the plugin folder: " + why);
  }
  DropFolder f(std::filesystem::absolute(dir), fd, max_bytes, settle);
  // What is there already counts as dropped, and settled.
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.path().extension() == ".cpp") f.pending_[name].changed = std::chrono::steady_clock::now() - settle;
  }
  return f;
}

DropFolder::DropFolder(std::filesystem::path dir, int fd, size_t max_bytes, std::chrono::milliseconds settle)
    : dir_(std::move(dir)), fd_(fd), max_bytes_(max_bytes), settle_(settle) {}

DropFolder::DropFolder(DropFolder&& o) noexcept
    : dir_(std::move(o.dir_)), fd_(o.fd_), max_bytes_(o.max_bytes_), settle_(o.settle_), pending_(std::move(o.pending_)) {
  o.fd_ = -1;
}

DropFolder::~DropFolder() {
  if (fd_ >= 0) ::close(fd_);
}

void DropFolder::touch(const std::string& name) {
  if (std::filesystem::path(name).extension() != ".cpp") return;
  pending_[name].changed = std::chrono::steady_clock::now();
}

void DropFolder::take(const std::string& name, std::vector<DroppedFile>& ready, std::vector<RefusedFile>& refused) const {
  // A name is shown on terminals and pages: one that could act there is refused (every sink
  // escapes it where it is shown).
  const bool control = std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (control || !valid_utf8(name))
    return refused.push_back({name, "a file name with control characters or invalid UTF-8"});
  const auto path = dir_ / name;
  // One open, then every check on what it opened: nothing can be swapped in between a check and
  // the read. O_NOFOLLOW refuses a symlink, wherever it leads; O_NONBLOCK keeps a FIFO from blocking.
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  const int fd = file.get();
  if (fd < 0) {
    if (errno == ENOENT) return;  // removed again: its history stays
    if (errno == ELOOP) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(path, ec);
      return refused.push_back({name, "a symlink (to " + escape_control(target.string(), false) +
                                          "): copy the file into the plugin folder instead"});
    }
    return refused.push_back({name, std::string("cannot open it: ") + std::strerror(errno)});
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return refused.push_back({name, std::string("cannot stat it: ") + std::strerror(errno)});
  if (!S_ISREG(st.st_mode)) return refused.push_back({name, "not a regular file"});
  if (st.st_nlink > 1)
    return refused.push_back({name, "a hard link (the same file has another name, maybe outside the plugin folder): "
                                    "copy it into the plugin folder instead"});
  if (static_cast<uintmax_t>(st.st_size) > max_bytes_)
    return refused.push_back({name, "larger than the plugin size limit (" + std::to_string(st.st_size) +
                                        " bytes; at most " + std::to_string(max_bytes_) + ")"});
  std::string text;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return refused.push_back({name, std::string("cannot read it: ") + std::strerror(errno)});
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > max_bytes_)  // grew while being read
      return refused.push_back({name, "larger than the plugin size limit (at most " + std::to_string(max_bytes_) + " bytes)"});
  }
  if (const size_t at = invalid_utf8_at(text); at != std::string::npos)
    return refused.push_back({name, "not UTF-8 (an invalid byte at offset " + std::to_string(at) + ")"});
  ready.push_back({name, std::move(text)});
}

void DropFolder::poll(std::vector<DroppedFile>& ready, std::vector<RefusedFile>& refused) {
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* ev = reinterpret_cast<const inotify_event*>(buf + at);
      if (ev->len > 0) touch(ev->name);
      at += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
    }
  }
  const auto now = std::chrono::steady_clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto& p = it->second;
    std::error_code ec;
    const auto path = dir_ / it->first;
    const uintmax_t size = std::filesystem::exists(path, ec) ? std::filesystem::file_size(path, ec) : 0;
    const auto mtime = std::filesystem::last_write_time(path, ec);
    // A size or time that moved since the last look restarts the wait: it is still being written.
    if (size != p.size || mtime != p.mtime) {
      const bool first = p.size == 0 && p.mtime == std::filesystem::file_time_type{};
      p.size = size;
      p.mtime = mtime;
      if (!first) p.changed = now;
    }
    if (now - p.changed < settle_) {
      ++it;
      continue;
    }
    take(it->first, ready, refused);
    it = pending_.erase(it);
  }
}

}  // namespace asiarch::host
