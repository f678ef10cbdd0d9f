#include "lab/train.h"
#include "lab/names.h"
#include "lab/device.h"
#include "lab/memory.h"
#include "lab/test_set.h"
#include "lab/threads.h"

#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <optional>
#include <random>
#include <thread>

namespace asiarch::lab {
namespace {

using Clock = std::chrono::steady_clock;

struct Tensors {
  torch::Tensor inputs, targets;  // [N, L] int64
};

Tensors to_tensors(const std::vector<Example>& examples) {
  return {token_tensor(examples, &Example::input), token_tensor(examples, &Example::target)};
}

// Forward and backward of one batch, split into `shards` runs on their own
// threads. Each shard's loss is its summed cross-entropy over the batch's
// count of targets, so the shard gradients add up to those of the whole
// batch's mean loss. They are summed here in shard order, so the result does
// not depend on which thread finishes first. Returns the batch's mean loss.
double forward_backward(LanguageModel& model, const torch::Tensor& x, const torch::Tensor& y, int64_t vocab,
                        int shards) {
  namespace F = torch::nn::functional;
  const auto sum_ce = F::CrossEntropyFuncOptions().ignore_index(kIgnore).reduction(torch::kSum);
  const double count = std::max<double>(1.0, (y != kIgnore).sum().item<double>());
  // A shard's share of the mixers' auxiliary terms is its share of the batch, so that the shards'
  // terms add up to the whole batch's.
  const double rows = static_cast<double>(std::max<int64_t>(1, x.size(0)));
  auto loss_of = [&](const torch::Tensor& xi, const torch::Tensor& yi) {
    auto pass = model->forward_with_aux(xi);
    auto loss = F::cross_entropy(pass.logits.reshape({-1, vocab}), yi.reshape({-1}), sum_ce) / count;
    if (pass.aux.defined()) loss = loss + pass.aux.to(loss.dtype()) * (static_cast<double>(xi.size(0)) / rows);
    return loss;
  };
  if (shards <= 1) {
    auto loss = loss_of(x, y);
    const double lv = loss.item<double>();
    if (std::isfinite(lv)) loss.backward();
    return lv;
  }
  const auto params = model->parameters();
  const auto xs = x.chunk(shards, 0), ys = y.chunk(shards, 0);
  std::vector<double> sums(xs.size(), 0);
  std::vector<torch::autograd::variable_list> grads(xs.size());
  std::vector<std::exception_ptr> errors(xs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < xs.size(); ++i)
    threads.emplace_back([&, i] {
      try {
        auto loss = loss_of(xs[i], ys[i]);
        sums[i] = loss.item<double>();
        if (std::isfinite(sums[i]))
          grads[i] = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/false, /*create_graph=*/false,
                                           /*allow_unused=*/true);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  const double total = std::accumulate(sums.begin(), sums.end(), 0.0);
  if (!std::isfinite(total)) return total;
  torch::NoGradGuard no_grad;
  for (size_t j = 0; j < params.size(); ++j) {
    torch::Tensor sum;
    for (const auto& g : grads)
      if (g[j].defined()) sum = sum.defined() ? sum + g[j] : g[j];
    if (sum.defined()) params[j].mutable_grad() = sum;
  }
  return total;
}

double lr_at(const TrainConfig& c, int64_t step) {
  const auto warm = std::max<int64_t>(1, static_cast<int64_t>(c.warmup_frac * static_cast<double>(c.steps)));
  if (step < warm) return c.lr * static_cast<double>(step + 1) / static_cast<double>(warm);
  const double progress = static_cast<double>(step - warm) / static_cast<double>(std::max<int64_t>(1, c.steps - warm));
  const double cosine = 0.5 * (1 + std::cos(M_PI * std::min(1.0, progress)));
  return c.lr * (c.min_lr_frac + (1 - c.min_lr_frac) * cosine);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// Every registered parameter and buffer, copied.
std::vector<torch::Tensor> snapshot(LanguageModel& model) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) out.push_back(b.detach().clone());
  return out;
}

void restore(LanguageModel& model, const std::vector<torch::Tensor>& saved) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : model->parameters()) p.copy_(saved[i++]);
  for (auto& b : model->buffers()) b.copy_(saved[i++]);
}

torch::Tensor eval_logits(LanguageModel& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  model->eval();
  auto y = model->forward(x).detach().clone();
  model->train();
  return y;
}

// Runs `step` (one training step) between two looks at the model on `probe` (rows of the task)
// with its registered state put back as it was: what changed is learning held elsewhere.
ProbeResult probe_parameters(LanguageModel& model, const torch::Tensor& probe, const std::function<void()>& step) {
  const auto t0 = Clock::now();
  ProbeResult r;
  const auto before = snapshot(model);
  const auto y0 = eval_logits(model, probe);
  step();
  const auto after = snapshot(model);
  restore(model, before);
  const auto y1 = eval_logits(model, probe);
  restore(model, after);
  const double scale = std::max(1.0, y0.abs().max().item<double>());
  const double change = (y1 - y0).abs().max().item<double>() / scale;
  if (!std::isfinite(change)) {  // a diverging model: the loss check stops it, this one cannot tell
    r.reason = "not conclusive: the model's output is not finite";
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return r;
  }
  r.max_change = change;
  // The same computation on the same state gives the same output: any change is learning.
  r.passed = r.max_change <= 1e-6;
  r.reason = r.passed ? "the model learns only in its registered parameters (max change " + fmt(r.max_change) + ")"
                      : "the model learns outside its registered parameters: with every parameter and buffer put back, "
                        "its output moved by " + fmt(r.max_change) + " of its scale after one training step";
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

}  // namespace

std::optional<double> loss_at(const Curve& curve, int64_t step) {
  if (curve.empty() || step < curve.front().first) return std::nullopt;
  for (size_t i = 1; i < curve.size(); ++i) {
    if (step <= curve[i].first) {
      const auto& [s0, l0] = curve[i - 1];
      const auto& [s1, l1] = curve[i];
      const double t = s1 == s0 ? 1.0 : static_cast<double>(step - s0) / static_cast<double>(s1 - s0);
      return l0 + t * (l1 - l0);
    }
  }
  return curve.back().second;
}

torch::Tensor token_tensor(const std::vector<Example>& examples, std::vector<int64_t> Example::*field) {
  const int64_t n = static_cast<int64_t>(examples.size());
  const int64_t l = n ? static_cast<int64_t>((examples.front().*field).size()) : 0;
  auto out = torch::empty({n, l}, torch::kLong);
  for (int64_t i = 0; i < n; ++i)
    std::copy((examples[i].*field).begin(), (examples[i].*field).end(), out.data_ptr<int64_t>() + i * l);
  return out;
}

std::optional<Reference> reference_over_seeds(const std::vector<Curve>& curves) {
  if (curves.size() < 2 || curves.front().empty()) return std::nullopt;
  const size_t points = curves.front().size();
  Reference ref;
  ref.seeds = static_cast<int>(curves.size());
  for (size_t i = 0; i < points; ++i) {
    double sum = 0, sq = 0;
    for (const Curve& c : curves) {
      if (c.size() != points || c[i].first != curves.front()[i].first || !std::isfinite(c[i].second)) return std::nullopt;
      sum += c[i].second;
    }
    const double n = static_cast<double>(curves.size()), mean = sum / n;
    for (const Curve& c : curves) sq += (c[i].second - mean) * (c[i].second - mean);
    ref.curve.emplace_back(curves.front()[i].first, mean);
    ref.spread.emplace_back(curves.front()[i].first, std::sqrt(sq / (n - 1)));
  }
  return ref;
}

std::optional<double> early_stop_bound(const Reference& reference, const MonitorConfig& monitor, int64_t step) {
  // One seed says nothing of the noise: on a task with a phase transition (noisy recall on
  // `first`), a design's drop can come 100 steps later on one seed than on another, so a single
  // reference curve would stop designs that end among the best (bench/early_stop_replay).
  if (reference.seeds < 2 || reference.spread.empty()) return std::nullopt;
  const auto mean = loss_at(reference.curve, step);
  if (!mean) return std::nullopt;
  const double sd = loss_at(reference.spread, step).value_or(0.0);
  return *mean + std::max(monitor.stop_sigmas * sd, monitor.stop_min_gap * std::abs(*mean));
}

double worst_metric(const TaskData& task) { return task.metric == Metric::accuracy ? 0 : 8.0; }

bool testable(const TaskResult& r) {
  return std::isfinite(r.final_loss) && !stopped_early(r.stop_reason) && !too_slow(r.stop_reason);
}

TaskResult train(LanguageModel& model, const TaskData& task, const TrainConfig& config,
                 const std::optional<Reference>& reference, const MonitorConfig& monitor, const CurveCallback& on_log) {
  torch::manual_seed(config.seed);
  const MemoryScope memory;
  TaskResult r;
  r.task = task.name;
  r.metric_name = task.metric == Metric::accuracy ? "accuracy" : "bits_per_byte";
  r.stop_reason = "completed";
  // The rows live where the model does; a batch is picked there.
  const auto device = device_of(*model);
  Tensors train = to_tensors(task.train);
  train.inputs = train.inputs.to(device);
  train.targets = train.targets.to(device);
  const int64_t n = train.inputs.size(0), seq = train.inputs.size(1);
  const int64_t batch = std::min(config.batch_size, n);

  std::vector<torch::Tensor> decay, no_decay;
  for (auto& p : model->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                 torch::optim::AdamWOptions(config.lr).weight_decay(config.weight_decay).betas({0.9, 0.95})));
  groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(config.lr).weight_decay(0).betas({0.9, 0.95})));
  torch::optim::AdamW opt(std::move(groups));

  std::mt19937_64 rng(config.seed);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t cursor = n;
  const int64_t log_every = std::max<int64_t>(1, config.steps / std::max<int64_t>(1, config.log_points));
  double window_sum = 0;
  int64_t window_count = 0;
  model->train();
  // Shards split a step over CPU threads; a GPU runs the whole batch.
  const int shards = device.is_cpu() && config.shard_batch && config.threads > 1
                         ? static_cast<int>(std::min<int64_t>(config.threads, batch))
                         : 1;
  // Shards run their ops on one thread each, or they would oversubscribe the
  // cores; LibTorch's count is process-wide, so this is scoped and gives the
  // program's count back for the evaluation below (lab/threads.h).
  std::optional<ScopedComputeThreads> one_per_shard;
  if (shards > 1) one_per_shard.emplace(1);
  size_t next_check = 0;  // the next of monitor.stop_at
  const auto start = Clock::now();
  for (int64_t step = 0; step < config.steps; ++step) {
    if (cursor + batch > n) {
      std::shuffle(order.begin(), order.end(), rng);
      cursor = 0;
    }
    auto idx = torch::from_blob(order.data() + cursor, {batch}, torch::kLong).to(device);
    cursor += batch;
    auto x = train.inputs.index_select(0, idx), y = train.targets.index_select(0, idx);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr_at(config, step));
    opt.zero_grad();
    double lv = 0;
    auto one_step = [&] { lv = forward_backward(model, x, y, task.vocab, shards); };
    // Once, a third of the way in (warm-up over, hidden learning under way): on real rows, so
    // nothing tells the check from training.
    if (step == config.steps / 3 && !r.parameters_probe) {
      r.parameters_probe = probe_parameters(model, x.narrow(0, 0, std::min<int64_t>(4, x.size(0))), one_step);
      if (!r.parameters_probe->passed) {
        r.steps = step + 1;
        r.stop_reason = r.parameters_probe->reason;
        r.final_loss = std::nan("");
        break;
      }
    } else {
      one_step();
    }
    r.steps = step + 1;
    if (!std::isfinite(lv)) {
      r.stop_reason = std::string(kDivergedPrefix) + " " + (std::isnan(lv) ? "NaN" : "infinite") + " at step " +
                      std::to_string(step);
      r.final_loss = lv;
      break;
    }
    torch::nn::utils::clip_grad_norm_(model->parameters(), config.grad_clip);
    opt.step();
    window_sum += lv;
    ++window_count;
    if ((step + 1) % log_every == 0 || step + 1 == config.steps) {
      const double mean = window_sum / static_cast<double>(window_count);
      r.curve.emplace_back(step + 1, mean);
      r.final_loss = mean;
      if (on_log) on_log(step + 1, mean);
      window_sum = 0;
      window_count = 0;
      if (reference) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        // At the last step there is nothing left to save: the run completed, however far behind.
        while (next_check < monitor.stop_at.size() && monitor.stop_at[next_check] * static_cast<double>(config.steps) <=
                                                           static_cast<double>(step + 1)) {
          ++next_check;
          if (!monitor.early_stop || step + 1 >= config.steps) continue;
          const auto bound = early_stop_bound(*reference, monitor, step + 1);
          if (!bound || mean <= *bound) continue;
          const double ref_loss = *loss_at(reference->curve, step + 1);
          r.stop_reason = std::string(kStoppedEarlyPrefix) + " loss " + fmt(mean) + " at step " + std::to_string(step + 1) +
                          " of " + std::to_string(config.steps) + ", above " + fmt(*bound) + " (the reference's " +
                          fmt(ref_loss) + " over " + std::to_string(reference->seeds) +
                          (reference->seeds == 1 ? " seed" : " seeds") + " plus a margin of " + fmt(*bound - ref_loss) + ")";
          break;
        }
        if (lab::stopped_early(r.stop_reason)) break;
        if (reference->seconds > 0 && elapsed > reference->seconds * monitor.time_factor && step + 1 < config.steps) {
          r.stop_reason = std::string(kTooSlowPrefix) + " " + fmt(elapsed) + " s after " + std::to_string(step + 1) + " of " +
                          std::to_string(config.steps) + " steps; the baseline took " + fmt(reference->seconds) +
                          " s in all";
          break;
        }
      }
    }
  }
  r.train_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  one_per_shard.reset();
  r.tokens_per_second = r.train_seconds > 0 ? static_cast<double>(r.steps * batch * seq) / r.train_seconds : 0;
  r.peak_bytes = memory.peak_bytes();
  r.metric = std::nan("");
  return r;
}

TaskResult train_and_evaluate(LanguageModel& model, const TaskData& task, const TrainConfig& config,
                              const std::optional<Reference>& reference, const MonitorConfig& monitor,
                              const CurveCallback& on_log) {
  TaskResult r = train(model, task, config, reference, monitor, on_log);
  r.metric = worst_metric(task);
  if (!testable(r)) return r;
  const auto eval_start = Clock::now();
  r.metric = evaluate(model, task);
  r.eval_seconds = std::chrono::duration<double>(Clock::now() - eval_start).count();
  return r;
}

}  // namespace asiarch::lab
