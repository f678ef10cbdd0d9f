// The gates on the real baselines: softmax attention's peak memory grows as
// ~L^2 (it is the declared quadratic reference), DeltaNet's as ~L, and every
// baseline passes the gates that do not depend on timing.
#include <asiarch/plugin.h>

#include <gtest/gtest.h>

#include "gate_checks.h"
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

}  // namespace

TEST(BaselineGates, SoftmaxAttentionMeasuresQuadratic) {
  jit::PluginBuild b;
  auto gs = gates_for("softmax_attention", {1024, 2048, 4096}, &b);
  EXPECT_TRUE(b.declares_quadratic);
  const auto& g = asiarch::testing::gate(gs, "complexity");
  // Memory, not time: timings are too noisy here for an assertion.
  EXPECT_NEAR(asiarch::testing::memory_exponent(gs), 2.0, 0.25) << g.reason;
  // A declared reference passes whatever it measures, so this is no timing.
  EXPECT_TRUE(g.passed) << g.reason;
  EXPECT_NE(g.reason.find("declared quadratic reference"), std::string::npos);
  EXPECT_TRUE(asiarch::testing::all_but_complexity_passed(gs));
}

TEST(BaselineGates, DeltaNetMeasuresLinear) {
  jit::PluginBuild b;
  auto gs = gates_for("delta_net", {1024, 2048, 4096}, &b);
  EXPECT_FALSE(b.declares_quadratic);
  EXPECT_NEAR(asiarch::testing::memory_exponent(gs), 1.0, 0.15)
      << asiarch::testing::gate(gs, "complexity").reason;
  EXPECT_TRUE(asiarch::testing::all_but_complexity_passed(gs));
}

TEST(BaselineGates, EveryBaselinePassesItsGates) {
  // Softmax attention at the same lengths, for scale: the linear mixers'
  // memory must grow clearly slower than the quadratic reference's (~L^1.85
  // at these short lengths, where the linear terms still weigh in).
  const std::vector<int64_t> lengths = {256, 512, 1024};
  const double quadratic = asiarch::testing::memory_exponent(gates_for("softmax_attention", lengths));
  for (const auto& name : {"linear_attention", "gated_delta_net", "mamba2", "gated_delta_net_2", "kimi_delta_attention",
                            "gated_deltaproduct", "rwkv7", "mamba3"}) {
    auto gs = gates_for(name, lengths);
    EXPECT_TRUE(asiarch::testing::all_but_complexity_passed(gs)) << name;
    const double me = asiarch::testing::memory_exponent(gs);
    EXPECT_NEAR(me, 1.0, 0.15) << name << ": " << asiarch::testing::gate(gs, "complexity").reason;
    EXPECT_GT(quadratic - me, 0.5) << name << ": softmax attention's memory ~ L^" << quadratic;
  }
}
