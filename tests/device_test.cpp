// Where models train (lab/device.h): the CPU, or a worker's GPU. The CUDA tests skip, saying so,
// where LibTorch has no CUDA or sees no device; the CPU-only build's refusals are checked here.
#include <gtest/gtest.h>

#include <torch/cuda.h>
#include <torch/version.h>

#include "cli_run.h"
#include "lab/device.h"
#include "lab/gates.h"
#include "lab/test_set.h"
#include "lab/train.h"
#include "small_model.h"
#include "test_mixers.h"

using namespace asiarch;
using namespace asiarch::lab;
using asiarch::testing::MeanMixer;

namespace {

TaskData recall_task() {
  return make_task("in_context_recall", {{"seq_len", 32}, {"train_examples", 256}, {"test_examples", 32}}, 1).value();
}

TrainConfig short_training() {
  TrainConfig c;
  c.steps = 30;
  c.batch_size = 16;
  c.threads = 1;
  c.log_points = 10;
  return c;
}

bool cuda_usable() { return torch_build().cuda && torch::cuda::is_available(); }

}  // namespace

TEST(Device, VersionSaysWhichLibTorchThisIsAndWhetherItCanTrainOnAGpu) {
  auto r = asiarch::testing::run_cli("--version");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find(std::string("LibTorch ") + TORCH_VERSION), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Clang 16."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(CUDA kernels)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CUDA driver"), std::string::npos) << r.output;
  if (torch_build().cuda) {
    EXPECT_NE(r.output.find(" with CUDA"), std::string::npos) << r.output;
  } else {
    EXPECT_NE(r.output.find("without CUDA (CPU only)"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Training on a GPU: no: this asiarch was built against LibTorch"), std::string::npos)
        << r.output;
  }
}

TEST(Device, AGpuAskedOfACpuOnlyLibTorchIsRefusedNamingIt) {
  auto cpu = training_device(false);
  ASSERT_TRUE(cpu);
  EXPECT_TRUE(cpu->is_cpu());
  if (torch_build().cuda) GTEST_SKIP() << "this LibTorch has CUDA: nothing to refuse";
  auto gpu = training_device(true);
  ASSERT_FALSE(gpu);
  EXPECT_NE(gpu.error().message.find(std::string("LibTorch ") + TORCH_VERSION + " without CUDA"), std::string::npos)
      << gpu.error().message;
}

// The same model and rows on the GPU train to the same curve as on the CPU (up to float
// reordering), the rows and batches follow the model there, the gates pass there, and the test
// logits come back to the CPU as float32.
TEST(Device, TrainsOnCudaAsOnTheCpu) {
  if (!cuda_usable()) GTEST_SKIP() << "no CUDA device (" << gpu_unusable() << ")";
  const auto t = recall_task();
  auto run = [&](torch::Device device) {
    LanguageModel m(asiarch::testing::small_model(t), asiarch::testing::make<MeanMixer>);
    m->to(device);
    auto r = train(m, t, short_training());
    EXPECT_EQ(device_of(*m), device);
    std::vector<torch::Tensor> blocks;
    predict(m, token_tensor(t.test, &Example::input), [&](int64_t, const torch::Tensor& logits) { blocks.push_back(logits); });
    return std::pair(r, blocks);
  };
  const auto [cpu, cpu_logits] = run(torch::kCPU);
  const auto [gpu, gpu_logits] = run(torch::Device(torch::kCUDA, 0));
  ASSERT_EQ(gpu.stop_reason, "completed");
  ASSERT_EQ(cpu.curve.size(), gpu.curve.size());
  ASSERT_FALSE(cpu.curve.empty());
  for (size_t i = 0; i < cpu.curve.size(); ++i)
    EXPECT_NEAR(gpu.curve[i].second, cpu.curve[i].second, 1e-3 * std::max(1.0, cpu.curve[i].second)) << "point " << i;
  ASSERT_EQ(cpu_logits.size(), gpu_logits.size());
  ASSERT_FALSE(gpu_logits.empty());
  for (size_t i = 0; i < gpu_logits.size(); ++i) {
    EXPECT_TRUE(gpu_logits[i].device().is_cpu());
    EXPECT_EQ(gpu_logits[i].scalar_type(), torch::kFloat);
    EXPECT_LT((gpu_logits[i] - cpu_logits[i]).abs().max().item<double>(), 1e-2);
  }
  GateConfig gc;
  gc.d_model = 32;
  gc.num_heads = 2;
  gc.lengths = {64, 128, 256};
  gc.device = torch::Device(torch::kCUDA, 0);
  const auto gates = run_gates(asiarch::testing::make<MeanMixer>, gc);
  ASSERT_FALSE(gates.empty());
  for (const auto& g : gates) EXPECT_TRUE(g.passed) << g.name << ": " << g.reason;
}
