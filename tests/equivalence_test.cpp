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

// The diagonal-plus-low-rank transition, as the 2025-26 baselines use it: per-channel decays,
// erase vectors that are not the keys (RWKV-7's a o kappa, Gated DeltaNet-2's gated keys), at
// lengths that are and are not multiples of the chunk, and chunk sizes 16 and 32.
TEST(Equivalence, DiagonalPlusLowRankOps) {
  const int64_t B = 2, H = 2, K = 12, V = 20;
  int checked = 0;
  for (int64_t L : {1, 17, 64, 100}) {
    for (int64_t chunk : {16, 32}) {
      torch::manual_seed(L * 100 + chunk);
      auto kappa = ops::l2_normalize(torch::randn({B, H, L, K}));
      auto gate = torch::sigmoid(torch::randn({B, H, L, K}));
      std::vector<torch::Tensor> base = {
          ops::l2_normalize(torch::randn({B, H, L, K})) / 2,               // q
          ops::l2_normalize(torch::randn({B, H, L, K})),                   // k
          torch::randn({B, H, L, V}),                                      // v
          -kappa,                                                          // a
          gate * kappa,                                                    // b
          -torch::softplus(torch::randn({B, H, L, K})) * 0.5};            // g, per channel
      std::vector<torch::Tensor> x, y;
      for (const auto& t : base) {
        x.push_back(t.clone().requires_grad_());
        y.push_back(t.clone().requires_grad_());
      }
      auto yc = ops::dplr_chunkwise(x[0], x[1], x[2], x[3], x[4], x[5], chunk);
      auto yr = ops::dplr_recurrent(y[0], y[1], y[2], y[3], y[4], y[5]);
      const std::string what = "L=" + std::to_string(L) + " chunk=" + std::to_string(chunk);
      expect_close(yc, yr, "dplr output, " + what);
      auto w = torch::randn_like(yc);
      (yc * w).sum().backward();
      (yr * w).sum().backward();
      const char* names[] = {"q", "k", "v", "a", "b", "g"};
      for (size_t i = 0; i < x.size(); ++i) {
        ASSERT_TRUE(x[i].grad().defined() && y[i].grad().defined()) << names[i];
        expect_close(x[i].grad(), y[i].grad(), std::string("dplr grad ") + names[i] + ", " + what);
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * 2 * 6);
}

// With a = -beta k, b = k o exp(g) and a scalar decay, the DPLR ops are the gated delta rule.
TEST(Equivalence, DiagonalPlusLowRankIsTheGatedDeltaRule) {
  Inputs in = random_inputs(45, 9);
  const int64_t K = in.k.size(3);
  auto g = in.g.unsqueeze(-1).expand({-1, -1, -1, K});
  auto beta = in.beta.unsqueeze(-1);
  auto y = ops::dplr_chunkwise(in.q, in.k, in.v * beta, -beta * in.k, in.k * g.exp(), g, 16);
  expect_close(y, ops::delta_rule_recurrent(in.q, in.k, in.v, in.beta, in.g), "dplr as gated delta rule");
}

TEST(Equivalence, DiagonalPlusLowRankStrongDecayDoesNotOverflow) {
  torch::manual_seed(2);
  const int64_t B = 1, H = 2, L = 70, K = 8, V = 8;
  auto k = ops::l2_normalize(torch::randn({B, H, L, K}));
  auto q = ops::l2_normalize(torch::randn({B, H, L, K}));
  auto v = torch::randn({B, H, L, V});
  auto g = torch::full({B, H, L, K}, -30.0);
  auto y = ops::dplr_chunkwise(q, k, v, -k, k * g.exp(), g, 32);
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  expect_close(y, ops::dplr_recurrent(q, k, v, -k, k * g.exp(), g), "dplr strong decay");
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
  // Two lengths: one shorter than a chunk of the default size, one that is not a multiple of it.
  for (int64_t L : {13, 77}) {
    const std::string at = GetParam() + " (L=" + std::to_string(L) + ")";
    auto chunk = make("form=chunk,chunk=32"), rec = make("form=recurrent");
    torch::manual_seed(4);
    auto x = torch::randn({2, L, 48});
    auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
    auto ya = chunk->forward(xa), yb = rec->forward(xb);
    // Plain linear attention accumulates without bound: its projection
    // gradients reach ~90, and their small elements are differences of large
    // sums, so they carry rounding (~2.5e-4) of the large terms' size, not of
    // their own. The delta rules (bounded state) and the decayed mixers meet kTight.
    const Tolerance t = GetParam() == "linear_attention" ? Tolerance{2e-3, 1e-5} : kTight;
    expect_close(ya, yb, at + " output", t);
    auto w = torch::randn_like(ya);
    (ya * w).sum().backward();
    (yb * w).sum().backward();
    expect_close(xa.grad(), xb.grad(), at + " input grad", t);
    auto pa = chunk->named_parameters(), pb = rec->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    ASSERT_GT(pa.size(), 0u);
    for (const auto& p : pa) expect_close(p.value().grad(), pb[p.key()].grad(), at + " grad of " + p.key(), t);
  }
}

INSTANTIATE_TEST_SUITE_P(Baselines, PluginEquivalence,
                         ::testing::Values("delta_net", "gated_delta_net", "linear_attention", "mamba2",
                                           "gated_delta_net_2", "kimi_delta_attention", "gated_deltaproduct",
                                           "rwkv7", "mamba3"));
