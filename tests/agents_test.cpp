// The offline Researcher's design space and emitter, novelty, selection,
// the Analyst's effects, the Judge, and run-config parsing.
#include <gtest/gtest.h>

#include <asiarch/plugin.h>

#include <cmath>
#include <limits>
#include <set>

#include "agents/offline/analyst.h"
#include "agents/offline/design.h"
#include "agents/offline/judge.h"
#include "agents/offline/researcher.h"
#include "archive/selection.h"
#include "config/run_config.h"
#include "jit/mixer.h"
#include "jit_fixture.h"
#include "lab/gates.h"

using namespace asiarch;
using agents::Design;

TEST(Design, CanonicalFormIgnoresGenesThatDoNotMatter) {
  Design a, b;
  a.update = b.update = "delta";
  a.decay = "data";
  b.decay = "fixed";  // no decay in a plain delta rule
  EXPECT_EQ(agents::canonical(a), agents::canonical(b));
  a.qk_norm = "none";  // delta rules always normalise keys
  EXPECT_EQ(agents::canonical(a), agents::canonical(b));
  b.update = "gated_delta";
  EXPECT_NE(agents::canonical(a), agents::canonical(b));
  Design p, q;
  p.paths = {"value", "conv"};
  q.paths = {"conv", "value"};
  EXPECT_EQ(agents::canonical(p), agents::canonical(q));
}

TEST(Design, JsonRoundTripAndFieldNamedErrors) {
  Design d;
  d.update = "gated_delta";
  d.paths = {"conv"};
  d.fusion = "router";
  auto back = agents::design_from_json(agents::to_json(d));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(agents::canonical(*back), agents::canonical(d));
  auto bad = agents::design_from_json({{"update", "quantum"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("design field \"update\": unknown value \"quantum\""), std::string::npos);
  auto unknown = agents::design_from_json({{"colour", "red"}});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown design field \"colour\""), std::string::npos);
}

TEST(Design, NormalisedSourceHashIgnoresCommentsAndLayout) {
  const std::string a = "// one\nint f() { return 1; }\n";
  const std::string b = "/* two */ int f()\n{\n  return 1;  // same\n}\n";
  const std::string c = "int f() { return 2; }\n";
  EXPECT_EQ(agents::normalised_source_hash(a), agents::normalised_source_hash(b));
  EXPECT_NE(agents::normalised_source_hash(a), agents::normalised_source_hash(c));
  EXPECT_NE(agents::normalised_source_hash("const char* s = \"a b\";"),
            agents::normalised_source_hash("const char* s = \"ab\";"));
}

// Every value of every gene appears in at least one emitted design that
// compiles, is causal, is sub-quadratic and keeps to the parameter budget.
TEST(Design, EmittedSourcesBuildAndPassTheGates) {
  std::vector<Design> designs;
  for (const auto& g : agents::design_genes())
    for (const auto& v : g.values) {
      Design d;
      if (g.name == "decay" || g.name == "beta") d.update = "gated_delta";
      if (g.name == "fusion") d.paths = {"conv", "value"};
      if (g.name == "gate") d.norm = "rms";
      if (g.name == "qk_norm") d.update = "decay";
      if (g.name == "conv_size") d.conv = "qkv";
      if (g.name == "decay_width" || g.name == "erase_write") d.update = "gated_delta";
      ASSERT_TRUE(agents::set_gene(d, g.name, v));
      designs.push_back(agents::normalised(d));
    }
  // The diagonal-plus-low-rank forms beside the gated delta rule: a per-channel decay alone
  // (additive writes), separate gates on the plain delta rule, both on the gated one (GDN-2).
  {
    Design d;
    d.update = "decay";
    d.decay_width = "channel";
    designs.push_back(agents::normalised(d));
    d = Design{};
    d.erase_write = "separate";
    d.beta = "sigmoid2";
    designs.push_back(agents::normalised(d));
    d = Design{};
    d.update = "gated_delta";
    d.decay_width = "channel";
    d.erase_write = "separate";
    designs.push_back(agents::normalised(d));
  }
  std::set<std::string> seen;
  for (const auto& d : designs) {
    if (!seen.insert(agents::canonical(d)).second) continue;
    const std::string name = agents::design_name(d);
    const std::string src = agents::emit_source(d, name, "test design");
    auto b = asiarch::testing::build(name + ".cpp", src);
    ASSERT_TRUE(b.ok()) << agents::canonical(d) << "\n" << jit::to_text(b.diagnostics) << src;
    EXPECT_EQ(b.entry->name, name);
    lab::GateConfig c;
    c.d_model = 32;
    c.num_heads = 2;
    c.lengths = {64, 128, 256};
    c.reference_parameters = 4560;  // DeltaNet at d_model 32
    c.parameter_tolerance = 0.3;
    c.num_layers = 2;  // whole models, as the run's gate compares them (docs/fitness.md)
    auto gates = lab::run_gates([&b](const MixerConfig& cfg) { return jit::instantiate(b, cfg); }, c);
    for (const auto& g : gates)
      if (g.name != "complexity")  // timing at these small lengths is noise; the run's gates use longer ones
        EXPECT_TRUE(g.passed) << agents::canonical(d) << ": " << g.name << ": " << g.reason;
  }
  EXPECT_GE(seen.size(), 18u);
}

// The genes added later leave every earlier design's canonical form (and so its name) as it was,
// and matter only where they can: a per-channel decay needs a data-dependent decay, separate gates
// a delta rule.
TEST(Design, LateGenesKeepEarlierCanonicalFormsAndApplyOnlyWhereTheyCan) {
  Design dn;
  EXPECT_EQ(agents::canonical(dn),
            "feature_map=identity;qk_norm=l2;update=delta;decay=data;beta=sigmoid;conv=qkv;conv_size=4;norm=rms;"
            "gate=none;paths=;fusion=sum;head_factor=1");
  Design additive;
  additive.update = "additive";
  additive.decay_width = "channel";
  additive.erase_write = "separate";
  EXPECT_EQ(agents::normalised(additive).decay_width, "head");
  EXPECT_EQ(agents::normalised(additive).erase_write, "tied");
  Design kda;
  kda.update = "gated_delta";
  kda.decay_width = "channel";
  EXPECT_NE(agents::canonical(kda).find("decay_width=channel"), std::string::npos);
  EXPECT_NE(agents::design_name(kda).find("_channel_"), std::string::npos);
  kda.decay = "fixed";
  EXPECT_EQ(agents::normalised(kda).decay_width, "head");
  const auto known = agents::baseline_designs();
  ASSERT_EQ(known.size(), 6u);
  EXPECT_EQ(known[5].first, "gated_delta_net_2");
  EXPECT_EQ(known[5].second.erase_write, "separate");
}

TEST(Researcher, ProposesANovelChildAndExplainsIt) {
  agents::ResearchInput in;
  in.parent = {2, "delta_net", Design{}, 1.5};
  std::mt19937_64 rng(7);
  std::set<std::string> archive = {agents::canonical(Design{})};
  for (int i = 0; i < 12; ++i) {  // DeltaNet has 19 single-gene neighbours
    auto p = agents::propose(in, rng, [&](const std::string& c, const std::string&) { return archive.count(c) > 0; });
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_TRUE(archive.insert(p->canonical).second) << "duplicate " << p->canonical;
    EXPECT_FALSE(p->changes.empty());
    EXPECT_NE(p->motivation.find("Child of #2 delta_net"), std::string::npos);
    EXPECT_NE(p->source.find("ASIARCH_REGISTER_MIXER"), std::string::npos);
    EXPECT_EQ(p->source_hash, agents::normalised_source_hash(p->source));
  }
}

TEST(Researcher, RefusesWhenEveryNeighbourIsKnown) {
  agents::ResearchInput in;
  in.parent = {1, "p", Design{}, 1.0};
  std::mt19937_64 rng(1);
  agents::ResearcherConfig cfg;
  cfg.max_tries = 10;
  auto p = agents::propose(in, rng, [](const std::string&, const std::string&) { return true; }, cfg);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("no novel design"), std::string::npos);
}

TEST(Researcher, FollowsTheAnalystsEffects) {
  agents::ResearchInput in;
  in.parent = {1, "p", Design{}, 1.0};
  in.effects = {{"update=gated_delta", 0.8, 5, 0}, {"feature_map=relu", -0.8, 5, 2}};
  std::mt19937_64 rng(3);
  int gated = 0, relu = 0;
  for (int i = 0; i < 50; ++i) {
    auto p = agents::propose(in, rng, nullptr);
    ASSERT_TRUE(p);
    gated += p->design.update == "gated_delta";
    relu += p->design.feature_map == "relu";
  }
  EXPECT_GT(gated, 35);  // strongly preferred
  EXPECT_LT(relu, 3);    // strongly avoided
}

namespace {
// Roots only: (id, fitness) pairs, each eligible.
std::vector<archive::Node> roots(const std::vector<std::pair<int64_t, double>>& c) {
  std::vector<archive::Node> out;
  for (const auto& [id, f] : c) out.push_back({id, std::nullopt, f, true});
  return out;
}
archive::SelectionConfig strategy(const std::string& name) {
  archive::SelectionConfig cfg;
  cfg.strategy = name;
  return cfg;
}
}  // namespace

TEST(Selection, AsiArchDrawsUniformlyFromTheTopAndShowsTheBestAmongTheReferences) {
  std::vector<std::pair<int64_t, double>> c;
  for (int i = 1; i <= 100; ++i) c.emplace_back(i, static_cast<double>(i));  // id 100 is best
  auto cfg = strategy("asi-arch");
  cfg.pool_size = 50;
  cfg.parent_top = 10;
  cfg.references = 3;
  std::mt19937_64 rng(5);
  std::set<int64_t> parents;
  const auto nodes = roots(c);
  for (int t = 0; t < 200; ++t) {
    auto s = archive::select(nodes, cfg, rng);
    ASSERT_TRUE(s);
    EXPECT_GE(s->parent, 91);  // the top 10
    EXPECT_DOUBLE_EQ(s->chance, 0.1);
    parents.insert(s->parent);
    ASSERT_EQ(s->references.size(), 3u);
    if (s->parent != 100) EXPECT_EQ(s->references[0], 100);  // the best is always shown
    for (size_t i = s->parent != 100; i < s->references.size(); ++i) {
      EXPECT_GE(s->references[i], 51);  // in the pool of 50
      EXPECT_LE(s->references[i], 90);  // below the top
    }
  }
  EXPECT_EQ(parents.size(), 10u);  // every top member gets chosen
  std::mt19937_64 a(9), b(9);
  EXPECT_EQ(archive::select(nodes, cfg, a)->parent, archive::select(nodes, cfg, b)->parent);
  EXPECT_FALSE(archive::select({}, cfg, a));
}

TEST(Selection, SmallPoolTakesReferencesFromTheTop) {
  for (const auto& name : archive::selection_strategies()) {
    std::mt19937_64 rng(1);
    auto s = archive::select(roots({{1, 0.5}, {2, 0.9}, {3, 0.7}}), strategy(name), rng);
    ASSERT_TRUE(s) << name;
    EXPECT_EQ(s->strategy, name);
    if (name == "islands") continue;  // three roots, three islands of one
    EXPECT_EQ(s->references.size(), 2u) << name;
    for (auto r : s->references) EXPECT_NE(r, s->parent) << name;
  }
}

// The README's first run: DeltaNet (2.0) far above linear attention (1.0). Uniform drawing was a coin
// flip between them; weighted draws DeltaNet almost always, and a design with many children yields.
TEST(Selection, WeightedPrefersTheBestAndAMuchDrawnDesignYieldsToItsPeers) {
  auto cfg = strategy("weighted");
  std::vector<archive::Node> nodes = roots({{1, 1.0}, {2, 2.0}});
  std::mt19937_64 rng(3);
  int delta = 0;
  for (int t = 0; t < 1000; ++t) delta += archive::select(nodes, cfg, rng)->parent == 2;
  EXPECT_GT(delta, 900);
  auto s = archive::select(nodes, cfg, rng);
  EXPECT_NEAR(s->parent == 2 ? s->chance : 1 - s->chance, 1 / (1 + std::exp(-3.0)), 1e-9);
  // Three designs; z = -1.22, 0, 1.22: weights 0.025, 0.5, 0.975 (the best drawn 65% of the time).
  // With four children (scored or failed) the best's weight is a fifth: 0.195 of 0.720, 27%.
  nodes = roots({{1, 1.9}, {2, 2.0}, {3, 2.1}});
  for (int64_t k = 10; k < 14; ++k) nodes.push_back({k, 3, std::nullopt, false});
  const double z = 0.1 / std::sqrt(0.02 / 3);
  const double w_best = 1 / (1 + std::exp(-3 * z)) / 5, w_low = 1 / (1 + std::exp(3 * z));
  int best = 0;
  for (int t = 0; t < 1000; ++t) {
    auto d = archive::select(nodes, cfg, rng);
    if (d->parent != 3) continue;
    ++best;
    EXPECT_NEAR(d->chance, w_best / (w_best + 0.5 + w_low), 1e-9);
  }
  EXPECT_GT(best, 200);
  EXPECT_LT(best, 350);
}

// The arms are the best three roots; their children (not eligible here, so the arms stay) are the
// visits, and a child's reward is its gain over the parent (a failed child: none).
TEST(Selection, Ucb1TriesEachTopDesignThenFollowsTheChildrensImprovement) {
  auto cfg = strategy("ucb1");
  cfg.parent_top = 3;
  const double c = cfg.exploration;
  std::mt19937_64 rng(1);
  auto nodes = roots({{1, 1.0}, {2, 2.0}, {3, 1.5}});
  EXPECT_EQ(archive::select(nodes, cfg, rng)->parent, 2);  // untried: the fittest first
  nodes.push_back({10, 2, 1.8, false});                    // 2's child lost 0.2
  EXPECT_EQ(archive::select(nodes, cfg, rng)->parent, 3);
  nodes.push_back({11, 3, 2.5, false});  // 3's child gained 1.0
  auto s = archive::select(nodes, cfg, rng);
  EXPECT_EQ(s->parent, 1);  // the last untried
  EXPECT_EQ(s->value, std::numeric_limits<double>::infinity());
  nodes.push_back({12, 1, std::nullopt, false});  // 1's child failed: no gain
  s = archive::select(nodes, cfg, rng);
  EXPECT_EQ(s->parent, 3);  // 1.0 + c*sqrt(ln 3) beats 0 + ... and -0.2 + ...
  EXPECT_NEAR(s->value, 1.0 + c * std::sqrt(std::log(3.0)), 1e-9);
  nodes.push_back({13, 3, 1.0, false});  // 3's second child lost 0.5: mean gain 0.25
  s = archive::select(nodes, cfg, rng);
  EXPECT_EQ(s->parent, 1);  // the least visited now has the largest bound
  EXPECT_NEAR(s->value, c * std::sqrt(std::log(4.0)), 1e-9);
  EXPECT_DOUBLE_EQ(s->chance, 1);
}

TEST(Selection, IslandsKeepLineagesApartTakeTurnsAndShowAMigrant) {
  auto cfg = strategy("islands");
  cfg.migration_interval = 3;
  cfg.references = 2;
  // Two roots: 1 (linear attention) and 2 (DeltaNet); children stay on their root's island.
  auto nodes = roots({{1, 1.0}, {2, 2.0}});
  nodes.push_back({3, 1, 1.2, true});
  nodes.push_back({4, 2, 2.2, true});
  nodes.push_back({5, 3, 1.3, true});
  const std::set<int64_t> island0 = {1, 3, 5}, island1 = {2, 4};
  std::mt19937_64 rng(7);
  for (int64_t turn = 0; turn < 12; ++turn) {
    auto s = archive::select(nodes, cfg, rng, turn);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->island, static_cast<int>(turn % 2));
    const auto& mine = s->island == 0 ? island0 : island1;
    EXPECT_TRUE(mine.count(s->parent)) << "turn " << turn << " parent " << s->parent;
    if (turn % 3 == 2) {
      ASSERT_TRUE(s->migrant) << turn;
      EXPECT_EQ(*s->migrant, s->island == 0 ? 4 : 5);  // the other island's best
      EXPECT_EQ(s->references.front(), *s->migrant);
    } else {
      EXPECT_FALSE(s->migrant);
      for (auto r : s->references) EXPECT_TRUE(mine.count(r)) << "turn " << turn << " reference " << r;
    }
  }
}

TEST(Selection, AnUnknownStrategyIsAClearError) {
  auto cfg = strategy("greedy");
  auto st = archive::check(cfg);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("unknown strategy \"greedy\""), std::string::npos);
  EXPECT_NE(st.error().message.find("ucb1"), std::string::npos);
  for (const auto& name : archive::selection_strategies()) EXPECT_TRUE(archive::check(strategy(name))) << name;
}

TEST(Analyst, AggregatesTheEffectOfEachChange) {
  Design base, gated, relu;
  gated.update = "gated_delta";
  relu.feature_map = "relu";
  std::vector<agents::Lineage> all = {
      {1, "base", std::nullopt, base, 1.0, false, ""},
      {2, "g1", 1, gated, 1.3, false, ""},
      {3, "r1", 1, relu, std::nullopt, true, "gate causality failed"},
      {4, "g2", 2, relu, 1.1, false, ""},  // parent 2 (gated) -> relu and back to delta
  };
  auto effects = agents::aggregate_effects(all);
  std::map<std::string, agents::Effect> by;
  for (const auto& e : effects) by[e.change] = e;
  EXPECT_NEAR(by["update=gated_delta"].mean_delta, 0.3, 1e-12);
  EXPECT_EQ(by["update=gated_delta"].count, 1);
  // relu: -1 (failed child of 1) and -0.2 (child 4 of 2).
  EXPECT_NEAR(by["feature_map=relu"].mean_delta, (agents::kFailurePenalty - 0.2) / 2, 1e-12);
  EXPECT_EQ(by["feature_map=relu"].failures, 1);
  EXPECT_EQ(effects.front().change, "update=gated_delta");
  auto report = agents::analyse(all[3], all);
  EXPECT_NE(report.text.find("Parent #2 g1"), std::string::npos) << report.text;
  EXPECT_NE(report.text.find("change -0.200"), std::string::npos) << report.text;
  EXPECT_EQ(report.insights.size(), effects.size());
}

TEST(Judge, ScoresMeasuredProperties) {
  lab::EvalReport r;
  r.mixer_parameters = 1000;
  r.gates.push_back({"complexity", true, "", {{"time_exponent", 1.0}, {"memory_exponent", 1.0}}});
  lab::TaskResult t;
  t.stop_reason = "completed";
  t.curve = {{0, 3.0}, {10, 2.5}, {20, 2.0}};
  r.tasks.push_back(t);
  agents::JudgeInputs in{&r, 1000, 0.5};
  auto good = agents::judge(in);
  EXPECT_NEAR(good.score, (10 * 0.3 + 7.75 * 0.2 + 10 * 0.3 + 10 * 0.2), 1e-9);
  r.gates[0].details = {{"time_exponent", 1.9}, {"memory_exponent", 2.0}};
  r.tasks[0].stop_reason = "diverged: loss is nan";
  in.novelty = 0.0;
  auto bad = agents::judge(in);
  EXPECT_LT(bad.score, 4.0);
  EXPECT_EQ(bad.parts["complexity"]["score"].get<double>(), 1.0);
  EXPECT_EQ(bad.parts["novelty"]["score"].get<double>(), 1.0);
}

TEST(RunConfig, AppliesKnownFieldsAndNamesBadOnes) {
  host::RunConfig c;
  ASSERT_TRUE(host::apply_config_json(c, R"({"budget": 7, "workers": 2, "pool_size": 20, "parent_top": 4,
      "tasks": ["mqar"], "timeout_seconds": 60})", "w/asiarch.json"));
  EXPECT_EQ(c.budget, 7);
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.selection.pool_size, 20);
  EXPECT_EQ(c.selection.parent_top, 4);
  EXPECT_EQ(c.tasks, std::vector<std::string>{"mqar"});
  EXPECT_EQ(c.limits.wall_seconds, 60);

  auto unknown = host::apply_config_json(c, R"({"wokers": 3})", "w/asiarch.json");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("w/asiarch.json: unknown field \"wokers\"; valid fields:"), std::string::npos)
      << unknown.error().message;
  auto type = host::apply_config_json(c, R"({"budget": 3, "workers": "two"})", "w/asiarch.json");
  ASSERT_FALSE(type);
  EXPECT_NE(type.error().message.find("field \"workers\" must be a positive integer, got string \"two\""),
            std::string::npos)
      << type.error().message;
  EXPECT_EQ(c.budget, 7);  // nothing applied from a file with an error
  auto broken = host::apply_config_json(c, "{\"budget\": ", "w/asiarch.json");
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find("w/asiarch.json: not valid JSON"), std::string::npos);
}
