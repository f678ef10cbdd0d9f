// Slurm through its command-line tools, as a user at the terminal would: sbatch to submit,
// squeue (and scontrol for jobs that left the queue) to follow, scancel to cancel. Where no
// accounting database runs, sacct knows nothing; scontrol keeps an ended job for MinJobAge
// (300 s by default), long enough for the host to see how it ended.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "exec/slurm_settings.h"
#include "util/result.h"

namespace asiarch::host::slurm {

// The host's environment variables a batch job gets, whatever else the host's environment holds
// (an LLM key, a token): sbatch is called with --export=<these and Settings::export_vars>.
inline constexpr const char* kExportedAlways[] = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"};

// Why `s` cannot be used: a variable name that is not one, a name that looks like a secret, an
// --export in extra_args. Empty: fine.
std::string refusal(const Settings& s);

// A job's state as Slurm names it ("PENDING", "RUNNING", "COMPLETED", "TIMEOUT", ...) and the
// reason it gives; state "VANISHED" when Slurm says it has no such job, "UNREACHABLE" when
// neither squeue nor scontrol answered (the controller is down or busy: ask again later).
struct JobState {
  std::string state, reason;
};

// What the loop makes of a state: still going, ended (a fact to record), or ended by the
// cluster rather than by the candidate (preemption, a node's failure, a cancel by hand),
// which is worth one more submission.
enum class Fate { waiting, running, ended, retry };
Fate fate_of(const std::string& state);

// sbatch's arguments for a batch script; `minutes` is the time limit when `s.time_limit` is empty.
std::vector<std::string> sbatch_args(const Settings& s, const std::string& job_name, const std::string& output,
                                     int minutes, const std::string& script);
// The job id of `sbatch --parsable` ("123" or "123;cluster").
Result<std::string> parse_parsable(const std::string& out);
// squeue -h -o "%i|%T|%r" lines -> id -> state.
std::map<std::string, JobState> parse_squeue(const std::string& out);
// `scontrol show job -o ID`: JobState= and Reason=.
std::optional<JobState> parse_scontrol(const std::string& out);

Result<std::string> submit(const Settings& s, const std::string& job_name, const std::string& output, int minutes,
                           const std::string& script);
// The states of these jobs, one squeue call and a scontrol call for each job not in the queue.
inline constexpr const char* kVanished = "VANISHED";
inline constexpr const char* kUnreachable = "UNREACHABLE";
std::map<std::string, JobState> states(const std::vector<std::string>& ids);
Status cancel(const std::string& id);
// The partition exists (scontrol show partition), or Slurm's words for why not.
Status check_partition(const std::string& partition);

}  // namespace asiarch::host::slurm
