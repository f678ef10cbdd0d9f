#include "bench/synthetic_archive.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "archive/archive.h"

namespace asiarch::bench {

Status fill_synthetic_archive(const std::filesystem::path& dir, int n) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  auto a = archive::Archive::open(dir / "archive.db");
  if (!a) return a.error();
  const std::string body(3000, 'x');
  static const char* const kBaselines[] = {"delta_net", "gated_delta_net", "linear_attention", "retnet"};
  for (int i = 1; i <= n; ++i) {
    archive::Experiment e;
    e.origin = i <= 4 ? archive::Origin::baseline : archive::Origin::evolved;
    e.name = i <= 4 ? kBaselines[i - 1] : "design_" + std::to_string(i);
    e.motivation = "synthetic design " + std::to_string(i) + (i % 97 == 0 ? " with a rare gate" : "");
    e.source = "// " + e.name + "\n" + body + std::to_string(i) + "\n";
    e.source_hash = "synthetic-" + std::to_string(i);
    if (i > 4) e.parent = std::max(1, i - 1 - (i % 10));
    auto id = (*a)->add_experiment(e);
    if (!id) return id.error();
    archive::Outcome o;
    archive::CompileAttempt c;
    c.attempt = 1;
    c.source = e.source;
    c.seconds = 1.5;
    c.ok = i % 4 != 0 || i <= 4;
    if (!c.ok) {
      auto d = jit::make_diagnostic(jit::Stage::compile, jit::Severity::error, e.name + ".cpp",
                                    "cannot initialize a variable of type 'int' with an rvalue of type 'torch::Tensor'");
      d.line = 39;
      d.column = 13;
      d.source_line = "    int gate = torch::sigmoid(x);";
      c.diagnostics.items.push_back(d);
    }
    o.attempts.push_back(c);
    o.status = c.ok ? archive::ExperimentStatus::scored : archive::ExperimentStatus::failed;
    o.fail_reason = c.ok ? "" : "did not build after 1 attempt";
    o.timing = {{"wall", 30.0 + i % 17}, {"compile", 1.5}};
    if (c.ok) {
      o.gates = {{"causality", true, "", nlohmann::json::object()}, {"parameters", true, "", nlohmann::json::object()}};
      archive::TrainingRun r;
      r.preset = "explore";
      r.task = "mqar";
      r.metric_name = "accuracy";
      r.metric = 0.3 + (i % 50) / 100.0;
      r.steps = 200;
      r.seconds = 20;
      r.tokens_per_second = 5000;
      r.peak_bytes = (20 + i % 5) * 1048576;
      r.stop_reason = "completed";
      for (int s = 10; s <= 200; s += 10) r.curve.push_back({s, 5.5 * std::exp(-s / (80.0 + i % 40)) + 0.5});
      o.runs.push_back(r);
      // Three seeds, each a little off the mean (by -0.01, 0 or +0.01): intervals to show.
      for (std::uint64_t seed = 0; seed < 3; ++seed)
        o.measurements.push_back({r.preset, seed, r.task, r.metric_name,
                                  r.metric + 0.01 * (static_cast<int>((i + seed) % 3) - 1), r.tokens_per_second, r.seconds,
                                  r.stop_reason});
      // The reference scores 1.0 + judge; a design above it beats DeltaNet.
      const double total = i == 1 ? 1.5 : 1.0 + (i * 7919 % 1000) / 1000.0;
      o.score = archive::Score{0.5, 0.5, 0.5, total, nlohmann::json::object()};
    }
    if (auto s = (*a)->record_outcome(*id, o); !s) return s.error();
    if (i % 10 == 5) {
      archive::LlmCall call;
      call.experiment = *id;
      call.time = "2026-12-02T12:00:00.000Z";
      call.role = "researcher";
      call.purpose = "propose";
      call.model = "synthetic-model";
      call.template_name = "researcher";
      call.template_version = 1;
      call.key = "synthetic-" + std::to_string(i);
      call.response = "<think>try a gate</think>\nName: " + e.name + "\n```cpp\n" + e.source + "```";
      call.prompt_tokens = 1200;
      call.completion_tokens = 800;
      call.cost_usd = 0.004;
      call.http_status = 200;
      call.outcome = "parsed: full file";
      if (auto r = (*a)->add_llm_call(call); !r) return r.error();
    }
  }
  return Ok{};
}

}  // namespace asiarch::bench
