// The offline Engineer: fix-its, repair rules, recorded attempts, diffs.
#include <gtest/gtest.h>

#include "agents/offline/engineer.h"
#include "jit_fixture.h"
#include "util/diff.h"

using namespace asiarch;

namespace {

agents::RepairResult run(const std::string& file, const std::string& text, int attempts = 4) {
  return agents::repair(file, text, [](const std::string& f, const std::string& t) {
    auto b = asiarch::testing::build(f, t);
    return agents::BuildOutcome{b.ok(), b.diagnostics};
  }, attempts);
}

}  // namespace

TEST(Engineer, RepairsWithClangFixItsAlone) {
  const std::string src = asiarch::testing::unique_tag() + R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig& c) { p = register_module("p", torch::nn::Linear(c.d_model, c.d_model)); }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = p(x) * 2
    return y + torch::zeroes_like(x);
  }
  torch::nn::Linear p{nullptr};
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto r = run("fixits.cpp", src);
  ASSERT_TRUE(r.ok) << r.gave_up;
  // Clang reports the typo only once the ';' is in place: two repairs.
  ASSERT_LE(r.attempts.size(), 3u);
  EXPECT_FALSE(r.attempts[0].outcome.ok);
  std::string diffs;
  for (size_t i = 1; i < r.attempts.size(); ++i) {
    EXPECT_EQ(r.attempts[i].method, "fix-it");
    EXPECT_FALSE(r.attempts[i].answered.empty());
    diffs += r.attempts[i].diff;
  }
  EXPECT_NE(diffs.find("+    auto y = p(x) * 2;"), std::string::npos) << diffs;
  EXPECT_NE(diffs.find("+    return y + torch::zeros_like(x);"), std::string::npos) << diffs;
  EXPECT_NE(r.final_source.find("auto y = p(x) * 2;"), std::string::npos);
  EXPECT_NE(r.final_source.find("torch::zeros_like(x)"), std::string::npos);
}

TEST(Engineer, RegistersAnUnregisteredMixer) {
  const std::string src = asiarch::testing::unique_tag() + R"(#include <asiarch/plugin.h>
class GatedMean : public asiarch::TokenMixer {
 public:
  explicit GatedMean(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
)";
  auto r = run("unregistered.cpp", src);
  ASSERT_TRUE(r.ok) << r.gave_up;
  EXPECT_EQ(r.attempts.back().method, "rule:register-mixer");
  EXPECT_NE(r.final_source.find("ASIARCH_REGISTER_MIXER(GatedMean, \"gated_mean\")"), std::string::npos);
}

TEST(Engineer, QualifiesTorchFunctionsAndFixesForwardSignature) {
  const std::string src = asiarch::testing::unique_tag() + R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(torch::Tensor x) override { return x * ones({1}) + zeros({1}); }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto r = run("rules.cpp", src, 5);
  ASSERT_TRUE(r.ok) << r.gave_up;
  std::vector<std::string> methods;
  for (const auto& a : r.attempts) methods.push_back(a.method);
  EXPECT_NE(std::find(methods.begin(), methods.end(), "rule:forward-signature"), methods.end());
  // ones({1}) has no tensor argument, so no argument-dependent lookup finds it.
  EXPECT_NE(std::find(methods.begin(), methods.end(), "rule:qualify-torch-function"), methods.end());
  EXPECT_NE(r.final_source.find("forward(const torch::Tensor& x) override { return x * torch::ones({1}) + torch::zeros({1}); }"),
            std::string::npos)
      << r.final_source;
}

TEST(Engineer, GivesUpWithAReason) {
  const std::string src = R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x * frobnicate_the_tensor; }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto r = run("hopeless.cpp", src);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts.size(), 1u);
  EXPECT_NE(r.gave_up.find("no fix-it or repair rule answers \"5:"), std::string::npos) << r.gave_up;
  EXPECT_NE(r.gave_up.find("frobnicate_the_tensor"), std::string::npos);
}

TEST(Engineer, AttemptLimit) {
  auto r = agents::repair("x.cpp", "text", [](const std::string&, const std::string& t) {
    agents::BuildOutcome o;
    auto d = jit::make_diagnostic(jit::Stage::compile, jit::Severity::error, "x.cpp", "expected ';'");
    d.line = 1;
    d.column = static_cast<int>(t.size()) + 1;
    d.fixits.push_back({1, d.column, 1, d.column, "!"});
    o.diagnostics.add(d);
    return o;  // never builds; each fix-it appends a character
  }, 3);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts[2].source, "text!!");
  EXPECT_EQ(r.gave_up, "still failing after 3 attempts");
}

TEST(Diff, UnifiedDiff) {
  EXPECT_EQ(unified_diff("a\nb\n", "a\nb\n", "f"), "");
  const std::string d = unified_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\nfive\n6\n7\n8\n9\n", "f.cpp");
  EXPECT_EQ(d, "--- a/f.cpp\n+++ b/f.cpp\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
  const std::string add = unified_diff("x\n", "#include <y>\nx\n", "g");
  EXPECT_EQ(add, "--- a/g\n+++ b/g\n@@ -1,1 +1,2 @@\n+#include <y>\n x\n");
}
