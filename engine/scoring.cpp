#include "engine/scoring.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lab/names.h"
#include "results/fitness.h"

namespace asiarch::host {
namespace {

agents::FitnessInputs fitness_inputs(const Metrics& m, const Metrics& base) {
  agents::FitnessInputs in;
  in.loss = m.loss;
  in.baseline_loss = base.loss;
  double a = 0, b = 0;
  int n = 0;
  for (const auto& [task, acc] : m.accuracy)
    if (auto it = base.accuracy.find(task); it != base.accuracy.end()) {
      a += acc;
      b += it->second;
      ++n;
    }
  if (n) {
    in.accuracy = a / n;
    in.baseline_accuracy = b / n;
  }
  return in;
}

}  // namespace

std::vector<archive::TrainingRun> training_runs(const lab::EvalReport& report, const WorkerJob& job) {
  std::vector<archive::TrainingRun> runs;
  for (const auto& t : report.tasks) {
    archive::TrainingRun r;
    r.preset = report.preset;
    r.task = t.task;
    r.config = {{"seed", job.seed}, {"mixer_options", job.mixer_options}, {"train_seconds", t.train_seconds},
                {"eval_seconds", t.eval_seconds}};
    r.curve = t.curve;
    r.metric_name = t.metric_name;
    r.metric = t.metric;
    if (std::isfinite(t.final_loss)) r.final_loss = t.final_loss;
    r.steps = t.steps;
    r.tokens_per_second = t.tokens_per_second;
    r.seconds = t.train_seconds + t.eval_seconds;
    r.stop_reason = t.stop_reason;
    r.peak_bytes = std::max<int64_t>(0, t.peak_bytes);  // the worker's figure, shown only
    runs.push_back(std::move(r));
  }
  return runs;
}

namespace {

// The task's failed causality probe, the worker's (on the states) or the host's (on the test logits).
const lab::ProbeResult* failed_probe(const lab::TaskResult& t) {
  for (const auto* p : {&t.causality_probe, &t.test_probe})
    if (*p && !(*p)->passed) return &**p;
  return nullptr;
}

}  // namespace

std::optional<RuntimeProblem> runtime_problem(const WorkerOutcome& o) {
  if (!o.failure.empty()) return RuntimeProblem{"worker", o.failure};
  if (!o.result.report) return std::nullopt;  // a setup error, not the candidate's
  const auto& r = *o.result.report;
  for (const auto& g : r.gates)
    if (!g.passed) return RuntimeProblem{"gates", "gate " + g.name + " failed: " + g.reason};
  for (const auto& t : r.tasks)
    if (t.stop_reason.rfind("plugin threw", 0) == 0 || lab::diverged(t.stop_reason) ||
        failed_probe(t))
      return RuntimeProblem{"training", "task " + t.task + ": " + t.stop_reason};
  return std::nullopt;
}

archive::Outcome interpret_evaluation(const WorkerOutcome& o, const WorkerJob& job) {
  archive::Outcome rec;
  const lab::EvalReport* report = o.result.report ? &*o.result.report : nullptr;
  if (report) {
    for (const auto& g : report->gates) rec.gates.push_back({g.name, g.passed, g.reason, g.details});
    rec.runs = training_runs(*report, job);
  }
  rec.status = archive::ExperimentStatus::failed;
  if (!o.failure.empty()) {
    rec.fail_reason = o.failure;
  } else if (!o.result.built()) {
    rec.fail_reason = "did not build in the evaluating worker";
  } else if (!report) {
    rec.fail_reason = o.result.error.empty() ? "no report" : o.result.error;
  } else if (!report->gates_passed) {
    for (const auto& g : report->gates)
      if (!g.passed) {
        rec.fail_reason = "gate " + g.name + " failed: " + g.reason;
        break;
      }
  } else {
    rec.status = archive::ExperimentStatus::scored;
    // A run the monitor stopped early keeps its figures but is never scored: a partial metric is
    // not a measurement, and its design must not be drawn as a parent on one.
    for (const auto& t : report->tasks)
      if (lab::stopped_early(t.stop_reason)) {
        rec.status = archive::ExperimentStatus::stopped;
        rec.fail_reason = "task " + t.task + ": " + t.stop_reason;
        break;
      }
    // A trained model that reads the future is not scored, whatever its metrics.
    for (const auto& t : report->tasks)
      if (const auto* p = failed_probe(t)) {
        rec.status = archive::ExperimentStatus::failed;
        rec.fail_reason = "task " + t.task + ": causality probe failed: " + p->reason;
        break;
      }
  }
  return rec;
}

std::vector<std::string> reward_hacking_flags(const std::vector<archive::TrainingRun>& runs, const Metrics& bound) {
  std::vector<std::string> flags;
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return std::string(buf);
  };
  const Metrics m = metrics_of(runs);
  if (m.loss && bound.loss && *m.loss < 0.9 * *bound.loss)
    flags.push_back("loss " + num(*m.loss) + " bits per byte is more than 10% below the best baseline's " +
                    num(*bound.loss));
  for (const auto& [task, acc] : m.accuracy)
    if (auto it = bound.accuracy.find(task); it != bound.accuracy.end() && acc > it->second + kAccuracyJump)
      flags.push_back("accuracy on " + task + " " + num(acc) + " jumps beyond the best baseline's " + num(it->second) +
                      " at the same budget");
  for (const auto& r : runs)
    if (r.metric_name == "bits_per_byte" && r.final_loss && std::isfinite(r.metric) && *r.final_loss > 0 &&
        r.metric * std::log(2.0) < 0.8 * *r.final_loss)
      flags.push_back("test loss on " + r.task + " (" + num(r.metric * std::log(2.0)) +
                      " nats) is far below its final training loss (" + num(*r.final_loss) + "): a leak");
  return flags;
}

agents::JudgeInput judge_input(agents::JudgeInput input) {
  if (!input.reference_parameters && input.report) input.reference_parameters = input.report->mixer_parameters;
  return input;
}

Result<FitnessBase> choose_fitness_base(const std::map<std::string, Metrics>& baselines, const std::string& reference,
                                        const std::string& scale) {
  auto dn = baselines.find(lab::kReferenceDesign);
  if (dn == baselines.end())
    return make_error(std::string("fitness_reference: the reference design ") + lab::kReferenceDesign +
                      " was not measured, and every base is chosen by its gain over it");
  FitnessBase base{dn->first, dn->second};
  if (reference == kStrongestBaseline) {
    double best = 1.0;  // DeltaNet against itself
    for (const auto& [name, m] : baselines) {
      const auto f = agents::fitness(fitness_inputs(m, dn->second));
      if (f.loss_score + f.bench_score > best + 1e-12) {
        best = f.loss_score + f.bench_score;
        base = {name, m};
      }
    }
  } else {
    auto it = baselines.find(reference);
    if (it == baselines.end()) {
      std::string measured;
      for (const auto& [name, m] : baselines) measured += (measured.empty() ? "" : ", ") + name;
      return make_error("fitness_reference: \"" + reference + "\" is not among the measured baselines (" + measured +
                        "); name one of them or \"" + kStrongestBaseline + "\"");
    }
    base = {it->first, it->second};
  }
  if (scale == "spread" && base.name != dn->first) {
    // The relative distance from DeltaNet to the base, per part, within [1%, 10%].
    const auto in = fitness_inputs(dn->second, base.metrics);
    auto spread = [](const std::optional<double>& ref, const std::optional<double>& b) {
      if (!ref || !b || *b <= 0) return 0.1;
      return std::clamp(std::abs(*ref - *b) / *b, 0.01, 0.1);
    };
    base.loss_scale = spread(in.loss, in.baseline_loss);
    base.accuracy_scale = spread(in.accuracy, in.baseline_accuracy);
  }
  return base;
}

namespace {

void fill_measured(archive::Score& s, const agents::FitnessInputs& in, const agents::Fitness& f, const FitnessBase& base) {
  s.loss_score = f.loss_score;
  s.bench_score = f.bench_score;
  s.total = s.loss_score + s.bench_score + s.judge_score;
  s.details["loss_score"] = f.loss_score;
  s.details["bench_score"] = f.bench_score;
  s.details["total"] = s.total;
  s.details["fitness_reference"] = base.name;
  s.details["loss_scale"] = base.loss_scale;
  s.details["accuracy_scale"] = base.accuracy_scale;
  if (in.loss) s.details["loss"] = *in.loss;
  if (in.baseline_loss) s.details["baseline_loss"] = *in.baseline_loss;
  if (in.accuracy) s.details["accuracy"] = *in.accuracy;
  if (in.baseline_accuracy) s.details["baseline_accuracy"] = *in.baseline_accuracy;
}

agents::FitnessInputs scaled_inputs(const Metrics& own, const FitnessBase& base) {
  auto in = fitness_inputs(own, base.metrics);
  in.loss_scale = base.loss_scale;
  in.accuracy_scale = base.accuracy_scale;
  return in;
}

}  // namespace

archive::Score rescore(archive::Score old, const Metrics& own, const FitnessBase& base) {
  const auto in = scaled_inputs(own, base);
  fill_measured(old, in, agents::fitness(in), base);
  return old;
}

archive::Score score(const agents::Judgement& judgement, const std::vector<archive::TrainingRun>& runs,
                     const FitnessBase& base, const Metrics& bound) {
  auto in = scaled_inputs(metrics_of(runs), base);
  in.judge = judgement.score;
  const auto f = agents::fitness(in);
  archive::Score s{f.loss_score, f.bench_score, f.judge_score, f.total, agents::to_json(f)};
  s.details["judge"] = judgement.parts;
  s.details["judge_score_1_10"] = judgement.score;
  fill_measured(s, in, f, base);
  for (const auto& f : reward_hacking_flags(runs, bound)) s.flag(f);
  return s;
}

}  // namespace asiarch::host
