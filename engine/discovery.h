// `asiarch run`: the discovery loop. Propose (Researcher) -> build, with the
// Engineer repairing from diagnostics, each compile in a sandboxed worker ->
// gates and training (an executor) -> score (Judge and fitness) -> record
// (archive, with its event stream) -> analyse (Analyst), until the workdir
// holds the budgeted number of evolved experiments. Re-running resumes.
#pragma once

#include <iosfwd>

#include "engine/loop_control.h"
#include "config/run_config.h"
#include "util/cancel.h"

namespace asiarch::host {

// Returns the exit code: 0 done, 1 a setup error, 130 stopped by `cancel`. With `control` (the
// daemon): pausable, publishes its status, a budget of 0 means no limit, and it idles instead of
// ending until cancelled (exit 0).
int run_discovery(const RunConfig& config, std::ostream& out, std::ostream& err, const CancelToken& cancel,
                  LoopControl* control = nullptr);

}  // namespace asiarch::host
