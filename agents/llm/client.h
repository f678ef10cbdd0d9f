// An OpenAI-compatible chat client (POST {url}/chat/completions, not
// streamed) over libcurl, shared by the four LLM roles: retries with
// exponential backoff and jitter on connection errors, timeouts, 429
// (honouring Retry-After) and 5xx; a circuit breaker that pauses every LLM
// role after repeated failures and closes by itself after a cool-down; token
// usage (estimated when the server gives none), cost and a spending cap.
// Every request is handed to a CallLog (the host stores it in the archive),
// and an answer the log already holds for the same request is replayed, not
// paid for again. The API key lives only in this object's memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/llm/config.h"

namespace asiarch::agents::llm {

struct Message {
  std::string role;  // system, user, assistant
  std::string content;
};

// One request as the roles make it.
struct Request {
  std::string role;              // researcher, engineer, analyst, judge
  std::string purpose;           // propose, correct, revise_build, revise_runtime, analyse, judge, ...
  std::string template_name;
  int template_version = 0;
  std::vector<Message> messages;
  std::string model;             // empty: the role's model (llm.roles, llm.model)
};

// One call as recorded: what was asked, what came back, what it cost.
struct Call {
  std::string role, purpose, model, template_name;
  int template_version = 0;
  nlohmann::json request = nlohmann::json::object();  // {messages, temperature, max_tokens}
  std::string key;              // hash of model + request: the same request replays its answer
  std::string response;         // the answer's content (reasoning dropped), bounded
  double latency_seconds = 0;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  bool tokens_estimated = false;
  double cost_usd = 0;
  int http_status = 0;          // of the last try; 0: no HTTP answer
  int retries = 0;
  std::vector<double> waits;    // the wait before each retry, seconds, as decided (backoff or Retry-After)
  std::string error;            // empty when an answer came
  bool replayed = false;        // answered from the archive, not the endpoint
  std::string outcome;          // what the role made of it: "parsed", "edits applied", or why not
  bool usable = false;          // the role used the answer: only such an answer is ever replayed
};

// What a role made of an answer (Client::finish).
enum class Use { usable, unusable };

// Where calls go: the host's archive. `replay` returns the answer recorded for
// `key` when its role could use it (the newest answer decides), else none.
class CallLog {
 public:
  virtual ~CallLog() = default;
  virtual void record(const Call& call) = 0;
  virtual std::optional<Call> replay(const std::string& key) = 0;
};

// What a role gets back.
struct Reply {
  bool ok = false;
  std::string content;       // without <think> blocks
  std::string error;         // why there is no answer
  bool unavailable = false;  // the endpoint failed or the breaker is open: worth trying later
  Call call;                 // as recorded (the role sets `outcome` and records it)
};

// The breaker opened (with the failure that opened it and the cool-down) or an answer closed it.
struct BreakerChange {
  bool open = false;
  std::string reason;
  double seconds = 0;  // the cool-down, when it opened
};

// Calls may come from several threads at once (the engine's and the one its Researcher asks on):
// the breaker, spend and jitter are guarded; each request has its own connection.
class Client {
 public:
  // `api_key` may be empty (a local server needs none).
  Client(Config config, std::string api_key, CallLog* log);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends `r` to the role's model; never throws. The call is not yet
  // recorded: the role records it with its outcome (`finish`).
  Reply chat(const Request& r);
  // Records a call with what the role made of it; an unusable answer is never replayed.
  void finish(Call call, Use use, const std::string& outcome);

  const Config& config() const { return config_; }
  // The breaker: seconds until LLM roles may call again (0: closed).
  double paused_for() const;
  std::string pause_reason() const;
  double spent_usd() const;
  // Spend of earlier processes on the same archive (a resumed run, a restarted daemon): counted
  // against llm.budget_usd as if this client had spent it.
  void add_earlier_spend(double usd);
  bool budget_spent() const { return config_.budget_usd > 0 && spent_usd() >= config_.budget_usd; }
  // What the breaker did since the last take, in order: the engine turns it into events, so that
  // `llm_resumed` says an answer came, not that a cool-down ran out.
  std::vector<BreakerChange> take_breaker_changes();
  // Ends calls in progress (and any retry wait) at once and refuses new ones: the run is stopping.
  void abort_calls() { aborting_ = true; }

 private:
  struct Http {
    int status = 0;            // 0: no HTTP answer (connection, timeout)
    std::string body, error;
    std::optional<double> retry_after;
  };
  Http post(const std::string& body);
  void opened(const std::string& reason);

  Config config_;
  std::string api_key_;
  CallLog* log_;
  mutable std::mutex mu_;
  double spent_ = 0;
  int consecutive_failures_ = 0;
  std::chrono::steady_clock::time_point open_until_{};
  std::string pause_reason_;
  uint64_t jitter_state_;
  bool open_ = false;  // the breaker opened and no answer has come since
  std::vector<BreakerChange> changes_;
  std::atomic<bool> aborting_{false};
};

// Rough token count of a text, for budgets and when the server reports none (about 4 bytes a token).
int64_t estimate_tokens(const std::string& text);

}  // namespace asiarch::agents::llm
