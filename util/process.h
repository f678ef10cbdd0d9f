// Runs a program (found on PATH) to its end and captures what it printed: for the
// cluster's command-line tools (sbatch, squeue, scontrol, scancel). Not for
// untrusted code: that runs in worker/sandbox.h's workers.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace asiarch {

struct ProcessOutput {
  int code = -1;  // the exit code; 128 + the signal when killed
  std::string out, err;
  bool timed_out = false;
};

// An error only when it could not be started (not found, not executable); a program that
// ran and failed is an output with its code and messages. Killed after `timeout_seconds`.
Result<ProcessOutput> run_process(const std::vector<std::string>& argv, double timeout_seconds = 60);

}  // namespace asiarch
