// The smallest language model the lab trains around a task: what the trainer tests use.
#pragma once

#include "lab/model.h"
#include "lab/tasks.h"

namespace asiarch::testing {

inline lab::ModelConfig small_model(const lab::TaskData& t) {
  lab::ModelConfig m;
  m.vocab = t.vocab;
  m.d_model = 32;
  m.num_layers = 2;
  m.num_heads = 2;
  m.decode_length = t.decode_from_last ? t.seq_len : 0;
  return m;
}

}  // namespace asiarch::testing
