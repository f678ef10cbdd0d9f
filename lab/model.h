// The small language model built around a candidate mixer:
// embedding -> N x [RMSNorm -> mixer -> residual -> RMSNorm -> SwiGLU -> residual]
// -> RMSNorm -> head. For tasks decoded from the last position (MAD's
// compression) a decoder reads every output position from the final state.
#pragma once

#include <functional>
#include <memory>

#include <torch/torch.h>

#include <asiarch/abi.h>

namespace asiarch {
class TokenMixer;
}

namespace asiarch::lab {

struct ModelConfig {
  int64_t vocab = 16;
  int64_t d_model = 64;
  int64_t num_layers = 2;
  int64_t num_heads = 4;
  int64_t mlp_hidden = 0;        // 0: 8/3 d_model rounded up to a multiple of 32
  int64_t decode_length = 0;     // > 0: decode this many positions from the last state
  std::uint64_t seed = 0;
  std::string mixer_options;     // passed to every mixer as MixerConfig::options
  // Hybrid models, as Kimi Linear and Qwen3-Next deploy linear mixers: one letter per layer,
  // 'm' the candidate's mixer, 'a' causal softmax attention with rotary positions (built in, not
  // the candidate's: not counted in mixer_parameters()). Empty: every layer the candidate's.
  std::string layer_pattern;
};

// Whether `pattern` is a valid layer pattern for `num_layers` layers ("" when it is, else why).
std::string layer_pattern_problem(const std::string& pattern, int64_t num_layers);

// Builds one mixer for a layer; throws what the plugin throws.
using MixerFactory = std::function<std::shared_ptr<TokenMixer>(const MixerConfig&)>;

class LanguageModelImpl : public torch::nn::Module {
 public:
  LanguageModelImpl(const ModelConfig& config, const MixerFactory& make_mixer);
  // tokens [B, L] int64 -> logits [B, L, vocab] (or [B, decode_length, vocab]).
  torch::Tensor forward(const torch::Tensor& tokens);
  // A training pass: the logits and the sum of the auxiliary loss terms the mixers added on this
  // thread during it (TokenMixer::add_aux_loss; undefined: none).
  struct Pass {
    torch::Tensor logits, aux;
  };
  Pass forward_with_aux(const torch::Tensor& tokens);
  // The final per-position states [B, L, d] (before any decoding): causal when the mixers are.
  torch::Tensor states(const torch::Tensor& tokens);
  // Parameters of the mixers alone (for the parameter-budget gate and reports).
  int64_t mixer_parameters() const;
  const ModelConfig& config() const { return config_; }

 private:
  ModelConfig config_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<std::shared_ptr<TokenMixer>> mixers_;
  std::vector<bool> built_in_;  // per layer: the hybrid's own attention, not the candidate
  std::vector<torch::nn::Linear> gate_up_, down_;
  std::vector<torch::Tensor> norm1_, norm2_;
  torch::Tensor final_norm_;
  torch::nn::Linear head_{nullptr};
  torch::nn::Embedding decode_pos_{nullptr};
  torch::nn::Linear decode_mlp_{nullptr};
};
TORCH_MODULE(LanguageModel);

}  // namespace asiarch::lab
