// What ABI 2 adds for the published designs: an auxiliary loss a mixer adds from forward() that
// reaches the optimiser (through sharded batches too), a public chunking helper for custom
// chunkwise rules, and a long causal filter with its own initialisation.
#include <gtest/gtest.h>

#include <asiarch/plugin.h>

#include "lab/model.h"
#include "lab/tasks.h"
#include "lab/train.h"
#include "small_model.h"
#include "test_mixers.h"

using namespace asiarch;
using namespace asiarch::lab;
using asiarch::testing::small_model;

namespace {

// Passes its input through a projection; `target` has no part in the output, so only the
// auxiliary term (target - 3)^2 can move it.
class AuxMixer : public asiarch::testing::MeanMixer {
 public:
  explicit AuxMixer(const MixerConfig& c, bool with_aux = true) : MeanMixer(c), with_aux_(with_aux) {
    target = register_parameter("target", torch::zeros({1}));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    if (with_aux_) add_aux_loss((target - 3.0).pow(2).sum());
    return MeanMixer::forward(x);
  }
  torch::Tensor target;

 private:
  bool with_aux_;
};

TaskData task() {
  return make_task("compression", {{"seq_len", 16}, {"train_examples", 256}, {"test_examples", 16}}, 1).value();
}

double trained_target(bool with_aux, int threads) {
  auto t = task();
  std::vector<std::shared_ptr<AuxMixer>> made;
  LanguageModel m(small_model(t), [&](const MixerConfig& c) {
    made.push_back(std::make_shared<AuxMixer>(c, with_aux));
    return made.back();
  });
  TrainConfig c;
  c.steps = 200;
  c.batch_size = 16;
  c.lr = 0.05;
  c.weight_decay = 0;
  c.threads = threads;
  c.log_points = 4;
  train(m, t, c);
  double sum = 0;
  for (const auto& mx : made) sum += mx->target.item<double>();
  return sum / static_cast<double>(made.size());
}

}  // namespace

TEST(AuxLoss, ReachesTheOptimiser) {
  // Without the term the parameter gets no gradient and stays where it started.
  EXPECT_EQ(trained_target(false, 1), 0.0);
  const double one = trained_target(true, 1);
  EXPECT_GT(one, 2.5) << "the auxiliary term did not pull the parameter towards 3";
  EXPECT_LT(one, 3.5);
  // With the batch in two shards on two threads, each shard's term counts half: the same pull.
  const double two = trained_target(true, 2);
  EXPECT_NEAR(two, one, 0.05);
}

TEST(AuxLoss, OnlyATrainingPassCollectsTerms) {
  auto t = task();
  LanguageModel m(small_model(t), [](const MixerConfig& c) { return std::make_shared<AuxMixer>(c); });
  auto x = torch::zeros({2, 16}, torch::kLong);
  for (int i = 0; i < 3; ++i) m->forward(x);  // evaluation and the gates: dropped
  auto pass = m->forward_with_aux(x);
  ASSERT_TRUE(pass.aux.defined());
  EXPECT_DOUBLE_EQ(pass.aux.item<double>(), 2 * 9.0);  // two layers, (0 - 3)^2 each, this pass only
  auto plain = LanguageModel(small_model(t), asiarch::testing::make<asiarch::testing::MeanMixer>)->forward_with_aux(x);
  EXPECT_FALSE(plain.aux.defined());
}

TEST(ChunkwiseScan, LinearAttentionWrittenPerChunkMatchesTheRecurrence) {
  torch::manual_seed(0);
  const int64_t B = 2, H = 3, L = 37, K = 8, V = 5;  // L not a multiple of the chunk
  auto q = torch::randn({B, H, L, K}), k = torch::randn({B, H, L, K}), v = torch::randn({B, H, L, V});
  const int64_t c = 8;
  auto mask = ops::causal_chunk_mask(c, q.options());
  torch::Tensor last;
  auto out = ops::chunkwise_scan(
      {q, k, v}, c, torch::zeros({B, H, K, V}),
      [&](int64_t, const std::vector<torch::Tensor>& ch, const torch::Tensor& S) {
        auto attn = torch::matmul(ch[0], ch[1].transpose(-1, -2)).masked_fill(mask.logical_not(), 0);
        auto o = torch::matmul(attn, ch[2]) + torch::matmul(ch[0], S);
        return ops::ChunkStep{o, S + torch::matmul(ch[1].transpose(-1, -2), ch[2])};
      },
      &last);
  EXPECT_EQ(out.sizes(), v.sizes());
  EXPECT_TRUE(torch::allclose(out, ops::linear_attention_recurrent(q, k, v), 1e-4, 1e-4));
  // The final state is the whole sequence's (the padding added zero keys).
  EXPECT_TRUE(torch::allclose(last, torch::matmul(k.transpose(-1, -2), v), 1e-4, 1e-4));
  EXPECT_THROW(ops::chunkwise_scan({q, k.narrow(2, 0, 5)}, c, {}, nullptr), c10::Error);
}

TEST(ChunkwiseScan, CausalChunkMask) {
  auto m = ops::causal_chunk_mask(3, torch::TensorOptions());
  EXPECT_TRUE(torch::equal(m, torch::tensor({1, 0, 0, 1, 1, 0, 1, 1, 1}).to(torch::kBool).view({3, 3})));
  auto strict = ops::causal_chunk_mask(3, torch::TensorOptions(), false);
  EXPECT_EQ(strict.sum().item<int64_t>(), 3);
  EXPECT_FALSE(strict[1][1].item<bool>());
}

TEST(LongCausalConv, CausalReachesKernelPositionsAndStartsNearIdentity) {
  torch::manual_seed(1);
  ops::LongCausalConv conv(4, 16);
  EXPECT_EQ(conv->weight.sizes(), (std::vector<int64_t>{4, 1, 16}));
  auto x = torch::randn({2, 50, 4});
  auto y = conv(x);
  EXPECT_EQ(y.sizes(), x.sizes());
  EXPECT_LT((y - x).abs().max().item<double>(), 0.5);  // the identity tap plus small, decaying ones
  // An impulse at t = 10 reaches positions 10..25 and nothing before or after.
  auto impulse = torch::zeros({1, 50, 4});
  impulse.index_put_({0, 10}, 1.0);
  auto r = conv(impulse).detach().abs().sum(-1).squeeze(0);
  EXPECT_EQ(r.narrow(0, 0, 10).sum().item<double>(), 0.0);
  EXPECT_GT(r[10].item<double>(), 0.0);
  EXPECT_GT(r[25].item<double>(), 0.0);
  EXPECT_EQ(r.narrow(0, 26, 24).sum().item<double>(), 0.0);
  // Gradients reach the taps.
  conv(x).sum().backward();
  EXPECT_GT(conv->weight.grad().abs().sum().item<double>(), 0.0);
}
