#include "engine/llm_calls.h"

namespace asiarch::host {

void ArchiveCallLog::attach(int64_t experiment) {
  if (!archive_ || unattached_.empty()) return;
  (void)archive_->attach_llm_calls(unattached_, experiment);
  unattached_.clear();
}

namespace {
thread_local std::optional<int64_t> t_tag;  // CallTag's experiment for this thread's calls
}  // namespace

CallTag::CallTag(int64_t experiment) { t_tag = experiment; }
CallTag::~CallTag() { t_tag.reset(); }

void ArchiveCallLog::drain() {
  std::vector<std::pair<agents::llm::Call, std::optional<int64_t>>> calls;
  {
    std::lock_guard<std::mutex> l(mu_);
    calls.swap(beside_);
  }
  for (const auto& [c, tag] : calls) {
    auto id = write(c, tag);
    if (id && !tag) beside_rows_.push_back(*id);
  }
}

void ArchiveCallLog::attach_beside(std::optional<int64_t> experiment) {
  drain();
  if (archive_ && experiment && !beside_rows_.empty()) (void)archive_->attach_llm_calls(beside_rows_, *experiment);
  beside_rows_.clear();
}

void ArchiveCallLog::record(const agents::llm::Call& c) {
  if (!archive_) return;
  if (std::this_thread::get_id() != engine_) {
    std::lock_guard<std::mutex> l(mu_);
    beside_.emplace_back(c, t_tag);
    return;
  }
  if (auto id = write(c, experiment_); id && !experiment_) unattached_.push_back(*id);
}

std::optional<int64_t> ArchiveCallLog::write(const agents::llm::Call& c, std::optional<int64_t> experiment) {
  archive::LlmCall a;
  a.experiment = experiment;
  a.role = c.role;
  a.purpose = c.purpose;
  a.model = c.model;
  a.template_name = c.template_name;
  a.template_version = c.template_version;
  a.request = c.request;
  a.key = c.key;
  a.response = c.response;
  a.latency_seconds = c.latency_seconds;
  a.prompt_tokens = c.prompt_tokens;
  a.completion_tokens = c.completion_tokens;
  a.tokens_estimated = c.tokens_estimated;
  a.cost_usd = c.replayed ? 0 : c.cost_usd;
  a.http_status = c.http_status;
  a.retries = c.retries;
  a.error = c.error;
  a.replayed = c.replayed;
  a.outcome = c.outcome;
  a.usable = c.usable;
  auto id = archive_->add_llm_call(a);
  if (events_)
    events_->emit("llm_call", experiment,
                  {{"role", c.role},
                   {"purpose", c.purpose},
                   {"model", c.model},
                   {"tokens", c.prompt_tokens + c.completion_tokens},
                   {"cost_usd", a.cost_usd},
                   {"seconds", c.latency_seconds},
                   {"retries", c.retries},
                   {"replayed", c.replayed},
                   {"error", c.error},
                   {"outcome", c.outcome}});
  if (!id) return std::nullopt;
  return *id;
}

std::optional<agents::llm::Call> ArchiveCallLog::replay(const std::string& key) {
  if (!archive_) return std::nullopt;
  std::optional<archive::LlmCall> a;
  if (std::this_thread::get_id() == engine_) {
    a = archive_->answered_llm_call(key);
  } else {
    std::lock_guard<std::mutex> l(mu_);
    if (!reader_)
      if (auto r = archive::Archive::open_read_only(archive_->path())) reader_ = std::move(*r);
    if (reader_) a = reader_->answered_llm_call(key);
  }
  if (!a) return std::nullopt;
  agents::llm::Call c;
  c.response = a->response;
  c.http_status = a->http_status;
  c.prompt_tokens = a->prompt_tokens;
  c.completion_tokens = a->completion_tokens;
  c.tokens_estimated = a->tokens_estimated;
  return c;
}

}  // namespace asiarch::host
