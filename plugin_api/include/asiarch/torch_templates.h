// The LibTorch class templates whose virtual members every plugin would otherwise instantiate
// again: <torch/torch.h> uses their vtables, so each translation unit that includes it defines
// them at its end (clone, pretty_print, reset of every module, about half of a plugin's compile
// time; bench/compile_latency). The JIT's precompiled header declares them `extern template`, so
// a plugin only refers to them; the rare plugin that calls one (a module's clone()) links against
// the JIT's support object, which defines them once (jit/compiler.h, support_object). A list for
// X(...) macros: an entry may hold commas.
#pragma once

#define ASIARCH_TORCH_TEMPLATES(X)                                                          \
  X(torch::nn::Cloneable<torch::nn::AdaptiveLogSoftmaxWithLossImpl>)                        \
  X(torch::nn::Cloneable<torch::nn::BilinearImpl>)                                          \
  X(torch::nn::Cloneable<torch::nn::Conv1dImpl>)                                            \
  X(torch::nn::Cloneable<torch::nn::Conv2dImpl>)                                            \
  X(torch::nn::Cloneable<torch::nn::Conv3dImpl>)                                            \
  X(torch::nn::Cloneable<torch::nn::ConvTranspose1dImpl>)                                   \
  X(torch::nn::Cloneable<torch::nn::ConvTranspose2dImpl>)                                   \
  X(torch::nn::Cloneable<torch::nn::ConvTranspose3dImpl>)                                   \
  X(torch::nn::Cloneable<torch::nn::CrossMapLRN2dImpl>)                                     \
  X(torch::nn::Cloneable<torch::nn::EmbeddingBagImpl>)                                      \
  X(torch::nn::Cloneable<torch::nn::EmbeddingImpl>)                                         \
  X(torch::nn::Cloneable<torch::nn::FoldImpl>)                                              \
  X(torch::nn::Cloneable<torch::nn::FractionalMaxPool2dImpl>)                               \
  X(torch::nn::Cloneable<torch::nn::FractionalMaxPool3dImpl>)                               \
  X(torch::nn::Cloneable<torch::nn::GroupNormImpl>)                                         \
  X(torch::nn::Cloneable<torch::nn::GRUCellImpl>)                                           \
  X(torch::nn::Cloneable<torch::nn::GRUImpl>)                                               \
  X(torch::nn::Cloneable<torch::nn::LayerNormImpl>)                                         \
  X(torch::nn::Cloneable<torch::nn::LinearImpl>)                                            \
  X(torch::nn::Cloneable<torch::nn::LocalResponseNormImpl>)                                 \
  X(torch::nn::Cloneable<torch::nn::LogSoftmaxImpl>)                                        \
  X(torch::nn::Cloneable<torch::nn::LSTMCellImpl>)                                          \
  X(torch::nn::Cloneable<torch::nn::LSTMImpl>)                                              \
  X(torch::nn::Cloneable<torch::nn::ModuleDictImpl>)                                        \
  X(torch::nn::Cloneable<torch::nn::MultiheadAttentionImpl>)                                \
  X(torch::nn::Cloneable<torch::nn::ParameterDictImpl>)                                     \
  X(torch::nn::Cloneable<torch::nn::RNNCellImpl>)                                           \
  X(torch::nn::Cloneable<torch::nn::RNNImpl>)                                               \
  X(torch::nn::Cloneable<torch::nn::SequentialImpl>)                                        \
  X(torch::nn::Cloneable<torch::nn::SoftmaxImpl>)                                           \
  X(torch::nn::Cloneable<torch::nn::SoftminImpl>)                                           \
  X(torch::nn::Cloneable<torch::nn::ThresholdImpl>)                                         \
  X(torch::nn::Cloneable<torch::nn::TransformerDecoderImpl>)                                \
  X(torch::nn::Cloneable<torch::nn::TransformerDecoderLayerImpl>)                           \
  X(torch::nn::Cloneable<torch::nn::TransformerEncoderImpl>)                                \
  X(torch::nn::Cloneable<torch::nn::TransformerEncoderLayerImpl>)                           \
  X(torch::nn::Cloneable<torch::nn::UnflattenImpl>)                                         \
  X(torch::nn::Cloneable<torch::nn::UnfoldImpl>)                                            \
  X(torch::nn::Cloneable<torch::nn::ZeroPad2dImpl>)                                         \
  X(torch::nn::ConvNdImpl<1, torch::nn::Conv1dImpl>)                                        \
  X(torch::nn::ConvNdImpl<2, torch::nn::Conv2dImpl>)                                        \
  X(torch::nn::ConvNdImpl<3, torch::nn::Conv3dImpl>)                                        \
  X(torch::nn::ConvNdImpl<1, torch::nn::ConvTranspose1dImpl>)                               \
  X(torch::nn::ConvNdImpl<2, torch::nn::ConvTranspose2dImpl>)                               \
  X(torch::nn::ConvNdImpl<3, torch::nn::ConvTranspose3dImpl>)                               \
  X(torch::nn::ConvTransposeNdImpl<1, torch::nn::ConvTranspose1dImpl>)                      \
  X(torch::nn::ConvTransposeNdImpl<2, torch::nn::ConvTranspose2dImpl>)                      \
  X(torch::nn::ConvTransposeNdImpl<3, torch::nn::ConvTranspose3dImpl>)                      \
  X(torch::data::datasets::Dataset<torch::data::datasets::TensorDataset,                    \
                                   torch::data::Example<at::Tensor, void>>)
