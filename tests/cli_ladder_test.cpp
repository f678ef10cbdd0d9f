// Results a researcher can believe, end to end through `asiarch run`: every seed's metrics are
// stored and fitness is measured on their mean; the ladder keeps the best share of each rung and
// reports how well a rung's order predicts the next (Spearman); the held-out tasks are evaluated
// only once the search and the ladder are over; `compare` and `ladder` read it all back.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "archive/archive.h"
#include "cli_run.h"
#include "lab/stats.h"

namespace fs = std::filesystem;
using asiarch::testing::fresh_dir;
using asiarch::testing::json_of;
using asiarch::testing::run_cli;
using asiarch::testing::text_of;
namespace ar = asiarch::archive;

namespace {

std::optional<double> stage_fitness(const ar::Archive& a, int64_t id, const std::string& preset) {
  for (const auto& st : a.stages(id))
    if (st.preset == preset && st.status == asiarch::archive::ExperimentStatus::scored) return st.score.total;
  return std::nullopt;
}

}  // namespace

TEST(CliLadder, SeedsLadderAndHeldOutTasksEndToEnd) {
  const auto w = fresh_dir("ladder");
  std::ofstream(w / "asiarch.json")
      << R"({"baselines": ["delta_net", "linear_attention"], "stage_baselines": ["linear_attention"],
             "tasks": ["compression", "byte_lm"], "timeout_seconds": 120})";
  // smoke with held-out tasks (other generator settings, byte LM on the second corpus) and a
  // longer copy of smoke as the ladder's second rung.
  auto presets = nlohmann::json::parse(text_of(fs::path(ASIARCH_SOURCE_DIR) / "lab" / "presets.json"));
  presets["smoke"]["held_out"] = {
      {"seed_offset", 500},
      {"tasks",
       {{"compression", {{"vocab", 12}, {"seq_len", 20}, {"train_examples", 640}, {"test_examples", 64}}},
        {"byte_lm", {{"corpus", "fortunes"}, {"seq_len", 64}, {"train_examples", 640}, {"test_examples", 32}}}}}};
  presets["rung2"] = presets["smoke"];
  presets["rung2"].erase("held_out");
  presets["rung2"]["train"]["steps"] = 60;
  std::ofstream(w / "presets.json") << presets.dump(2);
  const std::string cmd = "run --workdir " + w.string() + " --budget 4 --preset smoke --seed 3 --presets " +
                          (w / "presets.json").string() +
                          " --seeds 2 --ladder rung2 --promote-share 0.5 --stage-seeds 2 --held-out 1";
  auto r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("TEST-ONLY preset smoke"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("± is a 95% interval over seeds"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ladder rung rung2:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("held-out tasks, smoke/held-out (never used for selection):"), std::string::npos) << r.output;
  // "Best" is by fitness: the line under it gives the paired verdict against DeltaNet.
  const auto best_at = r.output.find("\nbest design: #");
  ASSERT_NE(best_at, std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nagainst DeltaNet, paired by seed: ", best_at), std::string::npos) << r.output;

  auto opened = ar::Archive::open_read_only(w / "archive.db");
  ASSERT_TRUE(opened) << opened.error().message;
  const ar::Archive& a = **opened;
  int64_t ref = 0, la = 0;
  std::vector<std::pair<double, int64_t>> evolved;  // scored, not suspicious: the ladder's candidates
  for (const auto& e : a.experiments()) {
    if (e.name == "delta_net") ref = e.id;
    if (e.name == "linear_attention") la = e.id;
    auto s = a.score(e.id);
    if (!s) continue;
    // Every seed's metric, per task, on the run's preset; the first seed's also as the training run.
    std::map<std::uint64_t, int> per_seed;
    for (const auto& m : a.measurements(e.id))
      if (m.preset == "smoke") ++per_seed[m.seed];
    EXPECT_EQ(per_seed, (std::map<std::uint64_t, int>{{3, 2}, {4, 2}})) << e.name;
    for (const auto& run : a.training_runs(e.id)) {
      if (run.preset != "smoke") continue;
      bool found = false;
      for (const auto& m : a.measurements(e.id))
        found = found || (m.preset == "smoke" && m.seed == 3 && m.task == run.task && m.metric == run.metric);
      EXPECT_TRUE(found) << e.name << " " << run.task;
    }
    EXPECT_EQ(s->details.value("seeds", 0), 2) << s->details.dump();
    if (e.origin == ar::Origin::evolved) {
      ASSERT_TRUE(s->details.contains("against_reference")) << s->details.dump();
      EXPECT_EQ(s->details["against_reference"]["pairs"], 2);
      if (!s->suspicious) evolved.emplace_back(s->total, e.id);
    }
  }
  ASSERT_GT(ref, 0);
  ASSERT_GT(la, 0);
  ASSERT_FALSE(evolved.empty());
  // The stage baseline is compared with each candidate on the rung, paired by seed.
  EXPECT_NE(r.output.find("against linear_attention (#" + std::to_string(la) + "), paired by seed:"), std::string::npos)
      << r.output;
  std::stable_sort(evolved.begin(), evolved.end(), [](const auto& l, const auto& r) { return l.first > r.first; });

  // The rung: DeltaNet, the stage baseline and the best ceil(0.5 n) evolved designs, each on two seeds.
  const size_t keep = (evolved.size() + 1) / 2;
  std::set<int64_t> on_rung, expected = {ref, la};
  for (size_t i = 0; i < keep; ++i) expected.insert(evolved[i].second);
  for (const auto& e : a.experiments())
    for (const auto& st : a.stages(e.id))
      if (st.preset == "rung2") {
        on_rung.insert(e.id);
        if (st.status != asiarch::archive::ExperimentStatus::scored) continue;
        std::set<std::uint64_t> seeds;
        for (const auto& m : st.measurements) seeds.insert(m.seed);
        EXPECT_EQ(seeds, (std::set<std::uint64_t>{3, 4})) << e.name;
      }
  EXPECT_EQ(on_rung, expected);

  // The rank correlation the run reported is Spearman's over the designs scored on both rungs.
  std::vector<double> x, y;
  for (int64_t id : on_rung)
    if (auto f = stage_fitness(a, id, "rung2")) {
      x.push_back(a.score(id)->total);
      y.push_back(*f);
    }
  const auto rho = asiarch::lab::spearman(x, y);
  std::optional<ar::Event> rung_event;
  int64_t last_evolved_scored = 0, last_rung_seq = 0, first_held_out = 0;
  std::set<int64_t> held_out_ids;
  for (int64_t seq = 0;;) {
    auto batch = a.events_since(seq);
    if (batch.empty()) break;
    seq = batch.back().seq;
    for (const auto& ev : batch) {
      if (ev.kind == "ladder_rung") rung_event = ev;
      if (ev.kind == "scored") last_evolved_scored = ev.seq;
      const std::string stage = ev.data.value("stage_preset", "");
      if (stage == "rung2") last_rung_seq = ev.seq;
      if (stage == "smoke/held-out" && ev.kind == "promoted") {
        if (!first_held_out) first_held_out = ev.seq;
        held_out_ids.insert(*ev.experiment);
      }
    }
  }
  ASSERT_TRUE(rung_event);
  EXPECT_EQ(rung_event->data["pairs"].get<size_t>(), x.size());
  if (rho) EXPECT_NEAR(rung_event->data["spearman"].get<double>(), *rho, 1e-12);
  else EXPECT_TRUE(rung_event->data["spearman"].is_null());

  // The held-out tasks: DeltaNet, the stage baseline and the best evolved design, after every
  // selection was made.
  EXPECT_EQ(held_out_ids, (std::set<int64_t>{ref, la, evolved[0].second}));
  EXPECT_GT(first_held_out, last_evolved_scored);
  EXPECT_GT(first_held_out, last_rung_seq);
  for (int64_t id : held_out_ids)
    for (const auto& st : a.stages(id))
      if (st.preset == "smoke/held-out") {
        ASSERT_EQ(st.status, asiarch::archive::ExperimentStatus::scored) << st.fail_reason;
        std::set<std::string> tasks;
        std::set<std::uint64_t> seeds;
        for (const auto& m : st.measurements) {
          tasks.insert(m.task);
          seeds.insert(m.seed);
        }
        EXPECT_EQ(tasks, (std::set<std::string>{"compression", "byte_lm"}));
        EXPECT_EQ(seeds, (std::set<std::uint64_t>{503, 504}));  // the generator seeds are other ones
      }

  // compare: the best evolved design against DeltaNet, paired over the two stored seeds.
  const auto best = std::to_string(evolved[0].second);
  auto cmp = json_of("compare " + best + " " + std::to_string(ref) + " --workdir " + w.string());
  EXPECT_EQ(cmp["preset"], "smoke");
  EXPECT_EQ(cmp["a_minus_b"]["pairs"], 2);
  EXPECT_EQ(cmp["a_minus_b"]["verdict"], a.score(evolved[0].second)->details["against_reference"]["verdict"]);
  auto text = run_cli("compare " + best + " " + std::to_string(ref) + " --workdir " + w.string() + " --preset rung2");
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("on rung2, 2 seed(s) measured on both"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("verdict: "), std::string::npos) << text.output;
  auto missing = run_cli("compare " + best + " " + std::to_string(ref) + " --workdir " + w.string() + " --preset verify");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.output.find("has no measurements on verify"), std::string::npos) << missing.output;

  // ladder: the two rungs, the second with the run's Spearman.
  auto ladder = json_of("ladder --workdir " + w.string());
  ASSERT_EQ(ladder.size(), 2u) << ladder.dump();
  EXPECT_EQ(ladder[0]["preset"], "smoke");
  EXPECT_EQ(ladder[1]["preset"], "rung2");
  EXPECT_EQ(ladder[1]["spearman_with_below"], rung_event->data["spearman"]);

  // top --pareto: no design on the front is beaten on loss, accuracy and throughput together by any scored design.
  auto front = json_of("top --pareto --workdir " + w.string());
  ASSERT_FALSE(front.empty());
  for (const auto& e : a.experiments()) {
    auto s = a.score(e.id);
    if (!s) continue;
    std::map<std::string, std::pair<double, int>> acc;
    double bpb = 0, tps = 0;
    int nb = 0, nt = 0;
    for (const auto& m : a.measurements(e.id)) {
      if (m.preset != "smoke") continue;
      if (m.metric_name == "bits_per_byte") bpb += m.metric, ++nb;
      else acc[m.task].first += m.metric, ++acc[m.task].second;
      tps += m.tokens_per_second, ++nt;
    }
    double mean_acc = 0;
    for (const auto& [t, v] : acc) mean_acc += v.first / v.second / static_cast<double>(acc.size());
    for (const auto& p : front) {
      if (p["id"].get<int64_t>() == e.id) continue;
      const bool dominated = bpb / nb <= p["bits_per_byte"].get<double>() && mean_acc >= p["accuracy"].get<double>() &&
                             tps / nt >= p["tokens_per_second"].get<double>() &&
                             (bpb / nb < p["bits_per_byte"].get<double>() || mean_acc > p["accuracy"].get<double>() ||
                              tps / nt > p["tokens_per_second"].get<double>());
      EXPECT_FALSE(dominated) << p.dump() << " is beaten by #" << e.id;
    }
  }
  fs::remove_all(w);
}

// The rungs use the run's workers as the search does: with two workers, two candidates' rung
// evaluations are in flight at once: each one's worker starts before the other's stage is recorded
// (one at a time, the next would start only after).
TEST(CliLadder, RungCandidatesFillEveryWorker) {
  const auto w = fresh_dir("ladder-workers");
  std::ofstream(w / "asiarch.json")
      << R"({"baselines": ["delta_net"], "tasks": ["compression"], "timeout_seconds": 120})";
  auto presets = nlohmann::json::parse(text_of(fs::path(ASIARCH_SOURCE_DIR) / "lab" / "presets.json"));
  presets["rung2"] = presets["smoke"];
  presets["rung2"]["train"]["steps"] = 60;
  std::ofstream(w / "presets.json") << presets.dump(2);
  auto r = run_cli("run --workdir " + w.string() + " --budget 4 --preset smoke --seed 5 --workers 2 --presets " +
                   (w / "presets.json").string() +
                   " --ladder rung2 --promote-share 1 --stage-seeds 1 --held-out 0");
  ASSERT_EQ(r.status, 0) << r.output;
  auto opened = ar::Archive::open_read_only(w / "archive.db");
  ASSERT_TRUE(opened) << opened.error().message;
  const ar::Archive& a = **opened;
  std::set<int64_t> evolved;
  for (const auto& e : a.experiments())
    if (e.origin == ar::Origin::evolved) evolved.insert(e.id);
  // Per candidate on the rung: when its first worker started and when its stage was recorded.
  std::map<int64_t, std::pair<int64_t, int64_t>> span;
  for (int64_t seq = 0;;) {
    auto batch = a.events_since(seq);
    if (batch.empty()) break;
    seq = batch.back().seq;
    for (const auto& ev : batch) {
      if (!ev.experiment || !evolved.count(*ev.experiment) || ev.data.value("stage_preset", "") != "rung2") continue;
      auto& s = span[*ev.experiment];
      if (ev.kind == "worker_started" && !s.first) s.first = ev.seq;
      if (ev.kind == "stage_scored" || ev.kind == "stage_failed") s.second = ev.seq;
    }
  }
  ASSERT_GE(span.size(), 2u) << "fewer than two candidates on the rung\n" << r.output;
  int overlapping = 0;
  for (auto i = span.begin(); i != span.end(); ++i)
    for (auto j = std::next(i); j != span.end(); ++j) {
      const auto& [a0, a1] = i->second;
      const auto& [b0, b1] = j->second;
      ASSERT_TRUE(a0 && a1 && b0 && b1) << "#" << i->first << " or #" << j->first << " did not finish its stage";
      if (a0 < b1 && b0 < a1) ++overlapping;
    }
  EXPECT_GT(overlapping, 0) << "no two rung evaluations overlapped with --workers 2";
}
