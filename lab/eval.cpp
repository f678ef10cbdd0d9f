#include "lab/eval.h"

#include <chrono>
#include <cmath>
#include <optional>
#include <sstream>

#include <asiarch/plugin.h>

#include "lab/names.h"

namespace asiarch::lab {
namespace {

// A task that ran but cannot be trusted: failed with the worst metric, the rest of the report kept.
void fail_task(TaskResult& r, const TaskData& data, const std::string& why) {
  r.metric = data.metric == Metric::accuracy ? 0 : 8;
  r.stop_reason = why;
}

// JSON has no NaN: non-finite curve points are dropped, so one cannot make the report unreadable.
Curve finite_points(const Curve& c) {
  Curve out;
  for (const auto& p : c)
    if (std::isfinite(p.second)) out.push_back(p);
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, nlohmann::json>>> select_tasks(const Preset& preset,
                                                                         const std::vector<std::string>& names) {
  if (names.empty()) return preset.tasks;
  std::vector<std::pair<std::string, nlohmann::json>> out;
  for (const auto& n : names) {
    auto it = std::find_if(preset.tasks.begin(), preset.tasks.end(), [&](const auto& t) { return t.first == n; });
    if (it == preset.tasks.end()) {
      std::string valid;
      for (const auto& t : preset.tasks) valid += (valid.empty() ? "" : ", ") + t.first;
      return make_error("unknown task \"" + n + "\" for preset " + preset.name + "; valid tasks: " + valid);
    }
    out.push_back(*it);
  }
  return out;
}

Result<EvalReport> evaluate_mixer(const std::string& mixer_name, const MixerFactory& make_mixer,
                                  const Preset& preset, const EvalOptions& options) {
  auto tasks = select_tasks(preset, options.tasks);
  if (!tasks) return tasks.error();
  const auto start = std::chrono::steady_clock::now();
  auto say = [&](const nlohmann::json& m) {
    if (options.progress) options.progress(m);
  };
  EvalReport report;
  report.mixer = mixer_name;
  report.preset = preset.name;

  GateConfig gc;
  gc.d_model = preset.model.d_model;
  gc.num_heads = preset.model.num_heads;
  gc.mixer_options = options.mixer_options;
  gc.seed = options.seed;
  gc.lengths = preset.gate_lengths;
  gc.declared_quadratic = options.declared_quadratic;
  gc.reference_parameters = options.reference_parameters;
  gc.parameter_tolerance = preset.parameter_tolerance;
  gc.num_layers = preset.model.num_layers;
  gc.mark = options.timing_mark;
  gc.device = options.device;
  if (options.run_gates) {
    say({{"kind", "gates_started"}});
    const auto gates_start = std::chrono::steady_clock::now();
    report.gates = run_gates(make_mixer, gc);
    report.gates_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - gates_start).count();
  }
  report.gates_passed = all_passed(report.gates);
  for (const auto& g : report.gates) {
    if (g.name == "parameter_budget" && g.details.contains("parameters"))
      report.mixer_parameters = g.details["parameters"].get<int64_t>();
    say({{"kind", "gate"}, {"name", g.name}, {"passed", g.passed}, {"reason", g.reason}});
  }
  if (report.gates_passed) {
    MonitorConfig monitor = preset.monitor;
    monitor.early_stop = options.early_stop && monitor.early_stop;
    for (const auto& [task_name, settings] : *tasks) {
      std::optional<TaskData> generated;
      auto given = options.given_tasks.find(task_name);
      if (given == options.given_tasks.end()) {
        if (options.test_sink) return make_error("task " + task_name + " was not given (its test is scored elsewhere)");
        auto made = make_task(task_name, settings, options.seed, options.corpus);
        if (!made) return made.error();
        generated = std::move(*made);
      }
      const TaskData* data = generated ? &*generated : &given->second;
      ModelConfig mc = preset.model;
      mc.vocab = data->vocab;
      mc.decode_length = data->decode_from_last ? data->seq_len : 0;
      mc.seed = options.seed;
      mc.mixer_options = options.mixer_options;
      TrainConfig tc = train_config_for(preset, settings);
      tc.seed = options.seed;
      say({{"kind", "task_started"}, {"task", task_name}, {"steps", tc.steps}});
      TaskResult r;
      // A plugin that throws ends its task with the message as the stop reason.
      bool logits_sent = false;
      auto plugin_threw = [&](const std::string& what) {
        r.task = task_name;
        r.metric_name = data->metric == Metric::accuracy ? "accuracy" : "bits_per_byte";
        r.metric = data->metric == Metric::accuracy ? 0 : 8;
        r.stop_reason = "plugin threw: " + what;
      };
      try {
        LanguageModel model(mc, make_mixer);
        model->to(options.device);
        auto ref = options.references.find(task_name);
        r = train(model, *data, tc, ref == options.references.end() ? std::nullopt : std::optional<Reference>(ref->second),
                  monitor, [&](int64_t step, double loss) {
                    say({{"kind", "training_progress"}, {"task", task_name}, {"step", step}, {"steps", tc.steps},
                         {"loss", loss}});
                  });
        r.metric = worst_metric(*data);
        // A run stopped early or for its time is not tested: its partial metric would be read as a
        // score. It keeps the worst metric (above).
        if (testable(r)) {
          // Eval mode without grad is how test logits are made: with a test sink, the probe rows
          // among the test rows check it where it matters, outside this process.
          r.causality_probe = probe_causality(model, *data, tc.batch_size, options.seed, 1e-4, !options.test_sink);
          if (!r.causality_probe->passed) {
            fail_task(r, *data, r.causality_probe->reason);
          } else {
            const auto eval_start = std::chrono::steady_clock::now();
            if (options.test_sink) {
              auto inputs = token_tensor(data->test, &Example::input);
              predict(model, inputs, [&](int64_t first, const torch::Tensor& logits) {
                options.test_sink(task_name, first, logits);
              });
              logits_sent = true;
              r.metric = std::nan("");  // scored by whoever holds the targets
            } else {
              r.metric = evaluate(model, *data);
            }
            r.eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
          }
        }
      } catch (const c10::Error& e) {
        plugin_threw(e.what_without_backtrace());
      } catch (const std::exception& e) {
        plugin_threw(e.what());
      }
      // Sent logits are scored by the host (the metric is not known here); a run stopped early by
      // the monitor keeps its own reason.
      if (!std::isfinite(r.metric) && !logits_sent) fail_task(r, *data, "non-finite metric");
      say({{"kind", "task_finished"}, {"task", task_name}, {"metric_name", r.metric_name},
           {"metric", std::isfinite(r.metric) ? nlohmann::json(r.metric) : nlohmann::json(nullptr)},
           {"steps", r.steps}, {"stop_reason", r.stop_reason}});
      const bool stop = stopped_early(report.tasks.emplace_back(std::move(r)).stop_reason);
      if (stop) break;  // the evaluation stops with it: its later tasks would be spent on a loser
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

Reference reference_from(const TaskResult& r) {
  Reference ref;
  ref.curve = r.curve;
  ref.seconds = r.train_seconds;
  return ref;
}

void to_json(nlohmann::json& j, const TaskResult& r) {
  j = {{"task", r.task}, {"metric_name", r.metric_name}, {"metric", r.metric}, {"final_loss", r.final_loss},
       {"steps", r.steps}, {"tokens_per_second", r.tokens_per_second}, {"train_seconds", r.train_seconds},
       {"eval_seconds", r.eval_seconds}, {"peak_bytes", r.peak_bytes}, {"stop_reason", r.stop_reason},
       {"curve", finite_points(r.curve)}};
  if (r.causality_probe) j["causality_probe"] = *r.causality_probe;
  if (r.parameters_probe) j["parameters_probe"] = *r.parameters_probe;
  if (r.test_probe) j["test_probe"] = *r.test_probe;
  if (r.scored_by_host) j["scored_by_host"] = true;
  if (!std::isfinite(r.metric)) j["metric"] = nullptr;
  // JSON has no NaN: a diverged loss is recorded as null.
  if (!std::isfinite(r.final_loss)) j["final_loss"] = nullptr;
}

void from_json(const nlohmann::json& j, TaskResult& r) {
  r.task = j.at("task");
  r.metric_name = j.at("metric_name");
  r.metric = j.at("metric").is_null() ? std::nan("") : j.at("metric").get<double>();
  r.final_loss = j.at("final_loss").is_null() ? std::nan("") : j.at("final_loss").get<double>();
  r.steps = j.at("steps");
  r.tokens_per_second = j.at("tokens_per_second");
  r.train_seconds = j.at("train_seconds");
  r.eval_seconds = j.value("eval_seconds", 0.0);
  r.peak_bytes = j.value("peak_bytes", std::int64_t{0});
  r.stop_reason = j.at("stop_reason");
  r.curve = j.at("curve").get<Curve>();
  if (j.contains("causality_probe")) r.causality_probe = j.at("causality_probe").get<ProbeResult>();
  if (j.contains("parameters_probe")) r.parameters_probe = j.at("parameters_probe").get<ProbeResult>();
  if (j.contains("test_probe")) r.test_probe = j.at("test_probe").get<ProbeResult>();
  r.scored_by_host = j.value("scored_by_host", false);
}

void to_json(nlohmann::json& j, const EvalReport& r) {
  j = {{"mixer", r.mixer}, {"preset", r.preset}, {"mixer_parameters", r.mixer_parameters}, {"gates", r.gates},
       {"gates_passed", r.gates_passed}, {"tasks", r.tasks}, {"seconds", r.seconds},
       {"gates_seconds", r.gates_seconds}};
}

void from_json(const nlohmann::json& j, EvalReport& r) {
  r.mixer = j.at("mixer");
  r.preset = j.at("preset");
  r.mixer_parameters = j.at("mixer_parameters");
  r.gates = j.at("gates").get<std::vector<GateResult>>();
  r.gates_passed = j.at("gates_passed");
  r.tasks = j.at("tasks").get<std::vector<TaskResult>>();
  r.seconds = j.at("seconds");
  r.gates_seconds = j.value("gates_seconds", 0.0);
}

std::string describe_progress(const nlohmann::json& m) {
  const std::string kind = m.value("kind", "");
  char buf[512];
  if (kind == "gates_started") return "gates: running";
  if (kind == "gate")
    return "gate " + m.value("name", "") + ": " + (m.value("passed", false) ? "pass" : "FAIL") + " (" +
           m.value("reason", "") + ")";
  if (kind == "task_started")
    return "task " + m.value("task", "") + ": training " + std::to_string(m.value("steps", 0)) + " steps";
  if (kind == "training_progress") {
    std::snprintf(buf, sizeof buf, "task %s: step %lld/%lld, loss %.4f", m.value("task", "").c_str(),
                  static_cast<long long>(m.value("step", 0)), static_cast<long long>(m.value("steps", 0)),
                  m.value("loss", 0.0));
    return buf;
  }
  if (kind == "task_finished") {
    const double metric = m["metric"].is_number() ? m["metric"].get<double>() : std::nan("");
    std::snprintf(buf, sizeof buf, "task %s: %s %.4f after %lld steps (%s)", m.value("task", "").c_str(),
                  m.value("metric_name", "").c_str(), metric, static_cast<long long>(m.value("steps", 0)),
                  m.value("stop_reason", "").c_str());
    return buf;
  }
  return m.dump();
}

std::string trained_probe_failure(const EvalReport& r) {
  for (const auto& t : r.tasks) {
    if (t.parameters_probe && !t.parameters_probe->passed) return t.task + ": " + t.parameters_probe->reason;
    if (t.causality_probe && !t.causality_probe->passed) return t.task + ": " + t.causality_probe->reason;
    if (t.test_probe && !t.test_probe->passed) return t.task + ": " + t.test_probe->reason;
  }
  return "";
}

std::string format_report(const EvalReport& r) {
  std::ostringstream out;
  char buf[512];
  out << "mixer " << r.mixer << " on preset " << r.preset << ": " << r.mixer_parameters
      << " parameters per mixer\n\ngates\n";
  for (const auto& g : r.gates) {
    std::snprintf(buf, sizeof buf, "  %-20s %-5s %s\n", g.name.c_str(), g.passed ? "pass" : "FAIL", g.reason.c_str());
    out << buf;
  }
  if (!r.gates_passed) {
    out << "\ngates failed: not trained\n";
    return out.str();
  }
  std::snprintf(buf, sizeof buf, "\n  %-24s %-14s %9s %7s %10s %8s  %s\n", "task", "metric", "value", "steps",
                "tokens/s", "time s", "stop");
  out << buf;
  for (const auto& t : r.tasks) {
    std::snprintf(buf, sizeof buf, "  %-24s %-14s %9.4f %7lld %10.0f %8.1f  %s\n", t.task.c_str(),
                  t.metric_name.c_str(), t.metric, static_cast<long long>(t.steps), t.tokens_per_second,
                  t.train_seconds + t.eval_seconds, t.stop_reason.c_str());
    out << buf;
  }
  std::snprintf(buf, sizeof buf, "\ntotal %.1f s\n", r.seconds);
  out << buf;
  if (const auto why = trained_probe_failure(r); !why.empty())
    out << "\nNOT SOUND: the trained model failed a probe (" << why << ")\n";
  return out.str();
}

}  // namespace asiarch::lab
