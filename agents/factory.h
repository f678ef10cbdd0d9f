// Makes the four roles from the configuration: `"agents": {"researcher":
// "offline", ...}`. Adding a backend is a folder beside agents/offline/ and
// one line in kBackends (agents/factory.cpp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agents/llm/client.h"
#include "agents/llm/config.h"
#include "agents/roles.h"
#include "util/result.h"

namespace asiarch::agents {

// Which backend plays each role: "offline" or "llm"; empty: llm when an
// endpoint is configured (llm.url), else offline.
struct Backends {
  std::string researcher;
  std::string engineer;
  std::string analyst;
  std::string judge;
};

struct Agents {
  std::unique_ptr<Researcher> researcher;
  std::unique_ptr<Engineer> engineer;
  std::unique_ptr<Analyst> analyst;
  std::unique_ptr<Judge> judge;
  std::shared_ptr<llm::Client> llm;  // shared by the LLM roles; null when none plays
  Backends backends;                 // as resolved
};

// An unknown backend is an error naming the role and listing the known ones; an
// LLM role without llm.url, or a bad llm section, is an error naming the field.
// The API key is read from the variable llm.api_key_env names, here and nowhere else.
Result<Agents> make_agents(const Backends& backends, const llm::Config& llm = {}, llm::CallLog* calls = nullptr);
Backends resolved(Backends backends, const llm::Config& llm);
std::vector<std::string> known_backends();

// A baseline as the offline design space knows it (its genes as JSON and their canonical form), so
// the offline Researcher can recombine it; none for a name outside that space. The engine seeds
// baselines through this and needs no backend's header.
struct KnownDesign {
  nlohmann::json design;
  std::string canonical;
};
std::optional<KnownDesign> baseline_design(const std::string& name);

}  // namespace asiarch::agents
