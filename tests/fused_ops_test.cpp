// The fused native forms of RMSNorm, L2 normalisation, SwiGLU and the short
// convolution equal the same ops written with LibTorch, outputs and
// gradients, including non-contiguous inputs and odd sizes.
#include <asiarch/ops.h>

#include <gtest/gtest.h>

#include "close.h"

namespace ops = asiarch::ops;

namespace {

// Per element, |a - b| <= atol + rtol * |b|; fused and composite forms
// round differently, and by little.
void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, double atol = 1e-5,
                  double rtol = 1e-5) {
  EXPECT_TRUE(asiarch::testing::elementwise_close(a, b, atol, rtol)) << what;
}

// Runs f on native (float) copies and reference on the same values, then
// compares the outputs and the gradients of every input.
void compare(const std::vector<torch::Tensor>& inputs,
             const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& native,
             const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& reference, const std::string& what) {
  std::vector<torch::Tensor> a, b;
  for (const auto& t : inputs) {
    a.push_back(t.clone().requires_grad_());
    b.push_back(t.clone().requires_grad_());
  }
  auto ya = native(a), yb = reference(b);
  expect_close(ya, yb, what + " output");
  auto w = torch::randn_like(ya);
  (ya * w).sum().backward();
  (yb * w).sum().backward();
  for (size_t i = 0; i < a.size(); ++i) expect_close(a[i].grad(), b[i].grad(), what + " grad " + std::to_string(i));
}

}  // namespace

TEST(FusedOps, RmsNormEqualsComposite) {
  torch::manual_seed(1);
  for (int64_t D : {1, 7, 32, 100}) {
    auto x = torch::randn({3, 5, D}) * 3, w = torch::randn({D});
    compare({x, w}, [](const auto& t) { return ops::rms_norm(t[0], t[1], 1e-5); },
            [](const auto& t) { return t[0] * torch::rsqrt(t[0].pow(2).mean(-1, true) + 1e-5) * t[1]; },
            "rms_norm D=" + std::to_string(D));
  }
  auto x = torch::randn({4, 6, 16});  // a transposed view, as after split_heads
  compare({x, torch::randn({4})}, [](const auto& t) { return ops::rms_norm(t[0].view({4, 6, 4, 4}).transpose(1, 2), t[1], 1e-6); },
          [](const auto& t) {
            auto v = t[0].view({4, 6, 4, 4}).transpose(1, 2);
            return v * torch::rsqrt(v.pow(2).mean(-1, true) + 1e-6) * t[1];
          },
          "rms_norm on a view");
}

TEST(FusedOps, L2NormalizeEqualsComposite) {
  torch::manual_seed(2);
  for (int64_t D : {3, 16, 33}) {
    auto x = torch::randn({2, 3, 9, D});
    compare({x}, [](const auto& t) { return ops::l2_normalize(t[0].transpose(1, 2)); },
            [](const auto& t) {
              auto v = t[0].transpose(1, 2);
              return v * torch::rsqrt(v.pow(2).sum(-1, true) + 1e-6);
            },
            "l2_normalize D=" + std::to_string(D));
  }
}

TEST(FusedOps, SwiGLUEqualsComposite) {
  torch::manual_seed(3);
  for (int64_t H : {1, 8, 45}) {
    auto x = torch::randn({2, 7, 2 * H}) * 4;
    compare({x}, [](const auto& t) { return ops::swiglu(t[0]); },
            [](const auto& t) {
              auto gu = t[0].chunk(2, -1);
              return torch::silu(gu[0]) * gu[1];
            },
            "swiglu H=" + std::to_string(H));
  }
}

TEST(FusedOps, ShortConvEqualsConv1d) {
  for (bool bias : {false, true})
    for (bool silu : {false, true})
      for (int64_t k : {1, 4}) {
        const std::string what = "short_conv bias=" + std::to_string(bias) + " silu=" + std::to_string(silu) +
                                 " k=" + std::to_string(k);
        torch::manual_seed(4);
        ops::ShortConv conv(12, k, bias, silu);
        auto x = torch::randn({3, 10, 12});
        // The native path against the module's own composite form, same weights.
        auto xa = x.clone().requires_grad_(), xb = x.clone().requires_grad_();
        auto ya = conv->forward(xa);
        auto yb = torch::constant_pad_nd(xb.transpose(1, 2), {k - 1, 0});
        yb = conv->conv(yb).transpose(1, 2);
        if (silu) yb = torch::silu(yb);
        expect_close(ya, yb, what + " output");
        auto w = torch::randn_like(ya);
        (ya * w).sum().backward();
        auto gw = conv->conv->weight.grad().clone();
        auto gb = bias ? conv->conv->bias.grad().clone() : torch::Tensor();
        conv->zero_grad();
        (yb * w).sum().backward();
        expect_close(xa.grad(), xb.grad(), what + " grad x");
        expect_close(gw, conv->conv->weight.grad(), what + " grad weight");
        if (bias) expect_close(gb, conv->conv->bias.grad(), what + " grad bias");
        // Causal: the output at t ignores inputs after t.
        auto x2 = x.clone();
        x2.narrow(1, 6, 4).add_(5);
        auto y2 = conv->forward(x2);
        expect_close(y2.narrow(1, 0, 6), ya.detach().narrow(1, 0, 6), what + " causality", 0, 0);
      }
}

// The comparison itself: it must catch one small element off by more than its
// own bound, even where that error is tiny next to the tensor's largest element.
TEST(ElementwiseClose, HoldsEachElementToItsOwnSize) {
  using asiarch::testing::elementwise_close;
  auto b = torch::tensor({1000.0, 1e-3, -2.0, 0.0}, torch::kDouble);  // double: the margins below do not round
  EXPECT_TRUE(elementwise_close(b, b, 0, 0));
  EXPECT_TRUE(elementwise_close(b + 1e-4 * b.abs() + 5e-6, b, 1e-5, 1e-4));  // just inside everywhere
  auto a = b.clone();
  a[1] += 1e-3;  // 1e-6 of the largest element, but as large as this one
  auto r = elementwise_close(a, b, 1e-5, 1e-4);
  EXPECT_FALSE(r);
  EXPECT_NE(std::string(r.message()).find("1 of 4 elements"), std::string::npos) << r.message();
  EXPECT_NE(std::string(r.message()).find("worst at [1]"), std::string::npos) << r.message();
  auto n = b.clone();
  n[3] = NAN;
  EXPECT_FALSE(elementwise_close(n, b, 1, 1));
  EXPECT_FALSE(elementwise_close(b, n, 1, 1));
  EXPECT_FALSE(elementwise_close(b.view({2, 2}), b, 1, 1));  // shapes differ
  EXPECT_FALSE(elementwise_close(torch::Tensor(), b, 1, 1));
}
