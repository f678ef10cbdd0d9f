// `asiarch compile` as a user runs it: exit status and messages, never a crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_run.h"

namespace {

using Run = asiarch::testing::CliRun;
Run run(const std::string& args) { return asiarch::testing::run_cli(args); }

std::string temp_file(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("asiarch-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = dir / name;
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

}  // namespace

TEST(CliCompile, ExamplePluginsSucceed) {
  auto r = run("compile " ASIARCH_SOURCE_DIR "/plugins/examples/short_conv_gate.cpp " ASIARCH_SOURCE_DIR
               "/plugins/examples/elu_linear_attention.cpp " ASIARCH_SOURCE_DIR "/plugins/examples/router_aux_loss.cpp");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mixer \"router_aux_loss\""), std::string::npos) << r.output;  // ABI 2's helpers
  EXPECT_NE(r.output.find("mixer \"short_conv_gate\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("forward [2, 16, 64] -> [2, 16, 64]"), std::string::npos) << r.output;
}

// The two published ASI-Arch designs ported to the ABI (docs/published-designs.md) build and
// register their names.
TEST(CliCompile, PublishedDesignsBuild) {
  auto r = run("compile " ASIARCH_SOURCE_DIR "/plugins/published/delta_net_htcg.cpp " ASIARCH_SOURCE_DIR
               "/plugins/published/delta_net_ahm_gate.cpp");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("mixer \"delta_net_htcg\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("mixer \"delta_net_ahm_gate\""), std::string::npos) << r.output;
}

TEST(CliCompile, JsonReport) {
  auto r = run("compile --json " ASIARCH_SOURCE_DIR "/plugins/examples/short_conv_gate.cpp");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_TRUE(j[0]["ok"].get<bool>());
  EXPECT_EQ(j[0]["mixer"], "short_conv_gate");
  EXPECT_EQ(j[0]["parameters"], 3 * 64 * 64 + 64 * 4);
  EXPECT_EQ(j[0]["output_shape"], (std::vector<int>{2, 16, 64}));
}

TEST(CliCompile, MissingFileFailsNamingIt) {
  auto r = run("compile /no/such/plugin.cpp");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("/no/such/plugin.cpp"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("No such file"), std::string::npos) << r.output;
}

TEST(CliCompile, OneBadFileFailsTheRunButOthersStillReport) {
  auto bad = temp_file("bad.cpp", "#include <asiarch/plugin.h>\nint x = ;\n");
  auto r = run("compile " + bad + " " ASIARCH_SOURCE_DIR "/plugins/examples/short_conv_gate.cpp");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find(bad + ":2:9: error: expected expression"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("short_conv_gate.cpp: ok"), std::string::npos) << r.output;
}

TEST(CliCompile, WrongShapeIsARuntimeError) {
  auto f = temp_file("shape.cpp", R"(#include <asiarch/plugin.h>
class Half : public asiarch::TokenMixer {
 public:
  explicit Half(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x.narrow(2, 0, 8); }
};
ASIARCH_REGISTER_MIXER(Half, "half")
)");
  auto r = run("compile " + f);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("forward returned shape [2, 16, 8] for input [2, 16, 64]"), std::string::npos) << r.output;
}

TEST(CliCompile, BrokenCudaFile) {
  auto f = temp_file("k.cu", "extern \"C\" __global__ void k(float* x) {\n  x[0] = y;\n}\n");
  auto r = run("compile " + f);
  EXPECT_EQ(r.status, 1);
  // Without NVRTC the message says so; with it, the error has its line.
  EXPECT_TRUE(r.output.find(f + ":2:10: error: identifier \"y\" is undefined") != std::string::npos ||
              r.output.find("built without CUDA") != std::string::npos)
      << r.output;
}

TEST(CliCompile, HelpExplainsItself) {
  auto r = run("--help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("compile"), std::string::npos);
  auto c = run("compile --help");
  EXPECT_EQ(c.status, 0);
  EXPECT_NE(c.output.find("--json"), std::string::npos);
  EXPECT_NE(c.output.find("parameter count"), std::string::npos);
}
