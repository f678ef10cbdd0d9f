// NVRTC: valid and broken kernels, log parsing, caching, and a plugin that
// carries kernel source. Skipped (with a message) where NVRTC is absent.
#include <asiarch/plugin.h>

#include <gtest/gtest.h>

#include "jit/mixer.h"
#include "jit_fixture.h"

using namespace asiarch;
using asiarch::testing::build;
using asiarch::testing::find_diag;
using asiarch::testing::jit_env;
using asiarch::testing::unique_tag;

#define REQUIRE_NVRTC()                                                              \
  if (!jit_env().cuda) GTEST_SKIP() << "built without CUDA/NVRTC: CUDA tests skipped"

static const char* kScaleKernel = R"(
extern "C" __global__ void scale(float* x, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= a;
}
)";

static bool acceptable_load_status(const std::string& s) {
  return s == "loaded" || s.rfind("compiled; not loadable: ", 0) == 0;
}

TEST(Nvrtc, ValidKernelGivesPtxAndCubin) {
  REQUIRE_NVRTC();
  auto b = jit_env().cuda->compile({"scale.cu", unique_tag() + kScaleKernel, "sm_90"});
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  EXPECT_FALSE(b.cache_hit);
  EXPECT_NE(b.ptx.find(".visible .entry scale"), std::string::npos);
  EXPECT_NE(b.ptx.find(".target sm_90"), std::string::npos);
  ASSERT_GE(b.cubin.size(), 4u);
  EXPECT_EQ(b.cubin.substr(0, 4), std::string("\x7f" "ELF"));
  EXPECT_TRUE(acceptable_load_status(b.load_status)) << b.load_status;
}

TEST(Nvrtc, SecondCompileIsACacheHit) {
  REQUIRE_NVRTC();
  const std::string src = unique_tag() + kScaleKernel;
  auto a = jit_env().cuda->compile({"scale.cu", src, "sm_90"});
  auto b = jit_env().cuda->compile({"scale.cu", src, "sm_90"});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(b.cache_hit);
  EXPECT_EQ(a.cubin, b.cubin);
  EXPECT_EQ(a.ptx, b.ptx);
}

TEST(Nvrtc, BrokenKernelDiagnosticsCarryLinesAndColumns) {
  REQUIRE_NVRTC();
  const std::string src = R"(extern "C" __global__ void bad(float* x) {
  int i = threadIdx.x;
  x[i] = undefined_thing * 2.0f;
  int unused = 3;
}
)";
  auto b = jit_env().cuda->compile({"bad.cu", src, "sm_90"});
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "identifier \"undefined_thing\" is undefined");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::cuda);
  EXPECT_EQ(d->severity, jit::Severity::error);
  EXPECT_EQ(d->file, "bad.cu");
  EXPECT_EQ(d->line, 3);
  EXPECT_EQ(d->column, 10);
  EXPECT_EQ(d->source_line, "  x[i] = undefined_thing * 2.0f;");
  EXPECT_TRUE(b.cubin.empty());
}

TEST(Nvrtc, BadArchitectureIsAnError) {
  REQUIRE_NVRTC();
  auto b = jit_env().cuda->compile({"scale.cu", unique_tag() + kScaleKernel, "compute_90"});
  ASSERT_FALSE(b.ok());
  EXPECT_NE(find_diag(b.diagnostics, "must look like sm_90"), nullptr);
}

TEST(Nvrtc, PluginWithCudaSourceFallsBackToTorch) {
  REQUIRE_NVRTC();
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
ASIARCH_CUDA_SOURCE(R"cuda(
extern "C" __global__ void double_it(float* x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) x[i] *= 2.0f;
}
)cuda")
class Doubler : public asiarch::TokenMixer {
 public:
  explicit Doubler(const asiarch::MixerConfig& cfg) : cuda_(cfg.cuda) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    if (cuda_ && x.is_cuda()) {
      auto y = x.contiguous().clone();
      float* p = y.data_ptr<float>();
      int n = static_cast<int>(y.numel());
      void* args[] = {&p, &n};
      unsigned grid[3] = {static_cast<unsigned>((n + 255) / 256), 1, 1}, block[3] = {256, 1, 1};
      const char* err = cuda_->launch(cuda_->context, "double_it", grid, block, 0, nullptr, args);
      TORCH_CHECK(err == nullptr, err);
      return y;
    }
    return x * 2;
  }
 private:
  const asiarch::CudaKernelTable* cuda_;
};
ASIARCH_REGISTER_MIXER(Doubler, "doubler")
)";
  auto b = build("doubler.cpp", src);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  ASSERT_TRUE(b.cuda.has_value());
  EXPECT_EQ(b.cuda->diagnostics.count(jit::Severity::error), 0);
  EXPECT_NE(b.cuda->ptx.find("double_it"), std::string::npos);
  EXPECT_TRUE(acceptable_load_status(b.cuda->load_status)) << b.cuda->load_status;
  auto m = jit::instantiate(b, {});
  EXPECT_TRUE(torch::equal(m->forward(torch::ones({1, 2, 64})), torch::full({1, 2, 64}, 2.0f)));
}

TEST(Nvrtc, PluginWithBrokenCudaSourceFailsWithCudaDiagnostics) {
  REQUIRE_NVRTC();
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
ASIARCH_CUDA_SOURCE(R"cuda(extern "C" __global__ void k(float* x) { x[0] = nope; })cuda")
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("broken_cuda.cpp", src);
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "identifier \"nope\" is undefined");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::cuda);
  EXPECT_EQ(d->line, 1);
}

TEST(NvrtcLog, ParsesErrorsWarningsAndCarets) {
  const std::string log =
      "k.cu(4): warning #177-D: variable \"y\" was declared but never referenced\n"
      "    int y = 0;\n"
      "        ^\n"
      "\n"
      "k.cu(5): error: identifier \"z\" is undefined\n"
      "  \tx[0] = z;\n"
      "  \t       ^\n"
      "\n"
      "Remark: The warnings can be suppressed with \"-diag-suppress <warning-number>\"\n"
      "\n"
      "k.cu(7): error: expected a \";\"\n"
      "    return\n"
      "          ^\n"
      "\n"
      "1 error detected in the compilation of \"k.cu\".\n";
  auto ds = jit::parse_nvrtc_log(log, "k.cu");
  ASSERT_EQ(ds.items.size(), 3u);
  EXPECT_EQ(ds.items[0].severity, jit::Severity::warning);
  EXPECT_EQ(ds.items[0].option, "177-D");
  EXPECT_EQ(ds.items[0].line, 4);
  EXPECT_EQ(ds.items[0].column, 7);
  EXPECT_EQ(ds.items[0].source_line, "  int y = 0;");
  EXPECT_EQ(ds.items[1].line, 5);
  EXPECT_EQ(ds.items[1].column, 9);  // tab counts as one column
  EXPECT_EQ(ds.items[1].source_line, "\tx[0] = z;");
  EXPECT_EQ(ds.items[2].severity, jit::Severity::error);
  EXPECT_EQ(ds.items[2].message, "expected a \";\"");
  EXPECT_EQ(ds.items[2].line, 7);
  EXPECT_EQ(ds.items[2].column, 9);
  EXPECT_EQ(ds.items[2].source_line, "  return");
}
