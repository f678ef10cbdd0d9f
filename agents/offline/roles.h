// The offline backend of the four roles: the gene-space Researcher, the
// fix-it and rule-based Engineer, the measured Judge and the effect-counting
// Analyst, behind the interfaces of agents/roles.h. No network, no model.
#pragma once

#include <memory>

#include "agents/roles.h"

namespace asiarch::agents::offline {

std::unique_ptr<Researcher> make_researcher();
std::unique_ptr<Engineer> make_engineer();
std::unique_ptr<Analyst> make_analyst();
std::unique_ptr<Judge> make_judge();

}  // namespace asiarch::agents::offline
