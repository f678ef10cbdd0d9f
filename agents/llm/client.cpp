#include "agents/llm/client.h"
#include "util/safe_text.h"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <utility>

#include "agents/llm/answer.h"
#include "util/hash.h"

namespace asiarch::agents::llm {
namespace {

constexpr size_t kMaxBody = 8u << 20;       // an answer larger than this is refused, not read on
constexpr size_t kMaxRecorded = 256u << 10;  // of an answer, kept in the archive
constexpr double kMaxRetryAfter = 120;       // seconds; a server asking for longer is not waited for

struct Sink {
  std::string body;
  bool too_large = false;
  std::optional<double> retry_after;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  if (s->body.size() + size * n > kMaxBody) {
    s->too_large = true;
    return 0;  // aborts the transfer
  }
  s->body.append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  std::string h(data, size * n);
  const std::string name = "retry-after:";
  std::string lower = h.substr(0, std::min(h.size(), name.size()));
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == name) {
    try {
      s->retry_after = std::stod(h.substr(name.size()));
    } catch (...) {
      // An HTTP date: treated as no hint; the backoff applies.
    }
  }
  return size * n;
}

bool retryable(int status) { return status == 0 || status == 429 || status >= 500; }

std::string server_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    if (e.is_string()) return e.get<std::string>();
  }
  return body.substr(0, 300);
}

}  // namespace

int64_t estimate_tokens(const std::string& text) { return static_cast<int64_t>(text.size() + 3) / 4; }

Client::Client(Config config, std::string api_key, CallLog* log)
    : config_(std::move(config)), api_key_(std::move(api_key)), log_(log),
      jitter_state_(std::chrono::steady_clock::now().time_since_epoch().count() | 1) {}

Client::~Client() {
  // The key leaves memory with the client.
  std::fill(api_key_.begin(), api_key_.end(), '\0');
}

double Client::paused_for() const {
  std::lock_guard<std::mutex> l(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now >= open_until_) return 0;
  return std::chrono::duration<double>(open_until_ - now).count();
}

std::string Client::pause_reason() const {
  std::lock_guard<std::mutex> l(mu_);
  return pause_reason_;
}

double Client::spent_usd() const {
  std::lock_guard<std::mutex> l(mu_);
  return spent_;
}

void Client::add_earlier_spend(double usd) {
  std::lock_guard<std::mutex> l(mu_);
  if (usd > 0) spent_ += usd;
}

void Client::opened(const std::string& reason) {
  open_until_ = std::chrono::steady_clock::now() +
                std::chrono::milliseconds(static_cast<int64_t>(config_.breaker_cooldown_seconds * 1000));
  pause_reason_ = reason;
  open_ = true;
  changes_.push_back({true, reason, config_.breaker_cooldown_seconds});
}

std::vector<BreakerChange> Client::take_breaker_changes() {
  std::lock_guard<std::mutex> l(mu_);
  return std::exchange(changes_, {});
}

namespace {
// libcurl's progress callback: a non-zero return ends the transfer (the run is stopping).
int on_progress(void* aborting, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<std::atomic<bool>*>(aborting)->load() ? 1 : 0;
}
}  // namespace

Client::Http Client::post(const std::string& body) {
  Http out;
  CURL* h = curl_easy_init();
  if (!h) {
    out.error = "libcurl could not start a request";
    return out;
  }
  Sink sink;
  std::string url = config_.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  url += "/chat/completions";
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  std::string auth;
  if (!api_key_.empty()) {
    auth = "Authorization: Bearer " + api_key_;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.timeout_seconds * 1000));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(config_.timeout_seconds, 30.0) * 1000));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &aborting_);
  if (!config_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, config_.ca_file.c_str());
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
  const CURLcode rc = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(h);
  std::fill(auth.begin(), auth.end(), '\0');
  out.retry_after = sink.retry_after;
  if (sink.too_large) {
    out.status = static_cast<int>(status);
    out.error = "the answer is larger than " + std::to_string(kMaxBody >> 20) + " MiB; refused";
    return out;
  }
  if (rc != CURLE_OK) {
    out.error = std::string(curl_easy_strerror(rc)) + (err[0] ? std::string(": ") + err : "");
    return out;  // status 0: no complete HTTP answer
  }
  out.status = static_cast<int>(status);
  out.body = std::move(sink.body);
  return out;
}

Reply Client::chat(const Request& r) {
  Reply reply;
  RoleSettings rs = role_settings(config_, r.role);
  if (!r.model.empty()) rs.model = r.model;
  Call& call = reply.call;
  call.role = r.role;
  call.purpose = r.purpose;
  call.model = rs.model;
  call.template_name = r.template_name;
  call.template_version = r.template_version;
  nlohmann::json messages = nlohmann::json::array();
  int64_t prompt_chars = 0;
  for (const auto& m : r.messages) {
    messages.push_back({{"role", m.role}, {"content", m.content}});
    prompt_chars += static_cast<int64_t>(m.content.size());
  }
  // What the answer may use: the role's max_tokens, within what the context leaves.
  const int64_t room = config_.context_tokens - (prompt_chars + 3) / 4;
  const int max_tokens = static_cast<int>(std::max<int64_t>(256, std::min<int64_t>(rs.max_tokens, room)));
  call.request = {{"messages", messages}, {"temperature", rs.temperature}, {"max_tokens", max_tokens}};
  nlohmann::json body = {{"model", rs.model}, {"messages", messages}, {"temperature", rs.temperature},
                         {"max_tokens", max_tokens}, {"stream", false}};
  call.key = sha256_hex(rs.model + "\n" + call.request.dump());

  if (log_)
    if (auto prior = log_->replay(call.key)) {
      reply.ok = true;
      reply.content = strip_think(prior->response);
      call.response = prior->response;
      call.http_status = prior->http_status;
      call.prompt_tokens = prior->prompt_tokens;
      call.completion_tokens = prior->completion_tokens;
      call.tokens_estimated = prior->tokens_estimated;
      call.replayed = true;  // paid for once, by the call it replays
      return reply;
    }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (aborting_) {
      reply.error = "the run is stopping";
      call.error = reply.error;
      return reply;
    }
    if (std::chrono::steady_clock::now() < open_until_) {
      reply.unavailable = true;
      reply.error = "LLM roles are paused (circuit breaker open: " + pause_reason_ + ")";
      call.error = reply.error;
      return reply;
    }
    if (config_.budget_usd > 0 && spent_ >= config_.budget_usd) {
      reply.error = "the LLM budget of $" + std::to_string(config_.budget_usd) + " is spent";
      call.error = reply.error;
      return reply;
    }
  }
  const std::string payload = body.dump();
  const auto began = std::chrono::steady_clock::now();
  Http http;
  for (int attempt = 0;; ++attempt) {
    http = post(payload);
    if (http.error.empty() && http.status >= 200 && http.status < 300) break;
    if (!retryable(http.status) || !http.error.empty() && http.status != 0 || attempt >= config_.max_retries) break;
    if (aborting_) break;
    // Exponential backoff with jitter, or what the server asked for.
    double jitter = 1;
    {
      std::lock_guard<std::mutex> l(mu_);
      jitter_state_ ^= jitter_state_ << 13;
      jitter_state_ ^= jitter_state_ >> 7;
      jitter_state_ ^= jitter_state_ << 17;
      jitter = 0.5 + static_cast<double>(jitter_state_ % 1000) / 1000.0;
    }
    double wait = config_.retry_base_seconds * std::pow(2.0, attempt) * jitter;
    if (http.status == 429 && http.retry_after) wait = std::min(*http.retry_after, kMaxRetryAfter);
    wait = std::min(wait, config_.timeout_seconds);
    ++call.retries;
    call.waits.push_back(wait);
    for (const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(wait * 1000));
         !aborting_ && std::chrono::steady_clock::now() < until;)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  call.latency_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  call.http_status = http.status;

  auto failed = [&](std::string why, bool transport) {
    reply.error = redact_urls(why);  // an endpoint's credentials never reach the archive or a log
    call.error = reply.error;
    std::lock_guard<std::mutex> l(mu_);
    if (aborting_) return reply;  // the run is stopping: not the endpoint's failure
    if (transport) {
      reply.unavailable = true;
      if (++consecutive_failures_ >= config_.breaker_failures) opened(reply.error);
    }
    return reply;
  };
  if (!http.error.empty() && http.status == 0)
    return failed("no answer from " + config_.url + " after " + std::to_string(call.retries + 1) + " tries: " + http.error,
                  true);
  if (!http.error.empty()) return failed(http.error, false);
  if (http.status == 401 || http.status == 403)
    return failed("HTTP " + std::to_string(http.status) + ": the endpoint refused the key (check " +
                      config_.api_key_env + "): " + server_message(http.body),
                  false);
  if (http.status == 404)
    return failed("HTTP 404: the endpoint or model \"" + rs.model + "\" was not found: " + server_message(http.body), false);
  if (http.status < 200 || http.status >= 300)
    return failed("HTTP " + std::to_string(http.status) + " after " + std::to_string(call.retries + 1) +
                      " tries: " + server_message(http.body),
                  retryable(http.status));

  auto j = nlohmann::json::parse(http.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty() ||
      !j["choices"][0].is_object() || !j["choices"][0].contains("message") || !j["choices"][0]["message"].is_object())
    return failed("the endpoint's answer is not an OpenAI chat completion: " + http.body.substr(0, 200), false);
  const auto& msg = j["choices"][0]["message"];
  std::string content = msg.contains("content") && msg["content"].is_string() ? msg["content"].get<std::string>() : "";
  // reasoning_content (DeepSeek, vLLM reasoning parsers) is the model thinking aloud: not the answer.
  const auto usage = j.value("usage", nlohmann::json::object());
  if (usage.is_object() && usage.contains("prompt_tokens") && usage["prompt_tokens"].is_number_integer()) {
    call.prompt_tokens = usage["prompt_tokens"].get<int64_t>();
    call.completion_tokens = usage.value("completion_tokens", int64_t{0});
  } else {
    call.prompt_tokens = (prompt_chars + 3) / 4;
    call.completion_tokens = estimate_tokens(content);
    call.tokens_estimated = true;
  }
  if (auto p = price_of(config_, rs.model))
    call.cost_usd = (static_cast<double>(call.prompt_tokens) * p->input_per_mtok +
                     static_cast<double>(call.completion_tokens) * p->output_per_mtok) / 1e6;
  {
    std::lock_guard<std::mutex> l(mu_);
    spent_ += call.cost_usd;
    consecutive_failures_ = 0;
    open_until_ = {};
    if (open_) changes_.push_back({false, "an answer came to the " + r.role + "'s " + r.purpose + " request", 0});
    open_ = false;
  }
  call.response = content.size() > kMaxRecorded ? content.substr(0, kMaxRecorded) : content;
  reply.content = strip_think(content);
  reply.ok = true;
  return reply;
}

void Client::finish(Call call, Use use, const std::string& outcome) {
  call.outcome = outcome;
  call.usable = use == Use::usable && call.error.empty();
  if (log_) log_->record(call);
}

}  // namespace asiarch::agents::llm
