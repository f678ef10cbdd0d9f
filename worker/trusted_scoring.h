// The host's trusted part of an evaluate job: it makes the job's tasks (the worker gets training
// rows and test inputs with probe rows mixed in, never a test target), scores the test logits the
// worker sends, and judges the complexity gate by its own clock. What the worker says of a
// metric, a probe or its own timing is never the verdict. Internal to worker/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"
#include "worker/worker_job.h"

namespace asiarch::host {

// An evaluate job's tasks, made here (or taken from the owner's TaskCache): appends the tasks'
// headers to the job `message` and their rows to `blobs`, and keeps a scorer per task in `worker`.
Status plan_tests(RunningJob& worker, const WorkerJob& job, nlohmann::json& message,
                  std::vector<std::shared_ptr<const std::string>>& blobs);
// One task's metric and probes from the host's scorer, whatever the worker said of them.
void score_task(RunningJob& job, lab::TaskResult& r);
// The complexity gate by the kernel's count of the worker's CPU time between its timing marks.
void judge_complexity(const RunningJob& job, lab::GateResult& g);
// A result's tasks as the host scored them; tasks the host did not plan are dropped, planned tasks
// the worker left out get the worst metric.
void score_report(RunningJob& job, WorkerResult& result);
// One block of test logits (announced by a test_logits message) for the host's scorer.
Status take_logits(RunningJob& job, std::string bytes);

}  // namespace asiarch::host
