// `asiarch eval` and `asiarch baselines` as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_run.h"
#include "tests/padded_mixer.h"

namespace {

using Run = asiarch::testing::CliRun;
Run run(const std::string& args) { return asiarch::testing::run_cli(args); }

std::string temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("asiarch-cli-eval-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string temp_file(const std::string& name, const std::string& text) {
  auto path = std::filesystem::path(temp_dir()) / name;
  std::ofstream(path) << text;
  return path.string();
}

const std::string kBaselines = ASIARCH_SOURCE_DIR "/plugins/baselines/";

}  // namespace

TEST(CliEval, SmokeEvaluationPrintsGatesAndTasks) {
  auto r = run("eval " + kBaselines + "delta_net.cpp --preset smoke --tasks in_context_recall,byte_lm --quiet "
               "--workdir " + temp_dir());
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* gate : {"shape_dtype", "finite", "causality", "batch_independence", "complexity", "parameter_budget"})
    EXPECT_NE(r.output.find(gate), std::string::npos) << gate;
  EXPECT_NE(r.output.find("in_context_recall        accuracy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("byte_lm                  bits_per_byte"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tokens/s"), std::string::npos);
}

TEST(CliEval, JsonReport) {
  auto r = run("eval " + kBaselines + "linear_attention.cpp --preset smoke --tasks compression --json --workdir " + temp_dir());
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["report"]["mixer"], "linear_attention");
  ASSERT_EQ(j["report"]["tasks"].size(), 1u);
  EXPECT_EQ(j["report"]["tasks"][0]["task"], "compression");
  EXPECT_EQ(j["report"]["tasks"][0]["stop_reason"], "completed");
}

TEST(CliEval, UnknownTaskListsTheValidOnes) {
  auto r = run("eval " + kBaselines + "delta_net.cpp --preset smoke --tasks recal");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("unknown task \"recal\" for preset smoke; valid tasks:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("in_context_recall"), std::string::npos);
}

TEST(CliEval, UnknownPresetListsTheValidOnes) {
  auto r = run("eval " + kBaselines + "delta_net.cpp --preset quick");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("unknown preset \"quick\"; valid presets: explore, first, first-hybrid, smoke, verify"), std::string::npos)
      << r.output;
}

TEST(CliEval, MixerReadingTheFutureFailsItsGateAndIsNotTrained) {
  auto f = temp_file("peek.cpp", R"(#include <asiarch/plugin.h>
class Peek : public asiarch::TokenMixer {
 public:
  explicit Peek(const asiarch::MixerConfig& c) { p = register_module("p", torch::nn::Linear(c.d_model, c.d_model)); }
  torch::Tensor forward(const torch::Tensor& x) override { return p(x.flip(1)); }
  torch::nn::Linear p{nullptr};
};
ASIARCH_REGISTER_MIXER(Peek, "peek")
)");
  auto r = run("eval " + f + " --preset smoke --quiet");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("causality            FAIL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("reads the future"), std::string::npos);
  EXPECT_NE(r.output.find("gates failed: not trained"), std::string::npos);
}

// Honest for the gates, then reading the future: caught on the trained model, so the verdict is
// "not sound" and the exit status says so, in both output modes.
TEST(CliEval, AMixerCaughtOnTheTrainedModelIsNotReportedAsSound) {
  auto ref = run("eval " + kBaselines + "delta_net.cpp --preset smoke --tasks compression --json --workdir " + temp_dir());
  ASSERT_EQ(ref.status, 0) << ref.output;
  const auto params = nlohmann::json::parse(ref.output)["report"]["mixer_parameters"].get<int64_t>();
  auto f = temp_file("late.cpp", asiarch::testing::padded_mixer("Late", R"cpp(
    if (++calls_ < 60) return causal;
    return causal + 0.5 * proj_(x).flip(1).cumsum(1).flip(1) / x.size(1);)cpp", "int calls_ = 0;"));
  const std::string args = "eval " + f + " --preset smoke --tasks compression --options params=" + std::to_string(params) +
                           " --workdir " + temp_dir();
  auto j = run(args + " --json");
  EXPECT_EQ(j.status, 1) << j.output;
  auto report = nlohmann::json::parse(j.output, nullptr, false);
  ASSERT_TRUE(report.is_object()) << j.output;
  EXPECT_TRUE(report["report"]["gates_passed"].get<bool>());  // honest while the gates looked
  EXPECT_FALSE(report["ok"].get<bool>());
  EXPECT_NE(report["probe_failure"].get<std::string>().find("compression: "), std::string::npos) << j.output;
  auto t = run(args + " --quiet");
  EXPECT_EQ(t.status, 1);
  EXPECT_NE(t.output.find("NOT SOUND: the trained model failed a probe"), std::string::npos) << t.output;
}

// A run whose loss went non-finite once, with a model that is sound again by the test: scored as
// the worst the task allows, its stop reason saying it diverged, never from the state it had
// reached (the host once scored such a run's test predictions as if it had completed).
TEST(CliEval, ADivergedRunIsScoredAsTheWorstNotFromItsLastState) {
  auto ref = run("eval " + kBaselines + "delta_net.cpp --preset smoke --tasks compression --json --workdir " + temp_dir());
  ASSERT_EQ(ref.status, 0) << ref.output;
  const auto params = nlohmann::json::parse(ref.output)["report"]["mixer_parameters"].get<int64_t>();
  // The smoke preset trained 150 steps, so the spike (calls 100 and 101 of each layer's mixer,
  // past what the gates make of one) falls inside training.
  auto presets = nlohmann::json::parse(std::ifstream(ASIARCH_SOURCE_DIR "/lab/presets.json"));
  presets["smoke"]["train"]["steps"] = 150;
  const auto presets_file = temp_file("spike-presets.json", presets.dump());
  auto f = temp_file("spike.cpp", asiarch::testing::padded_mixer("Spike", R"cpp(
    ++calls_;
    if (calls_ >= 100 && calls_ < 102) return causal * std::nan("");
    return causal;)cpp", "int calls_ = 0;"));
  auto j = run("eval " + f + " --preset smoke --presets " + presets_file + " --tasks compression --options params=" +
               std::to_string(params) + " --json --workdir " + temp_dir());
  auto report = nlohmann::json::parse(j.output, nullptr, false);
  ASSERT_TRUE(report.is_object()) << j.output;
  ASSERT_TRUE(report["report"]["gates_passed"].get<bool>()) << j.output;
  ASSERT_EQ(report["report"]["tasks"].size(), 1u);
  const auto& t = report["report"]["tasks"][0];
  EXPECT_EQ(t["stop_reason"].get<std::string>().rfind("loss became NaN at step ", 0), 0u) << t.dump();
  EXPECT_EQ(t["metric"].get<double>(), 0.0) << t.dump();
}

TEST(CliEval, ThrowingMixerIsAFailedGateNotACrash) {
  auto f = temp_file("throw.cpp", R"(#include <asiarch/plugin.h>
class T : public asiarch::TokenMixer {
 public:
  explicit T(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { TORCH_CHECK(x.size(1) < 0, "refusing to mix"); return x; }
};
ASIARCH_REGISTER_MIXER(T, "t")
)");
  auto r = run("eval " + f + " --preset smoke --quiet");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("plugin threw: refusing to mix"), std::string::npos) << r.output;
}

TEST(CliEval, BuildFailureShowsDiagnostics) {
  auto f = temp_file("broken.cpp", "#include <asiarch/plugin.h>\nint x = ;\n");
  auto r = run("eval " + f + " --preset smoke");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("build failed"), std::string::npos);
  EXPECT_NE(r.output.find(":2:9: error: expected expression"), std::string::npos) << r.output;
}

TEST(CliBaselines, StoresTheTableAndReusesIt) {
  const std::string dir = temp_dir() + "/work";
  auto first = run("baselines --preset smoke --tasks compression --workdir " + dir);
  ASSERT_EQ(first.status, 0) << first.output;
  for (const char* m : {"delta_net", "gated_delta_net", "linear_attention", "mamba2", "softmax_attention",
                        "gated_delta_net_2", "kimi_delta_attention", "gated_deltaproduct", "rwkv7", "mamba3"})
    EXPECT_NE(first.output.find(std::string("\n") + m + " "), std::string::npos) << m;
  EXPECT_TRUE(std::filesystem::exists(dir + "/baselines/smoke.json"));
  auto second = run("baselines --preset smoke --tasks compression --workdir " + dir);
  ASSERT_EQ(second.status, 0);
  EXPECT_NE(second.output.find("delta_net: stored result reused"), std::string::npos) << second.output;
  EXPECT_EQ(second.output.find("evaluating"), std::string::npos) << second.output;
}

// An endless loop in forward ends at the gates' time limit, in seconds, with the stage named
// (it used to keep `asiarch eval` busy until its 24-hour default).
TEST(CliEval, AnEndlessForwardEndsAtTheGatesLimitWithTheStageNamed) {
  const std::string file = temp_file("spin.cpp", R"cpp(
#include <asiarch/plugin.h>
class Spin : public asiarch::TokenMixer {
 public:
  explicit Spin(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    volatile bool spin = true;
    while (spin) {
    }
    return x;
  }
};
ASIARCH_REGISTER_MIXER(Spin, "spin")
)cpp");
  auto r = run("eval " + file + " --preset smoke --tasks compression --gate-timeout 5 --workdir " + temp_dir());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("stage \"gates\" ran over its time limit of 5 s"), std::string::npos) << r.output;
}
