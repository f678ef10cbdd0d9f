#include "lab/model.h"

#include <asiarch/plugin.h>

namespace asiarch::lab {
namespace {

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight) { return ops::rms_norm(x, weight, 1e-6); }

// A hybrid model's attention layer: causal multi-head softmax attention with rotary positions, as
// plugins/baselines/softmax_attention.cpp, but the host's own (it is not the candidate's code).
class AttentionLayer : public TokenMixer {
 public:
  explicit AttentionLayer(const MixerConfig& cfg) : heads_(cfg.num_heads) {
    qkv_ = register_module("qkv_proj", torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, 3 * cfg.d_model).bias(false)));
    o_proj_ = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(cfg.d_model, cfg.d_model).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto parts = qkv_(x).chunk(3, -1);
    auto q = ops::rotary(ops::split_heads(parts[0], heads_));
    auto k = ops::rotary(ops::split_heads(parts[1], heads_));
    return o_proj_(ops::merge_heads(ops::causal_softmax_attention(q, k, ops::split_heads(parts[2], heads_))));
  }

 private:
  int64_t heads_;
  torch::nn::Linear qkv_{nullptr}, o_proj_{nullptr};
};

}  // namespace

std::string layer_pattern_problem(const std::string& pattern, int64_t num_layers) {
  if (pattern.empty()) return "";
  if (static_cast<int64_t>(pattern.size()) != num_layers)
    return "has " + std::to_string(pattern.size()) + " letters for " + std::to_string(num_layers) +
           " layers (one per layer)";
  if (pattern.find_first_not_of("ma") != std::string::npos)
    return "\"" + pattern + "\": only 'm' (the candidate's mixer) and 'a' (softmax attention) are layers";
  if (pattern.find('m') == std::string::npos) return "\"" + pattern + "\" has no layer of the candidate's ('m')";
  return "";
}

LanguageModelImpl::LanguageModelImpl(const ModelConfig& config, const MixerFactory& make_mixer)
    : config_(config) {
  torch::manual_seed(config.seed);
  if (auto why = layer_pattern_problem(config.layer_pattern, config.num_layers); !why.empty())
    throw std::invalid_argument("layer_pattern " + why);
  const int64_t d = config.d_model;
  const int64_t hidden = config.mlp_hidden > 0 ? config.mlp_hidden : (8 * d / 3 + 31) / 32 * 32;
  embed_ = register_module("embed", torch::nn::Embedding(config.vocab, d));
  for (int64_t i = 0; i < config.num_layers; ++i) {
    MixerConfig mc;
    mc.d_model = d;
    mc.num_heads = config.num_heads;
    mc.layer_index = i;
    mc.num_layers = config.num_layers;
    mc.seed = config.seed + static_cast<std::uint64_t>(i);
    mc.options = config.mixer_options.c_str();
    const bool attention = !config.layer_pattern.empty() && config.layer_pattern[static_cast<size_t>(i)] == 'a';
    auto mixer = attention ? std::make_shared<AttentionLayer>(mc) : make_mixer(mc);
    if (!mixer) throw std::runtime_error("mixer factory returned nothing for layer " + std::to_string(i));
    built_in_.push_back(attention);
    mixers_.push_back(register_module("mixer" + std::to_string(i), mixer));
    gate_up_.push_back(register_module("mlp" + std::to_string(i) + "_gate_up",
                                       torch::nn::Linear(torch::nn::LinearOptions(d, 2 * hidden).bias(false))));
    down_.push_back(register_module("mlp" + std::to_string(i) + "_down",
                                    torch::nn::Linear(torch::nn::LinearOptions(hidden, d).bias(false))));
    norm1_.push_back(register_parameter("norm" + std::to_string(i) + "_mixer", torch::ones({d})));
    norm2_.push_back(register_parameter("norm" + std::to_string(i) + "_mlp", torch::ones({d})));
  }
  final_norm_ = register_parameter("final_norm", torch::ones({d}));
  head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(d, config.vocab).bias(false)));
  if (config.decode_length > 0) {
    decode_pos_ = register_module("decode_pos", torch::nn::Embedding(config.decode_length, d));
    decode_mlp_ = register_module("decode_mlp", torch::nn::Linear(d, d));
  }
  // N(0, 0.02) for the model's own weights; mixers keep their own initialisation.
  torch::NoGradGuard no_grad;
  for (auto* m : {embed_.ptr().get()}) m->weight.normal_(0, 0.02);
  for (auto& l : gate_up_) l->weight.normal_(0, 0.02);
  for (auto& l : down_) l->weight.normal_(0, 0.02 / std::sqrt(2.0 * static_cast<double>(config.num_layers)));
  head_->weight.normal_(0, 0.02);
  if (decode_pos_) {
    decode_pos_->weight.normal_(0, 0.02);
    decode_mlp_->weight.normal_(0, 0.02);
    decode_mlp_->bias.zero_();
  }
}

torch::Tensor LanguageModelImpl::states(const torch::Tensor& tokens) {
  auto h = embed_(tokens);
  for (size_t i = 0; i < mixers_.size(); ++i) {
    h = h + mixers_[i]->forward(rms_norm(h, norm1_[i]));
    h = h + down_[i](ops::swiglu(gate_up_[i](rms_norm(h, norm2_[i]))));
  }
  return rms_norm(h, final_norm_);
}

torch::Tensor LanguageModelImpl::forward(const torch::Tensor& tokens) {
  auto h = states(tokens);
  if (decode_pos_) {
    // Everything the model kept about the sequence is in the last position.
    auto last = h.select(1, h.size(1) - 1).unsqueeze(1);                 // [B, 1, d]
    auto q = last + decode_pos_->weight.unsqueeze(0);                    // [B, T, d]
    h = q + torch::gelu(decode_mlp_(q));
  }
  return head_(h);
}

LanguageModelImpl::Pass LanguageModelImpl::forward_with_aux(const torch::Tensor& tokens) {
  for (auto& m : mixers_) m->begin_aux_losses();
  Pass p;
  try {
    p.logits = forward(tokens);
  } catch (...) {
    for (auto& m : mixers_) m->end_aux_losses();
    throw;
  }
  for (auto& m : mixers_)
    for (const auto& t : m->end_aux_losses()) {
      if (!t.defined()) continue;
      const auto term = t.numel() == 1 ? t.reshape({}) : t.sum();  // a term is a scalar; a tensor counts as its sum
      p.aux = p.aux.defined() ? p.aux + term : term;
    }
  return p;
}

int64_t LanguageModelImpl::mixer_parameters() const {
  int64_t n = 0;
  for (size_t i = 0; i < mixers_.size(); ++i)
    if (!built_in_[i])
      for (const auto& p : mixers_[i]->parameters()) n += p.numel();
  return n;
}

}  // namespace asiarch::lab
