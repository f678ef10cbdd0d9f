// `asiarch run`: the discovery loop. Propose (Researcher) -> build and check
// and train (Engineer and lab, in sandboxed workers) -> score (Judge and
// fitness) -> record (archive) -> analyse (Analyst), until the workdir holds
// the budgeted number of evolved experiments. Re-running resumes.
#pragma once

#include <iosfwd>

#include "host/run_config.h"

namespace asiarch::host {

// Returns the exit code: 0 done, 1 a setup error, 130 stopped by a signal.
int run_discovery(const RunConfig& config, std::ostream& out, std::ostream& err);

}  // namespace asiarch::host
