// The plugin drop folder: hand-written `.cpp` files a user saves into a
// folder (default DIR/plugins) join the archive. Watched with inotify; a file
// is read only once it has settled (unchanged for a moment, so one still being
// written is not read half-way), and refused with a reason when it is not
// UTF-8, too large, or a symlink leading out of the folder.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch::host {

struct DroppedFile {
  std::string name;  // the file's name in the folder, e.g. "my_mixer.cpp"
  std::string source;
};

struct RefusedFile {
  std::string name;
  std::string reason;
};

class DropFolder {
 public:
  // Creates the folder when absent. Every file already there is ready on the first poll.
  static Result<DropFolder> open(const std::filesystem::path& dir, size_t max_bytes,
                                 std::chrono::milliseconds settle = std::chrono::milliseconds(500));
  DropFolder(DropFolder&& o) noexcept;
  DropFolder& operator=(DropFolder&&) = delete;
  DropFolder(const DropFolder&) = delete;
  ~DropFolder();

  // Files changed since the last poll that have settled; never blocks.
  void poll(std::vector<DroppedFile>& ready, std::vector<RefusedFile>& refused);
  const std::filesystem::path& dir() const { return dir_; }

 private:
  DropFolder(std::filesystem::path dir, int fd, size_t max_bytes, std::chrono::milliseconds settle);
  struct Pending {
    std::chrono::steady_clock::time_point changed;
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime{};
  };
  void touch(const std::string& name);
  void take(const std::string& name, std::vector<DroppedFile>& ready, std::vector<RefusedFile>& refused) const;

  std::filesystem::path dir_;
  int fd_ = -1;
  size_t max_bytes_;
  std::chrono::milliseconds settle_;
  std::map<std::string, Pending> pending_;
};


}  // namespace asiarch::host
