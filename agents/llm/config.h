// The `llm` section of asiarch.json: where the OpenAI-compatible endpoint is,
// which model plays each role, and what the loop may spend. Plain data; the
// host's settings table (config/run_settings.cpp) reads and writes it, and
// `check_config` turns its free-form parts (roles, prices) into typed values
// with errors that name the field.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace asiarch::agents::llm {

struct Config {
  std::string url;                          // e.g. http://127.0.0.1:8080/v1; empty: no endpoint
  std::string api_key_env = "OPENAI_API_KEY";  // the variable holding the key; the key itself is never stored
  std::string model;
  // The Researcher's models: each proposal asks the one a UCB1 bandit picks on the share of its
  // proposals that built and passed every gate. Empty: the Researcher's one model.
  std::vector<std::string> models;
  double model_exploration = 1.414;         // the bandit's c
  // Proposals the Researcher keeps ready beyond the free workers, asked on a thread beside the
  // engine loop so that workers never wait on a model; 0: the loop asks and waits.
  int proposals_ahead = 1;
  nlohmann::json roles = nlohmann::json::object();   // role -> {model, temperature, max_tokens}
  double timeout_seconds = 300;             // per request
  int max_retries = 4;                      // after the first try
  int context_tokens = 32768;               // a prompt and its answer fit in this many tokens
  double budget_usd = 0;                    // 0: no cap
  nlohmann::json prices = nlohmann::json::object();  // model -> {input_per_mtok, output_per_mtok}
  std::string prompts_dir;                  // empty: the templates embedded in the binary
  std::string ca_file;                      // extra CA bundle for HTTPS (a private endpoint); empty: the system's
  int breaker_failures = 3;                 // consecutive failed requests that open the circuit breaker
  double breaker_cooldown_seconds = 60;     // how long LLM roles pause once it opens
  double retry_base_seconds = 1;            // first backoff; doubled each retry, with jitter
};

struct RoleSettings {
  std::string model;
  double temperature = 0.7;
  int max_tokens = 4096;
};

struct Price {
  double input_per_mtok = 0;
  double output_per_mtok = 0;
};

// The four roles' names, in the loop's order.
inline const char* const kRoles[] = {"researcher", "engineer", "analyst", "judge"};

// Checks roles and prices: unknown roles or fields, wrong types and a role
// without a model (none given and no llm.model) are errors naming the field.
Status check_config(const Config& c);
Status check_tables(const Config& c);  // roles and prices only (a config file's part)
RoleSettings role_settings(const Config& c, const std::string& role);  // after check_config
std::optional<Price> price_of(const Config& c, const std::string& model);

}  // namespace asiarch::agents::llm
