#include "worker/protocol.h"

#include <array>
#include <utility>

namespace asiarch::host {
namespace {

// One table per enum, in the enum's order: the name is what crosses the wire.
constexpr std::array<const char*, 3> kJobKinds = {"prepare", "compile", "evaluate"};
constexpr std::array<const char*, 3> kHostMessages = {"job", "next_job", "clock"};
constexpr std::array<const char*, 13> kWorkerMessages = {
    "stage", "compiled", "build", "object", "result", "result_written", "clock", "test_logits",
    "gates_started", "gate", "task_started", "training_progress", "task_finished"};
constexpr std::array<const char*, 12> kStages = {
    "starting", "setting_up_compiler", "waiting_for_job", "reading_job", "building_pch", "extracting_corpus",
    "counting_reference", "compiling", "waiting_for_evaluation", "gates", "training", "writing_result"};
// As people read them (and as a failure's "during ..." says them).
constexpr std::array<const char*, 12> kStageLabels = {
    "starting", "setting up the compiler", "waiting for a job", "reading the job",
    "building the precompiled header", "extracting the corpus", "counting the DeltaNet baseline's parameters",
    "compiling", "waiting for its evaluation", "gates", "training", "writing the result"};
constexpr std::array<const char*, 11> kProgressKinds = {
    "compiled", "gates_started", "gate", "task_started", "training_progress", "task_finished",
    "worker_started", "node_cache", "slurm_adopted", "slurm_state", "slurm_resubmitted"};

// Each table has one name per value of its enum: a kind added to one is added to the other.
static_assert(kJobKinds.size() == static_cast<std::size_t>(JobKind::evaluate) + 1);
static_assert(kHostMessages.size() == static_cast<std::size_t>(HostMessage::clock_reply) + 1);
static_assert(kWorkerMessages.size() == static_cast<std::size_t>(WorkerMessage::task_finished) + 1);
static_assert(kStages.size() == static_cast<std::size_t>(Stage::writing_result) + 1);
static_assert(kStageLabels.size() == kStages.size());
static_assert(kProgressKinds.size() == static_cast<std::size_t>(ProgressKind::slurm_resubmitted) + 1);

template <typename E, std::size_t N>
const char* name_in(const std::array<const char*, N>& table, E e) {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? table[i] : "?";
}

template <typename E, std::size_t N>
std::optional<E> named_in(const std::array<const char*, N>& table, std::string_view name) {
  for (std::size_t i = 0; i < N; ++i)
    if (name == table[i]) return static_cast<E>(i);
  return std::nullopt;
}

}  // namespace

const char* name_of(JobKind k) { return name_in(kJobKinds, k); }
const char* name_of(HostMessage k) { return name_in(kHostMessages, k); }
const char* name_of(WorkerMessage k) { return name_in(kWorkerMessages, k); }
const char* name_of(Stage s) { return name_in(kStages, s); }
const char* name_of(ProgressKind k) { return name_in(kProgressKinds, k); }
std::optional<JobKind> job_kind_named(std::string_view n) { return named_in<JobKind>(kJobKinds, n); }
std::optional<HostMessage> host_message_named(std::string_view n) { return named_in<HostMessage>(kHostMessages, n); }
std::optional<WorkerMessage> worker_message_named(std::string_view n) {
  return named_in<WorkerMessage>(kWorkerMessages, n);
}
std::optional<Stage> stage_named(std::string_view n) { return named_in<Stage>(kStages, n); }
std::optional<ProgressKind> progress_kind_named(std::string_view n) {
  return named_in<ProgressKind>(kProgressKinds, n);
}

std::string stage_label(Stage s, const std::string& task) {
  std::string out = name_in(kStageLabels, s);
  if (s == Stage::training && !task.empty()) out += " " + task;
  return out;
}

bool may_send(JobKind job, WorkerMessage m) {
  switch (m) {
    case WorkerMessage::stage:
    case WorkerMessage::result:
      return true;
    case WorkerMessage::compiled:
    case WorkerMessage::build:
    case WorkerMessage::object:
    case WorkerMessage::result_written:
      return job != JobKind::prepare;
    case WorkerMessage::clock:
    case WorkerMessage::test_logits:
    case WorkerMessage::gates_started:
    case WorkerMessage::gate:
    case WorkerMessage::task_started:
    case WorkerMessage::training_progress:
    case WorkerMessage::task_finished:
      return job == JobKind::evaluate;
  }
  return false;
}

}  // namespace asiarch::host
