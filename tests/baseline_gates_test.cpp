// The gates on the real baselines: softmax attention measures ~2 (declared
// quadratic), DeltaNet ~1, and every baseline passes.
#include <asiarch/plugin.h>

#include <gtest/gtest.h>

#include "jit/mixer.h"
#include "jit_fixture.h"
#include "lab/gates.h"

using namespace asiarch;

namespace {

std::vector<lab::GateResult> gates_for(const std::string& name, std::vector<int64_t> lengths,
                                       jit::PluginBuild* keep = nullptr) {
  auto& env = asiarch::testing::jit_env();
  auto b = jit::build_plugin_file(*env.compiler, *env.session, env.cuda.get(),
                                  std::string(ASIARCH_SOURCE_DIR) + "/plugins/baselines/" + name + ".cpp");
  EXPECT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  lab::GateConfig c;
  c.d_model = 64;
  c.num_heads = 2;
  c.lengths = std::move(lengths);
  c.declared_quadratic = b.declares_quadratic;
  auto gs = lab::run_gates([&b](const MixerConfig& cfg) { return jit::instantiate(b, cfg); }, c);
  if (keep) *keep = b;
  return gs;
}

const lab::GateResult& complexity(const std::vector<lab::GateResult>& gs) {
  for (const auto& g : gs)
    if (g.name == "complexity") return g;
  throw std::runtime_error("no complexity gate");
}

}  // namespace

TEST(BaselineGates, SoftmaxAttentionMeasuresQuadratic) {
  jit::PluginBuild b;
  auto gs = gates_for("softmax_attention", {1024, 2048, 4096}, &b);
  EXPECT_TRUE(b.declares_quadratic);
  const auto& g = complexity(gs);
  // Memory, not time: timings are too noisy here for an assertion.
  EXPECT_NEAR(g.details["memory_exponent"].get<double>(), 2.0, 0.25) << g.reason;
  EXPECT_TRUE(g.passed) << g.reason;  // declared quadratic reference
  EXPECT_NE(g.reason.find("declared quadratic reference"), std::string::npos);
}

TEST(BaselineGates, DeltaNetMeasuresLinear) {
  jit::PluginBuild b;
  auto gs = gates_for("delta_net", {1024, 2048, 4096}, &b);
  EXPECT_FALSE(b.declares_quadratic);
  const auto& g = complexity(gs);
  EXPECT_NEAR(g.details["memory_exponent"].get<double>(), 1.0, 0.15) << g.reason;
  for (const auto& gate : gs) EXPECT_TRUE(gate.passed) << gate.name << ": " << gate.reason;
}

TEST(BaselineGates, EveryBaselinePassesItsGates) {
  for (const auto& name : {"linear_attention", "gated_delta_net", "mamba2"}) {
    auto gs = gates_for(name, {256, 512, 1024});
    for (const auto& g : gs) EXPECT_TRUE(g.passed) << name << " " << g.name << ": " << g.reason;
  }
}
