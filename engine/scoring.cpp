#include "engine/scoring.h"

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

archive::Score score(const agents::Judgement& judgement, const std::vector<archive::TrainingRun>& runs,
                     const Metrics& base, const Metrics& bound) {
  auto in = fitness_inputs(metrics_of(runs), base);
  in.judge = judgement.score;
  const auto f = agents::fitness(in);
  archive::Score s{f.loss_score, f.bench_score, f.judge_score, f.total, agents::to_json(f)};
  s.details["judge"] = judgement.parts;
  s.details["judge_score_1_10"] = judgement.score;
  if (in.loss) s.details["loss"] = *in.loss;
  if (in.baseline_loss) s.details["baseline_loss"] = *in.baseline_loss;
  if (in.accuracy) s.details["accuracy"] = *in.accuracy;
  if (in.baseline_accuracy) s.details["baseline_accuracy"] = *in.baseline_accuracy;
  for (const auto& f : reward_hacking_flags(runs, bound)) s.flag(f);
  return s;
}

}  // namespace asiarch::host
