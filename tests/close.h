// Element-wise closeness of two tensors: |actual - expected| <= atol + rtol *
// |expected| at every element. A bound taken relative to the tensor's largest
// element would let small elements be wrong by as much as the large ones are
// allowed to be; this one holds each element to its own size.
#pragma once

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace asiarch::testing {

inline ::testing::AssertionResult elementwise_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                                    double atol, double rtol) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << (actual.defined() ? "expected" : "actual") << " tensor is undefined";
  if (actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "shape " << actual.sizes() << " differs from expected " << expected.sizes();
  if (actual.numel() == 0) return ::testing::AssertionSuccess();
  // In double, so the bound itself does not round.
  auto a = actual.detach().to(torch::kDouble).flatten(), e = expected.detach().to(torch::kDouble).flatten();
  auto diff = (a - e).abs();
  auto bound = atol + rtol * e.abs();
  // NaN anywhere (either side, or inf - inf) compares false, so it fails.
  auto bad = (diff <= bound).logical_not();
  const int64_t n_bad = bad.sum().item<int64_t>();
  if (n_bad == 0) return ::testing::AssertionSuccess();
  // The worst element: the largest excess over its bound, NaN first.
  auto excess = diff - bound;
  excess = torch::where(torch::isnan(excess), torch::full_like(excess, INFINITY), excess);
  const int64_t flat = excess.argmax().item<int64_t>();
  std::vector<int64_t> index(static_cast<size_t>(actual.dim()));
  int64_t rest = flat;
  for (int64_t d = actual.dim() - 1; d >= 0; --d) {
    index[static_cast<size_t>(d)] = rest % actual.size(d);
    rest /= actual.size(d);
  }
  std::ostringstream msg;
  msg.precision(9);
  msg << n_bad << " of " << actual.numel() << " elements outside atol " << atol << " + rtol " << rtol
      << " * |expected|; worst at [";
  for (size_t d = 0; d < index.size(); ++d) msg << (d ? ", " : "") << index[d];
  msg << "]: actual " << a[flat].item<double>() << ", expected " << e[flat].item<double>() << ", |difference| "
      << diff[flat].item<double>() << " > bound " << bound[flat].item<double>();
  return ::testing::AssertionFailure() << msg.str();
}

}  // namespace asiarch::testing
