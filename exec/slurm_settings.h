// The slurm executor's settings (the `slurm.*` rows of the settings table), apart from the code
// that runs sbatch and squeue (exec/slurm.h): what configuration and the executor table need.
#pragma once

#include <string>
#include <vector>

namespace asiarch::host::slurm {

struct Settings {
  std::string partition, account, qos;
  std::string time_limit;  // as sbatch takes it ("30", "1:00:00"); empty: from the experiment's timeout
  std::string gres;        // e.g. "gpu:1"
  int cpus_per_task = 0;   // 0: the cluster's default
  std::string mem;         // e.g. "16G"; empty: the cluster's default
  std::vector<std::string> extra_args;   // never --export (exec/slurm.h's allow-list is the only one)
  std::vector<std::string> export_vars;  // further variables a job gets from the host's environment
  double unreachable_seconds = 600;      // a job whose state cannot be read this long is given up and cancelled
  std::string shared_dir;  // seen by the host and the compute nodes: jobs and results travel through it
};

}  // namespace asiarch::host::slurm
