// The executors a run may name (`executor` in asiarch.json, --executor): a new one is its own file
// under exec/ with a maker, plus one row here.
#include "exec/executor.h"

namespace asiarch::host {
namespace {

struct ExecutorKind {
  const char* name;
  Result<std::unique_ptr<Executor>> (*make)(WorkerPool& pool, const ExecutorOptions& options);
};

constexpr ExecutorKind kExecutors[] = {
    {"local", make_local_executor},
    {"slurm", make_slurm_executor},
};

}  // namespace

std::vector<std::string> known_executors() {
  std::vector<std::string> out;
  for (const auto& k : kExecutors) out.emplace_back(k.name);
  return out;
}

Result<std::unique_ptr<Executor>> make_executor(const std::string& name, WorkerPool& pool, const ExecutorOptions& options) {
  for (const auto& k : kExecutors)
    if (name == k.name) return k.make(pool, options);
  std::string known;
  for (const auto& k : known_executors()) known += (known.empty() ? "" : ", ") + k;
  return make_error("executor: unknown executor \"" + name + "\"; known executors: " + known);
}

}  // namespace asiarch::host
