// Example plugin: a gated short causal convolution (no attention at all).
// y = o_proj( silu(conv4(v_proj x)) * sigmoid(g_proj x) )
#include <asiarch/plugin.h>

class ShortConvGate : public asiarch::TokenMixer {
 public:
  explicit ShortConvGate(const asiarch::MixerConfig& cfg) : d_(cfg.d_model) {
    v_proj_ = register_module("v_proj", torch::nn::Linear(torch::nn::LinearOptions(d_, d_).bias(false)));
    g_proj_ = register_module("g_proj", torch::nn::Linear(torch::nn::LinearOptions(d_, d_).bias(false)));
    o_proj_ = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(d_, d_).bias(false)));
    // Depthwise; causality comes from padding on the left only.
    conv_ = register_module(
        "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(d_, d_, kKernel).groups(d_).bias(false)));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto v = v_proj_(x).transpose(1, 2);                                  // [B, D, L]
    v = torch::nn::functional::pad(v, torch::nn::functional::PadFuncOptions({kKernel - 1, 0}));
    v = torch::silu(conv_(v)).transpose(1, 2);                            // [B, L, D]
    return o_proj_(v * torch::sigmoid(g_proj_(x)));
  }

 private:
  static constexpr int64_t kKernel = 4;
  int64_t d_;
  torch::nn::Linear v_proj_{nullptr}, g_proj_{nullptr}, o_proj_{nullptr};
  torch::nn::Conv1d conv_{nullptr};
};

ASIARCH_REGISTER_MIXER(ShortConvGate, "short_conv_gate")
