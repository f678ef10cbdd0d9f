// Example plugin for ABI 2: a token router between two paths, written with the helpers the
// published designs need.
//   path 1: linear attention over L2-normalised heads, as a custom chunkwise rule (chunkwise_scan)
//   path 2: a long depthwise causal filter over the values (LongCausalConv, 64 taps)
// Each token's router weights mix the paths; a load-balance term (add_aux_loss) keeps the router
// from settling on one path early: 0.01 * (P * sum_i mean_p_i^2 - 1), zero when balanced.
#include <asiarch/plugin.h>

namespace ops = asiarch::ops;

class RouterAuxLoss : public asiarch::TokenMixer {
 public:
  explicit RouterAuxLoss(const asiarch::MixerConfig& cfg)
      : d_(cfg.d_model), heads_(cfg.num_heads), chunk_(asiarch::option_int(cfg, "chunk", 32)) {
    auto lin = [&](const char* name, int64_t out) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(d_, out).bias(false)));
    };
    q_proj_ = lin("q_proj", d_);
    k_proj_ = lin("k_proj", d_);
    v_proj_ = lin("v_proj", d_);
    router_ = lin("router", kPaths);
    o_proj_ = lin("o_proj", d_);
    filter_ = register_module("filter", ops::LongCausalConv(d_, 64));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    const int64_t B = x.size(0), L = x.size(1), Dh = d_ / heads_;
    auto q = ops::l2_normalize(ops::split_heads(q_proj_(x), heads_));
    auto k = ops::l2_normalize(ops::split_heads(k_proj_(x), heads_));
    auto v_flat = v_proj_(x);
    auto v = ops::split_heads(v_flat, heads_);
    // Path 1 as its per-chunk math: causal scores within the chunk, the state for the rest.
    const auto mask = ops::causal_chunk_mask(std::min(chunk_, L), x.options());
    auto attn = ops::chunkwise_scan(
        {q, k, v}, chunk_, torch::zeros({B, heads_, Dh, Dh}, x.options()),
        [&](int64_t, const std::vector<torch::Tensor>& c, const torch::Tensor& S) {
          auto scores = torch::matmul(c[0], c[1].transpose(-1, -2)).masked_fill(mask.logical_not(), 0);
          auto out = torch::matmul(scores, c[2]) + torch::matmul(c[0], S);
          return ops::ChunkStep{out, S + torch::matmul(c[1].transpose(-1, -2), c[2])};
        });
    // Sums over t positions grow with t: scale position t by 1/sqrt(t + 1) (causal: no use of L).
    auto path1 = ops::merge_heads(attn) / torch::arange(1, L + 1, x.options()).sqrt().view({1, L, 1});
    auto path2 = filter_(v_flat);
    auto p = torch::softmax(router_(x), -1);  // [B, L, P]
    if (is_training()) {
      auto load = p.mean(std::vector<int64_t>{0, 1});  // [P]
      add_aux_loss(0.01 * (kPaths * load.pow(2).sum() - 1.0));
    }
    return o_proj_(p.select(-1, 0).unsqueeze(-1) * path1 + p.select(-1, 1).unsqueeze(-1) * path2);
  }

 private:
  static constexpr int64_t kPaths = 2;
  int64_t d_, heads_, chunk_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, router_{nullptr}, o_proj_{nullptr};
  ops::LongCausalConv filter_{nullptr};
};

ASIARCH_REGISTER_MIXER(RouterAuxLoss, "router_aux_loss")
