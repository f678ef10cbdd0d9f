// Checks on gate results that do not depend on timing. The complexity gate
// passes or fails on a fitted time exponent as well as a memory one, and CPU
// time on a shared two-core machine is too noisy to assert on; tests assert
// the other gates and the memory exponent (the allocator's peak bytes, which
// do not vary from run to run) instead.
#pragma once

#include <gtest/gtest.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "lab/gates.h"

namespace asiarch::testing {

inline const lab::GateResult& gate(const std::vector<lab::GateResult>& gs, const std::string& name) {
  for (const auto& g : gs)
    if (g.name == name) return g;
  throw std::runtime_error("no gate " + name);
}

// Every gate ran, and every one but complexity passed.
inline ::testing::AssertionResult all_but_complexity_passed(const std::vector<lab::GateResult>& gs) {
  std::string missing, failed;
  for (const char* name : {"shape_dtype", "finite", "causality", "batch_independence", "complexity", "parameter_budget"}) {
    bool found = false;
    for (const auto& g : gs) found = found || g.name == name;
    if (!found) missing += std::string(" ") + name;
  }
  for (const auto& g : gs)
    if (g.name != "complexity" && !g.passed) failed += "\n  " + g.name + ": " + g.reason;
  if (missing.empty() && failed.empty()) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure();
  if (!missing.empty()) r << "gates missing:" << missing;
  if (!failed.empty()) r << "gates failed:" << failed;
  return r;
}

// The complexity gate's fitted exponent of peak memory in sequence length;
// NaN (which fails any comparison) when the gate did not measure it.
inline double memory_exponent(const std::vector<lab::GateResult>& gs) {
  for (const auto& g : gs)
    if (g.name == "complexity") {
      if (g.details.contains("memory_exponent")) return g.details["memory_exponent"].get<double>();
      ADD_FAILURE() << "complexity gate has no memory exponent: " << g.reason;
      return std::numeric_limits<double>::quiet_NaN();
    }
  ADD_FAILURE() << "no complexity gate";
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace asiarch::testing
