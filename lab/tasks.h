// Benchmark tasks generated in-process from a seed: the MAD suite (Poli et
// al. 2024), Zoology's multi-query associative recall, and byte-level
// language modelling on a real English corpus.
//
// Every example is aligned: target[t] is what the model must emit at
// position t, or kIgnore.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "util/result.h"

namespace asiarch::lab {

inline constexpr int64_t kIgnore = -100;

struct Example {
  std::vector<int64_t> input;
  std::vector<int64_t> target;
};

enum class Metric { accuracy, bits_per_byte };

struct TaskData {
  std::string name;
  int64_t vocab = 0;
  int64_t seq_len = 0;
  Metric metric = Metric::accuracy;
  // Compression is decoded from the last position only (see lab/model.h).
  bool decode_from_last = false;
  std::vector<Example> train, test;
};

// All task names, in a fixed order (the table in lab/tasks.cpp: name, metric, generator).
const std::vector<std::string>& task_names();
// What a task asks of a mixer, in a sentence ("" for an unknown name).
std::string task_description(const std::string& name);
// Whether a task reads a text corpus (byte_lm), which the caller loads and passes to make_task.
bool task_reads_corpus(const std::string& name);

// Generates a task. `params` holds the task's settings from a preset (vocab,
// seq_len, train_examples, test_examples, and task-specific keys); an
// unknown key or a wrong type is an error naming it. `corpus` is the text for
// byte_lm (ignored by the others).
Result<TaskData> make_task(const std::string& name, const nlohmann::json& params, std::uint64_t seed,
                           const std::string& corpus = "");
// Reads and checks a task's settings exactly as make_task does, without making its data (one
// example of each split; byte_lm's corpus is not needed): a presets file is refused when it is
// loaded, naming the field, not when the first worker or the first baseline builds the task.
Status check_task_settings(const std::string& name, const nlohmann::json& params);

}  // namespace asiarch::lab
