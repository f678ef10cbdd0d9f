// Sanity gates, run before any training: each says pass or fail, and why.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/model.h"

namespace asiarch::lab {

struct GateConfig {
  int64_t d_model = 64;
  int64_t num_heads = 4;
  std::string mixer_options;
  std::uint64_t seed = 0;
  // Complexity: fit time and peak memory of forward+backward over these lengths.
  std::vector<int64_t> lengths = {512, 1024, 2048};
  bool declared_quadratic = false;  // the quadratic reference is exempt
  double max_exponent = 1.5;        // sub-quadratic claim fails at or above this
  // Parameter budget: mixer parameters within tolerance of the reference
  // (DeltaNet at the same d_model). 0 = no reference: gate skipped.
  int64_t reference_parameters = 0;
  double parameter_tolerance = 0.3;
  // The gate compares whole models, as ASI-Arch's budget does: this many layers of the mixer plus
  // everything else of the byte-level model (embedding, SwiGLU blocks, norms, head), against the
  // same model with DeltaNet. A mixer twice DeltaNet's size in a model whose other parts dominate
  // is within budget. 0 layers: compare mixers alone.
  int64_t num_layers = 0;
  int64_t vocab = 256;
  double tolerance = 1e-5;  // causality / batch independence (relative to output scale)
  // The gradient test: an output's gradient with respect to later inputs, relative to its largest
  // with respect to earlier ones (round-off of an FFT convolution stays below 1e-6).
  double gradient_tolerance = 1e-6;
  // Called around the complexity gate's timed runs: "start" before each pass over the lengths,
  // then the run's length after each run. A trusted process that reads this process's CPU time
  // from the kernel at every mark times the runs itself (worker/worker_job.cpp); it returns once
  // that process has read it.
  std::function<void(const std::string& label)> mark;
  // Where the mixer runs for every gate but the complexity gate's timing, which is the CPU time of
  // a run on the CPU wherever the model trains: time a trusted process can read from the kernel
  // (docs/sandbox.md says what that leaves open on a GPU).
  torch::Device device = torch::kCPU;
};

struct GateResult {
  std::string name;  // shape_dtype, finite, causality, batch_independence, complexity, parameter_budget
  bool passed = false;
  std::string reason;
  nlohmann::json details = nlohmann::json::object();
};

std::vector<GateResult> run_gates(const MixerFactory& make_mixer, const GateConfig& config);
// The gates run_gates runs, in order.
const std::vector<std::string>& gate_names();
bool all_passed(const std::vector<GateResult>& gates);

// Least-squares slope of log(y) against log(x).
double fit_exponent(const std::vector<double>& x, const std::vector<double>& y);

// The exponent the complexity gate judges time by: the larger of the fit over every length and the
// slope between the two longest. A fit over short lengths is flattened by what does not grow with
// L (a quadratic computed in chunks of 64 queries fits ~L^1.47 on 256..2048); the longest pair
// shows the growth that dominates.
double time_exponent(const std::vector<double>& lengths, const std::vector<double>& seconds);

void to_json(nlohmann::json& j, const GateResult& g);
void from_json(const nlohmann::json& j, GateResult& g);

}  // namespace asiarch::lab
