#include "engine/drop_folder.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cstring>

#include "util/files.h"

namespace asiarch::host {

size_t invalid_utf8_at(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return i;
    if (n == 2 && c < 0xC2) return i;  // overlong
    i += n;
  }
  return std::string::npos;
}

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
  const auto path = dir_ / name;
  std::error_code ec;
  const auto link = std::filesystem::symlink_status(path, ec);
  if (ec || !std::filesystem::exists(link)) return;  // removed again: its history stays
  if (std::filesystem::is_symlink(link)) {
    const auto target = std::filesystem::weakly_canonical(path, ec);
    const auto home = std::filesystem::weakly_canonical(dir_, ec);
    const auto rel = target.lexically_relative(home);
    if (rel.empty() || *rel.begin() == "..")
      return refused.push_back({name, "a symlink leading out of the plugin folder (to " + target.string() + ")"});
  }
  if (!std::filesystem::is_regular_file(path, ec)) return refused.push_back({name, "not a regular file"});
  const auto size = std::filesystem::file_size(path, ec);
  if (size > max_bytes_)
    return refused.push_back({name, "larger than the plugin size limit (" + std::to_string(size) + " bytes; at most " +
                                        std::to_string(max_bytes_) + ")"});
  auto text = read_file(path);
  if (!text) return refused.push_back({name, text.error().message});
  if (const size_t at = invalid_utf8_at(*text); at != std::string::npos)
    return refused.push_back({name, "not UTF-8 (an invalid byte at offset " + std::to_string(at) + ")"});
  ready.push_back({name, std::move(*text)});
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
