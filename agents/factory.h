// Makes the four roles from the configuration: `"agents": {"researcher":
// "offline", ...}`. Adding a backend is a folder beside agents/offline/ and
// one line in kBackends (agents/factory.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agents/roles.h"
#include "util/result.h"

namespace asiarch::agents {

// Which backend plays each role.
struct Backends {
  std::string researcher = "offline";
  std::string engineer = "offline";
  std::string analyst = "offline";
  std::string judge = "offline";
};

struct Agents {
  std::unique_ptr<Researcher> researcher;
  std::unique_ptr<Engineer> engineer;
  std::unique_ptr<Analyst> analyst;
  std::unique_ptr<Judge> judge;
};

// An unknown backend is an error naming the role and listing the known ones.
Result<Agents> make_agents(const Backends& backends);
std::vector<std::string> known_backends();

}  // namespace asiarch::agents
