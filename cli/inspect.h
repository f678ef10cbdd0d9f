// What the inspection commands (ls, show, history, lineage, top, events) share.
#pragma once

#include <memory>
#include <string>

#include "archive/archive.h"
#include "util/result.h"

namespace asiarch::host {

// The workdir's archive, opened read-only; a workdir without one is an error
// naming the path.
Result<std::unique_ptr<archive::Archive>> open_workdir_archive(const std::string& workdir);

}  // namespace asiarch::host
