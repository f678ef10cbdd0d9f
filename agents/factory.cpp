#include "agents/factory.h"

#include "agents/offline/roles.h"

namespace asiarch::agents {
namespace {

struct Backend {
  const char* name;
  std::unique_ptr<Researcher> (*researcher)();
  std::unique_ptr<Engineer> (*engineer)();
  std::unique_ptr<Analyst> (*analyst)();
  std::unique_ptr<Judge> (*judge)();
};

const Backend kBackends[] = {
    {"offline", offline::make_researcher, offline::make_engineer, offline::make_analyst, offline::make_judge},
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

Result<Agents> make_agents(const Backends& backends) {
  const std::pair<const char*, const std::string*> roles[] = {{"researcher", &backends.researcher},
                                                              {"engineer", &backends.engineer},
                                                              {"analyst", &backends.analyst},
                                                              {"judge", &backends.judge}};
  for (const auto& [role, name] : roles)
    if (!find(*name)) {
      std::string known;
      for (const auto& k : known_backends()) known += (known.empty() ? "" : ", ") + k;
      return make_error("agents." + std::string(role) + ": unknown backend \"" + *name + "\"; known backends: " + known);
    }
  Agents a;
  a.researcher = find(backends.researcher)->researcher();
  a.engineer = find(backends.engineer)->engineer();
  a.analyst = find(backends.analyst)->analyst();
  a.judge = find(backends.judge)->judge();
  return a;
}

}  // namespace asiarch::agents
