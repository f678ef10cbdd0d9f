// Small mixers compiled into the tests (no JIT), each with a known property.
#pragma once

#include <asiarch/plugin.h>

#include <thread>

namespace asiarch::testing {

// A causal, well-behaved mixer: running mean of a projection.
class MeanMixer : public TokenMixer {
 public:
  explicit MeanMixer(const MixerConfig& c) {
    proj = register_module("proj", torch::nn::Linear(c.d_model, c.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
    return proj(x).cumsum(1) / steps;
  }
  torch::nn::Linear proj{nullptr};
};

// Reads the future: a reversed cumulative sum.
class FutureMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override { return proj(x).flip(1).cumsum(1).flip(1); }
};

// A running mean plus a faint look-ahead (5e-6 of the reversed sum): below the perturbation
// test's tolerance, not the gradient test's.
class FaintFutureMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    return MeanMixer::forward(x) + 5e-6 * proj(x).flip(1).cumsum(1).flip(1) / x.size(1);
  }
};

// Normalises across the batch: outputs depend on the other examples.
class BatchMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = MeanMixer::forward(x);
    return y - y.mean(0, true);
  }
};

class WrongShapeMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override { return proj(x).narrow(2, 0, 4); }
};

class NanMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override { return proj(x) * std::nan(""); }
};

class ThrowingMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor&) override { TORCH_CHECK(false, "no forward today"); }
};

// Full pairwise attention without softmax: quadratic memory in L.
class QuadraticMixer : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    auto scores = torch::matmul(x, x.transpose(1, 2)).tril() / x.size(2);
    return torch::matmul(scores, proj(x));
  }
};

// Becomes NaN after `healthy_calls` forward passes (for the quality monitor).
class DivergingMixer : public MeanMixer {
 public:
  DivergingMixer(const MixerConfig& c, int healthy_calls) : MeanMixer(c), left_(healthy_calls) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = MeanMixer::forward(x);
    return --left_ >= 0 ? y : y * std::nan("");
  }

 private:
  int left_;
};

// Reads the future only in one situation; causal otherwise.
class TrainModeCheat : public MeanMixer {  // only in training mode with grad
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    if (is_training() && torch::GradMode::is_enabled()) return proj(x).flip(1).cumsum(1).flip(1);
    return MeanMixer::forward(x);
  }
};
class OddLengthCheat : public MeanMixer {  // only at lengths other than the old gate's 96
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    if (x.size(1) != 96) return proj(x).flip(1).cumsum(1).flip(1);
    return MeanMixer::forward(x);
  }
};
// Causal for its first `honest_calls` forward passes (the gates), then reads the future.
class LateCheat : public MeanMixer {
 public:
  LateCheat(const MixerConfig& c, int honest_calls) : MeanMixer(c), left_(honest_calls) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    if (--left_ >= 0) return MeanMixer::forward(x);
    return MeanMixer::forward(x) + 0.5 * proj(x).flip(1).cumsum(1).flip(1);
  }

 private:
  int left_;
};
// Quadratic work in linear memory (scores a block of rows at a time) on a thread of its own,
// which the calling thread waits for: its CPU time does not show on the caller's clock.
class SideThreadQuadratic : public MeanMixer {
 public:
  using MeanMixer::MeanMixer;
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor total;
    std::thread side([&] {
      torch::NoGradGuard no_grad;
      auto xd = x.detach();
      auto sum = torch::zeros({});
      for (int rep = 0; rep < 8; ++rep)  // attention-sized work: a few score matrices per layer
        for (int64_t s = 0; s < xd.size(1); s += 64) {
          auto q = xd.narrow(1, s, std::min<int64_t>(64, xd.size(1) - s));
          sum += torch::matmul(q, xd.transpose(1, 2)).softmax(-1).sum();
        }
      total = sum;
    });
    side.join();
    return MeanMixer::forward(x) + 0 * total;
  }
};

// Honest as layer 0, quadratic (time and memory) from layer 1 on: what a gate that builds layer 0
// only would pass.
class DeepQuadratic : public TokenMixer {
 public:
  explicit DeepQuadratic(const MixerConfig& c) : deep_(c.layer_index >= 1) {
    proj = register_module("proj", torch::nn::Linear(c.d_model, c.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    if (!deep_) {
      auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
      return proj(x).cumsum(1) / steps;
    }
    auto scores = torch::matmul(x, x.transpose(1, 2)).tril() / x.size(2);
    return torch::matmul(scores, proj(x));
  }
  torch::nn::Linear proj{nullptr};

 private:
  bool deep_;
};

// Causal as layer 0, reading the future from layer 1 on.
class DeepFuture : public TokenMixer {
 public:
  explicit DeepFuture(const MixerConfig& c) : deep_(c.layer_index >= 1) {
    proj = register_module("proj", torch::nn::Linear(c.d_model, c.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
    auto causal = proj(x).cumsum(1) / steps;
    return deep_ ? causal + 0.5 * proj(x).flip(1).cumsum(1).flip(1) / x.size(1) : causal;
  }
  torch::nn::Linear proj{nullptr};

 private:
  bool deep_;
};

// Trainable weights kept outside its registered parameters, updated by its own optimizer (plain
// SGD) from a gradient hook: six times the weights the budget gate counts, and the trainer's
// optimizer never sees them.
class HiddenWeights : public MeanMixer {
 public:
  explicit HiddenWeights(const MixerConfig& c) : MeanMixer(c), hidden_(torch::randn({c.d_model, 6 * c.d_model}) * 0.01) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = hidden_.clone().requires_grad_(torch::GradMode::is_enabled());
    auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
    auto wide = torch::tanh(x.matmul(h)).cumsum(1) / steps;  // causal
    auto y = MeanMixer::forward(x) + wide.matmul(h.transpose(0, 1));
    if (h.requires_grad()) {
      auto* self = this;
      h.register_hook([self](torch::Tensor g) {
        torch::NoGradGuard no_grad;
        self->hidden_.sub_(1e-3 * g.sign());  // a signed step, as Adam takes
        return g;
      });
    }
    return y;
  }

 private:
  torch::Tensor hidden_;
};

template <class M>
std::shared_ptr<TokenMixer> make(const MixerConfig& c) {
  return std::make_shared<M>(c);
}

}  // namespace asiarch::testing
