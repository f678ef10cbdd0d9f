// Chunkwise forms equal their plain recurrences (fp32, every element within
// 1e-4 + 1e-5 of its size), outputs and gradients: at the level of the ops
// and of the JIT-compiled baselines.
#include <asiarch/plugin.h>

#include <gtest/gtest.h>

#include "close.h"
#include "jit/mixer.h"
#include "jit_fixture.h"

using namespace asiarch;
namespace ops = asiarch::ops;

namespace {

struct Inputs {
  torch::Tensor q, k, v, beta, g;
  std::vector<torch::Tensor> all() const { return {q, k, v, beta, g}; }
};

Inputs random_inputs(int64_t L, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t B = 2, H = 3, K = 16, V = 24;
  Inputs in;
  in.q = (ops::l2_normalize(torch::randn({B, H, L, K})) / 4).requires_grad_();
  in.k = ops::l2_normalize(torch::randn({B, H, L, K})).requires_grad_();
  in.v = torch::randn({B, H, L, V}).requires_grad_();
  in.beta = torch::sigmoid(torch::randn({B, H, L})).requires_grad_();
  in.g = (-torch::softplus(torch::randn({B, H, L})) * 0.3).requires_grad_();
  return in;
}

// Per element, |a - b| <= atol + rtol * |b|. The current kernels stay within
// a quarter of kTight's bound, so it has room for rounding, not for a bug.
struct Tolerance {
  double atol, rtol;
};
constexpr Tolerance kTight{1e-4, 1e-5};

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, Tolerance t = kTight) {
  EXPECT_TRUE(asiarch::testing::elementwise_close(a, b, t.atol, t.rtol)) << what;
}

using Op = std::function<torch::Tensor(const Inputs&, bool chunk)>;

void check_op(const Op& op, const std::string& name) {
  for (int64_t L : {1, 31, 64, 100, 200}) {
    Inputs a = random_inputs(L, 11), b = random_inputs(L, 11);
    auto ya = op(a, true), yb = op(b, false);
    expect_close(ya, yb, name + " output, L=" + std::to_string(L));
    auto w = torch::randn_like(ya);
    (ya * w).sum().backward();
    (yb * w).sum().backward();
    const char* names[] = {"q", "k", "v", "beta", "g"};
    for (size_t i = 0; i < 5; ++i) {
      auto ga = a.all()[i].grad(), gb = b.all()[i].grad();
      if (!ga.defined() && !gb.defined()) continue;
      ASSERT_TRUE(ga.defined() && gb.defined()) << name << " grad " << names[i];
      expect_close(ga, gb, name + " grad " + names[i] + ", L=" + std::to_string(L));
    }
  }
}

}  // namespace

TEST(Equivalence, DeltaRuleOps) {
  check_op([](const Inputs& in, bool chunk) {
    return chunk ? ops::delta_rule_chunkwise(in.q, in.k, in.v, in.beta, {}, 32)
                 : ops::delta_rule_recurrent(in.q, in.k, in.v, in.beta);
  }, "delta rule");
}

// The native kernel behind the ungated chunkwise op against the same
// chunkwise form written as LibTorch ops: odd lengths, chunk sizes, K != V,
// a non-contiguous q (as split_heads gives).
TEST(Equivalence, NativeDeltaRuleEqualsComposite) {
  struct Case { int64_t B, H, L, K, V, chunk; };
  for (const Case& c : {Case{2, 3, 200, 32, 32, 64}, Case{1, 2, 77, 16, 24, 16}, Case{2, 1, 5, 8, 40, 64},
                        Case{1, 1, 129, 64, 16, 32}}) {
    const std::string what = "L=" + std::to_string(c.L) + " K=" + std::to_string(c.K) + " V=" + std::to_string(c.V) +
                             " chunk=" + std::to_string(c.chunk);
    torch::manual_seed(c.L);
    auto q0 = ops::l2_normalize(torch::randn({c.B, c.L, c.H, c.K})).transpose(1, 2);
    auto k0 = ops::l2_normalize(torch::randn({c.B, c.H, c.L, c.K}));
    auto v0 = torch::randn({c.B, c.H, c.L, c.V});
    auto b0 = torch::sigmoid(torch::randn({c.B, c.H, c.L}));
    std::vector<torch::Tensor> a, b;
    for (const auto& t : {q0, k0, v0, b0}) {
      a.push_back(t.clone().requires_grad_());
      b.push_back(t.clone().requires_grad_());
    }
    auto ya = ops::delta_rule_chunkwise(a[0].transpose(1, 2).transpose(1, 2), a[1], a[2], a[3], {}, c.chunk);
    auto yb = ops::detail::delta_rule_chunkwise_composite(b[0], b[1], b[2], b[3], {}, c.chunk);
    expect_close(ya, yb, "output, " + what);
    auto w = torch::randn_like(ya);
    (ya * w).sum().backward();
    (yb * w).sum().backward();
    const char* names[] = {"q", "k", "v", "beta"};
    for (size_t i = 0; i < 4; ++i) expect_close(a[i].grad(), b[i].grad(), std::string("grad ") + names[i] + ", " + what);
  }
}

TEST(Equivalence, GatedDeltaRuleOps) {
  check_op([](const Inputs& in, bool chunk) {
    return chunk ? ops::delta_rule_chunkwise(in.q, in.k, in.v, in.beta, in.g, 32)
                 : ops::delta_rule_recurrent(in.q, in.k, in.v, in.beta, in.g);
  }, "gated delta rule");
}

TEST(Equivalence, LinearAttentionOps) {
  check_op([](const Inputs& in, bool chunk) {
    return chunk ? ops::linear_attention_chunkwise(in.q, in.k, in.v, {}, 32)
                 : ops::linear_attention_recurrent(in.q, in.k, in.v);
  }, "linear attention");
  check_op([](const Inputs& in, bool chunk) {
    return chunk ? ops::linear_attention_chunkwise(in.q, in.k, in.v, in.g, 32)
                 : ops::linear_attention_recurrent(in.q, in.k, in.v, in.g);
  }, "decayed linear attention");
}

TEST(Equivalence, StrongDecayDoesNotOverflow) {
  Inputs in = random_inputs(128, 5);
  auto g = torch::full_like(in.g, -30.0);  // exp(G_i - G_j) for i < j would overflow
  auto y = ops::delta_rule_chunkwise(in.q, in.k, in.v, in.beta, g, 64);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  expect_close(y, ops::delta_rule_recurrent(in.q, in.k, in.v, in.beta, g), "strong decay");
}

// The baseline plugins, compiled by the JIT, in both forms from the same seed.
class PluginEquivalence : public ::testing::TestWithParam<std::string> {};

TEST_P(PluginEquivalence, ChunkwiseEqualsRecurrent) {
  const std::string file = std::string(ASIARCH_SOURCE_DIR) + "/plugins/baselines/" + GetParam() + ".cpp";
  auto& env = asiarch::testing::jit_env();
  auto b = jit::build_plugin_file(*env.compiler, *env.session, env.cuda.get(), file);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  auto make = [&](const char* options) {
    MixerConfig cfg;
    cfg.d_model = 48;
    cfg.num_heads = 3;
    cfg.options = options;
    torch::manual_seed(3);
    return jit::instantiate(b, cfg);
  };
  auto chunk = make("form=chunk,chunk=32"), rec = make("form=recurrent");
  torch::manual_seed(4);
  auto x = torch::randn({2, 77, 48});
  auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
  auto ya = chunk->forward(xa), yb = rec->forward(xb);
  // Plain linear attention accumulates without bound: its projection
  // gradients reach ~90, and their small elements are differences of large
  // sums, so they carry rounding (~2.5e-4) of the large terms' size, not of
  // their own. The delta rules (bounded state) and mamba2 (decayed) meet kTight.
  const Tolerance t = GetParam() == "linear_attention" ? Tolerance{2e-3, 1e-5} : kTight;
  expect_close(ya, yb, GetParam() + " output", t);
  auto w = torch::randn_like(ya);
  (ya * w).sum().backward();
  (yb * w).sum().backward();
  expect_close(xa.grad(), xb.grad(), GetParam() + " input grad", t);
  auto pa = chunk->named_parameters(), pb = rec->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa)
    expect_close(p.value().grad(), pb[p.key()].grad(), GetParam() + " grad of " + p.key(), t);
}

INSTANTIATE_TEST_SUITE_P(Baselines, PluginEquivalence,
                         ::testing::Values("delta_net", "gated_delta_net", "linear_attention", "mamba2"));
