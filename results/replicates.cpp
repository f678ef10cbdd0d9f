#include "results/replicates.h"

#include <cmath>
#include <cstdio>

#include "lab/names.h"
#include "results/fitness.h"

namespace asiarch::host {
namespace {

std::optional<double> mean_accuracy(const Metrics& m, const Metrics& shared_with) {
  double sum = 0;
  int n = 0;
  for (const auto& [task, acc] : m.accuracy)
    if (shared_with.accuracy.count(task)) {
      sum += acc;
      ++n;
    }
  if (!n) return std::nullopt;
  return sum / n;
}

}  // namespace

std::vector<archive::Measurement> measurements_of(const std::vector<archive::TrainingRun>& runs, std::uint64_t seed) {
  std::vector<archive::Measurement> out;
  for (const auto& r : runs)
    out.push_back({r.preset, seed, r.task, r.metric_name, r.metric, r.tokens_per_second, r.seconds, r.stop_reason, r.curve});
  return out;
}

SeedMetrics metrics_by_seed(const std::vector<archive::Measurement>& ms, const std::string& preset) {
  SeedMetrics out;
  for (const auto& m : ms) {
    if (m.preset != preset) continue;
    auto& to = out[m.seed];
    if (m.metric_name == "bits_per_byte" && std::isfinite(m.metric)) to.loss = m.metric;
    if (m.metric_name == "accuracy") to.accuracy[m.task] = m.metric;
    if (lab::diverged(m.stop_reason)) to.diverged.insert(m.task);
  }
  return out;
}

Metrics mean_metrics(const SeedMetrics& by_seed) {
  Metrics out;
  std::map<std::string, std::pair<double, int>> acc;
  double loss = 0;
  int losses = 0;
  for (const auto& [seed, m] : by_seed) {
    if (m.loss) {
      loss += *m.loss;
      ++losses;
    }
    for (const auto& [task, a] : m.accuracy) {
      acc[task].first += a;
      ++acc[task].second;
    }
  }
  if (losses) out.loss = loss / losses;
  for (const auto& [task, s] : acc) out.accuracy[task] = s.first / s.second;
  return out;
}

std::vector<archive::TrainingRun> with_mean_metrics(std::vector<archive::TrainingRun> runs,
                                                    const std::vector<archive::Measurement>& ms) {
  for (auto& r : runs) {
    double sum = 0;
    int n = 0;
    for (const auto& m : ms)
      if (m.preset == r.preset && m.task == r.task && m.metric_name == r.metric_name && std::isfinite(m.metric)) {
        sum += m.metric;
        ++n;
      }
    if (n) r.metric = sum / n;
  }
  return runs;
}

Comparison compare_paired(const SeedMetrics& candidate, const SeedMetrics& reference) {
  Comparison c;
  std::vector<double> fit, ref_fit, loss, ref_loss, acc, ref_acc;
  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> tasks;
  for (const auto& [seed, m] : candidate) {
    auto it = reference.find(seed);
    if (it == reference.end()) continue;
    const Metrics& b = it->second;
    ++c.pairs;
    if (!m.diverged.empty()) ++c.diverged_seeds;
    if (!b.diverged.empty()) ++c.reference_diverged_seeds;
    agents::FitnessInputs in;
    in.loss = m.loss;
    in.baseline_loss = b.loss;
    in.accuracy = mean_accuracy(m, b);
    in.baseline_accuracy = mean_accuracy(b, m);
    const auto f = agents::fitness(in);
    fit.push_back(f.loss_score + f.bench_score);
    ref_fit.push_back(1.0);  // the reference against itself: each part sigmoid(0) = 0.5
    if (m.loss && b.loss) {
      loss.push_back(*m.loss);
      ref_loss.push_back(*b.loss);
    }
    if (in.accuracy && in.baseline_accuracy) {
      acc.push_back(*in.accuracy);
      ref_acc.push_back(*in.baseline_accuracy);
    }
    for (const auto& [task, a] : m.accuracy)
      if (auto bt = b.accuracy.find(task); bt != b.accuracy.end()) {
        tasks[task].first.push_back(a);
        tasks[task].second.push_back(bt->second);
      }
    if (m.loss && b.loss) {
      tasks["byte_lm"].first.push_back(*m.loss);
      tasks["byte_lm"].second.push_back(*b.loss);
    }
  }
  c.fitness = lab::paired_difference(fit, ref_fit);
  if (!loss.empty()) c.loss = lab::paired_difference(loss, ref_loss);
  if (!acc.empty()) c.accuracy = lab::paired_difference(acc, ref_acc);
  for (const auto& [task, ab] : tasks) c.tasks[task] = lab::paired_difference(ab.first, ab.second);
  if (c.pairs < 2) c.verdict = "too few seeds";
  else if (c.fitness.excludes_zero()) c.verdict = c.fitness.mean > 0 ? "better" : "worse";
  else c.verdict = "no significant difference";
  return c;
}

Replicated replicated(const SeedMetrics& by_seed) {
  Replicated r;
  r.seeds = static_cast<int>(by_seed.size());
  std::vector<double> loss, acc;
  std::map<std::string, std::vector<double>> tasks;
  for (const auto& [seed, m] : by_seed) {
    if (!m.diverged.empty()) ++r.diverged_seeds;
    r.diverged_runs += static_cast<int>(m.diverged.size());
    if (m.loss) {
      loss.push_back(*m.loss);
      tasks["byte_lm"].push_back(*m.loss);
    }
    if (auto a = mean_accuracy(m, m)) acc.push_back(*a);
    for (const auto& [task, a] : m.accuracy) tasks[task].push_back(a);
  }
  if (!loss.empty()) r.loss = lab::mean_interval(loss);
  if (!acc.empty()) r.accuracy = lab::mean_interval(acc);
  for (const auto& [task, xs] : tasks) r.tasks[task] = lab::mean_interval(xs);
  return r;
}

std::string format_interval(const lab::Interval& i, int decimals) {
  char buf[64];
  if (i.half_width) std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, i.mean, decimals, *i.half_width);
  else std::snprintf(buf, sizeof buf, "%.*f", decimals, i.mean);
  return buf;
}

nlohmann::json to_json(const lab::Interval& i) {
  nlohmann::json j = {{"mean", i.mean}, {"n", i.n}};
  if (i.half_width) {
    j["half_width"] = *i.half_width;
    j["low"] = i.low();
    j["high"] = i.high();
    j["excludes_zero"] = i.excludes_zero();
  }
  return j;
}

nlohmann::json to_json(const Comparison& c) {
  nlohmann::json j = {{"pairs", c.pairs}, {"fitness", to_json(c.fitness)}, {"verdict", c.verdict},
                      {"diverged_seeds", c.diverged_seeds}, {"reference_diverged_seeds", c.reference_diverged_seeds}};
  if (c.loss) j["bits_per_byte"] = to_json(*c.loss);
  if (c.accuracy) j["accuracy"] = to_json(*c.accuracy);
  for (const auto& [task, i] : c.tasks) j["tasks"][task] = to_json(i);
  return j;
}

nlohmann::json to_json(const Replicated& r) {
  nlohmann::json j = {{"seeds", r.seeds}, {"diverged_seeds", r.diverged_seeds}, {"diverged_runs", r.diverged_runs}};
  if (r.loss) j["bits_per_byte"] = to_json(*r.loss);
  if (r.accuracy) j["accuracy"] = to_json(*r.accuracy);
  for (const auto& [task, i] : r.tasks) j["tasks"][task] = to_json(i);
  return j;
}

}  // namespace asiarch::host
