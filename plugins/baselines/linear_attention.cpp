// Baseline: linear attention, S_t = S_{t-1} + k_t v_t^T, o_t = S_t^T (q_t / sqrt(K)),
// identity feature map, per-head RMSNorm on the output.
// options: form=chunk|recurrent (default chunk), chunk=64.
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class LinearAttention : public asiarch::TokenMixer {
 public:
  explicit LinearAttention(const asiarch::MixerConfig& cfg)
      : heads_(cfg.num_heads),
        head_dim_(cfg.d_model / cfg.num_heads),
        recurrent_(asiarch::option(cfg, "form", "chunk") == "recurrent"),
        chunk_(asiarch::option_int(cfg, "chunk", 64)) {
    auto lin = [&](const char* name, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, out).bias(false)));
    };
    q_proj_ = lin("q_proj", cfg.d_model);
    k_proj_ = lin("k_proj", cfg.d_model);
    v_proj_ = lin("v_proj", cfg.d_model);
    o_proj_ = lin("o_proj", cfg.d_model);
    norm_ = register_module("o_norm", ops::RMSNorm(head_dim_));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    auto q = ops::split_heads(q_proj_(x), heads_) / std::sqrt(static_cast<double>(head_dim_));
    auto k = ops::split_heads(k_proj_(x), heads_);
    auto v = ops::split_heads(v_proj_(x), heads_);
    auto o = recurrent_ ? ops::linear_attention_recurrent(q, k, v)
                        : ops::linear_attention_chunkwise(q, k, v, {}, chunk_);
    return o_proj_(ops::merge_heads(norm_(o)));
  }

 private:
  int64_t heads_, head_dim_;
  bool recurrent_;
  int64_t chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, o_proj_{nullptr};
  ops::RMSNorm norm_{nullptr};
};

ASIARCH_REGISTER_MIXER(LinearAttention, "linear_attention")
