#include "agents/factory.h"

#include "agents/offline/design.h"

#include <cstdlib>

#include "agents/llm/roles.h"
#include "agents/offline/roles.h"

namespace asiarch::agents {
namespace {

using Client = std::shared_ptr<llm::Client>;

struct Backend {
  const char* name;
  std::unique_ptr<Researcher> (*researcher)(const Client&);
  std::unique_ptr<Engineer> (*engineer)(const Client&);
  std::unique_ptr<Analyst> (*analyst)(const Client&);
  std::unique_ptr<Judge> (*judge)(const Client&);
};

const Backend kBackends[] = {
    {"offline", [](const Client&) { return offline::make_researcher(); },
     [](const Client&) { return offline::make_engineer(); }, [](const Client&) { return offline::make_analyst(); },
     [](const Client&) { return offline::make_judge(); }},
    {"llm", [](const Client& c) { return llm::make_researcher(c); }, [](const Client& c) { return llm::make_engineer(c); },
     [](const Client& c) { return llm::make_analyst(c); }, [](const Client& c) { return llm::make_judge(c); }},
};

const Backend* find(const std::string& name) {
  for (const auto& b : kBackends)
    if (name == b.name) return &b;
  return nullptr;
}

}  // namespace

std::vector<std::string> known_backends() {
  std::vector<std::string> out;
  for (const auto& b : kBackends) out.emplace_back(b.name);
  return out;
}

Backends resolved(Backends b, const llm::Config& llm) {
  const std::string fallback = llm.url.empty() ? "offline" : "llm";
  for (std::string* r : {&b.researcher, &b.engineer, &b.analyst, &b.judge})
    if (r->empty()) *r = fallback;
  return b;
}

Result<Agents> make_agents(const Backends& given, const llm::Config& llm, llm::CallLog* calls) {
  const Backends backends = resolved(given, llm);
  const std::pair<const char*, const std::string*> roles[] = {{"researcher", &backends.researcher},
                                                              {"engineer", &backends.engineer},
                                                              {"analyst", &backends.analyst},
                                                              {"judge", &backends.judge}};
  bool any_llm = false;
  for (const auto& [role, name] : roles) {
    if (!find(*name)) {
      std::string known;
      for (const auto& k : known_backends()) known += (known.empty() ? "" : ", ") + k;
      return make_error("agents." + std::string(role) + ": unknown backend \"" + *name + "\"; known backends: " + known);
    }
    any_llm = any_llm || *name == "llm";
    if (*name == "llm" && llm.url.empty())
      return make_error("agents." + std::string(role) + " is \"llm\" but no endpoint is set: set llm.url (--llm-url)");
  }
  if (auto st = llm::check_config(llm); !st) return st.error();
  Agents a;
  a.backends = backends;
  if (any_llm) {
    const char* key = llm.api_key_env.empty() ? nullptr : std::getenv(llm.api_key_env.c_str());
    a.llm = std::make_shared<llm::Client>(llm, key ? key : "", calls);
  }
  a.researcher = find(backends.researcher)->researcher(a.llm);
  a.engineer = find(backends.engineer)->engineer(a.llm);
  a.analyst = find(backends.analyst)->analyst(a.llm);
  a.judge = find(backends.judge)->judge(a.llm);
  return a;
}

std::optional<KnownDesign> baseline_design(const std::string& name) {
  for (const auto& [n, d] : baseline_designs())
    if (n == name) return KnownDesign{to_json(d), canonical(d)};
  return std::nullopt;
}

}  // namespace asiarch::agents
