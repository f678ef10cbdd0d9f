// Fitness as in ASI-Arch: gains over the baseline in loss and in benchmark
// accuracy, each through a sigmoid, plus the Judge's score. See docs/fitness.md.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

namespace asiarch::agents {

struct FitnessInputs {
  std::optional<double> loss, baseline_loss;          // lower is better (bits per byte)
  std::optional<double> accuracy, baseline_accuracy;  // higher is better (mean task accuracy)
  std::optional<double> judge;                        // the Judge's weighted 1..10 score
  // The relative gain at which each measured part saturates: ASI-Arch's 10%, or narrower where the
  // run's baselines are closer together than that (engine/scoring.h: FitnessBase).
  double loss_scale = 0.1, accuracy_scale = 0.1;
};

struct Fitness {
  double loss_score = 0.5;   // sigma(6 clamp((L_b - L) / (s_L L_b), -1, 1)), s_L = loss_scale (ASI-Arch: 0.1)
  double bench_score = 0.5;  // sigma(6 clamp((A - A_b) / (s_A A_b), -1, 1)), s_A = accuracy_scale
  double judge_score = 0.5;  // (w - 1) / 9
  double total = 1.5;        // sum, 0..3
  // A loss more than 10% below the baseline's is treated as leakage, not success.
  bool suspicious = false;
};

// A component whose inputs are missing (or whose baseline is 0) scores 0.5.
Fitness fitness(const FitnessInputs& in);

nlohmann::json to_json(const Fitness& f);

}  // namespace asiarch::agents
