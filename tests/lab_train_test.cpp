// Model, trainer, quality monitor and presets.
#include <gtest/gtest.h>

#include "lab/names.h"
#include "lab/presets.h"
#include "lab/threads.h"
#include "lab/train.h"
#include "small_model.h"
#include "test_mixers.h"

using namespace asiarch;
using namespace asiarch::lab;
using asiarch::testing::MeanMixer;
using asiarch::testing::small_model;

namespace {

TaskData recall_task() {
  auto t = make_task("in_context_recall", {{"seq_len", 32}, {"train_examples", 256}, {"test_examples", 32}}, 1);
  return std::move(t).value();
}

TrainConfig short_training(int64_t steps = 30) {
  TrainConfig c;
  c.steps = steps;
  c.batch_size = 16;
  c.threads = 1;
  c.log_points = 10;
  return c;
}

// A reference far better than any run of 40 steps (loss 0.01 at every step), on three seeds that
// agree, and with all the time in the world.
Reference impossibly_good_reference() {
  Reference ref;
  for (int64_t s = 1; s <= 40; ++s) {
    ref.curve.emplace_back(s, 0.01);
    ref.spread.emplace_back(s, 0.0);
  }
  ref.seeds = 3;
  ref.seconds = 1e6;
  return ref;
}

}  // namespace

TEST(Model, ShapesAndMixerParameters) {
  auto t = recall_task();
  LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
  auto x = torch::randint(0, t.vocab, {3, 32}, torch::kLong);
  EXPECT_EQ(m->forward(x).sizes(), (std::vector<int64_t>{3, 32, t.vocab}));
  EXPECT_EQ(m->mixer_parameters(), 2 * (32 * 32 + 32));
  auto c = make_task("compression", {{"seq_len", 16}, {"train_examples", 4}, {"test_examples", 4}}, 0).value();
  LanguageModel dec(small_model(c), asiarch::testing::make<MeanMixer>);
  EXPECT_EQ(dec->forward(torch::zeros({2, 16}, torch::kLong)).sizes(), (std::vector<int64_t>{2, 16, c.vocab}));
}

// A hybrid: the candidate's layers where the pattern says 'm', the host's softmax attention where
// it says 'a'; only the candidate's count as mixer parameters, and the model stays causal.
TEST(Model, AHybridPatternPutsAttentionLayersBesideTheCandidates) {
  auto t = recall_task();
  auto mc = small_model(t);
  mc.num_layers = 3;
  mc.layer_pattern = "mam";
  int built = 0;
  LanguageModel m(mc, [&](const MixerConfig& c) {
    ++built;
    EXPECT_NE(c.layer_index, 1);  // layer 1 is the attention layer: never asked of the candidate
    return asiarch::testing::make<MeanMixer>(c);
  });
  EXPECT_EQ(built, 2);
  EXPECT_EQ(m->mixer_parameters(), 2 * (32 * 32 + 32));
  int64_t all = 0;
  for (const auto& p : m->parameters()) all += p.numel();
  LanguageModel pure(small_model(t), asiarch::testing::make<MeanMixer>);
  int64_t pure_all = 0;
  for (const auto& p : pure->parameters()) pure_all += p.numel();
  EXPECT_GT(all, pure_all + 4 * 32 * 32 - 1);  // the attention layer's q, k, v and output projections at least
  // Causal: changing a later token leaves earlier logits alone.
  torch::NoGradGuard no_grad;
  auto x = torch::randint(0, t.vocab, {2, 20}, torch::kLong);
  auto y = x.clone();
  y.index_put_({torch::indexing::Slice(), 15}, (y.index({torch::indexing::Slice(), 15}) + 1) % t.vocab);
  auto a = m->forward(x), b = m->forward(y);
  EXPECT_TRUE(torch::allclose(a.narrow(1, 0, 15), b.narrow(1, 0, 15)));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 15, 5), b.narrow(1, 15, 5)));
  // Bad patterns are refused, saying why.
  mc.layer_pattern = "mx";
  EXPECT_THROW(LanguageModel(mc, asiarch::testing::make<MeanMixer>), std::invalid_argument);
  EXPECT_EQ(layer_pattern_problem("mx", 3), "has 2 letters for 3 layers (one per layer)");
  EXPECT_NE(layer_pattern_problem("aaa", 3).find("no layer of the candidate's"), std::string::npos);
  EXPECT_NE(layer_pattern_problem("mqa", 3).find("only 'm'"), std::string::npos);
  EXPECT_EQ(load_preset("first-hybrid").value().model.layer_pattern, "mma");
}

// Weights kept outside the registered parameters and trained by the mixer itself are caught by
// the trainer's check; an honest mixer passes it, and it costs little.
TEST(Trainer, LearningOutsideTheRegisteredParametersIsCaught) {
  auto t = recall_task();
  LanguageModel honest(small_model(t), asiarch::testing::make<MeanMixer>);
  auto ok = train_and_evaluate(honest, t, short_training(30));
  ASSERT_TRUE(ok.parameters_probe);
  EXPECT_TRUE(ok.parameters_probe->passed) << ok.parameters_probe->reason;
  EXPECT_EQ(ok.stop_reason, "completed");
  LanguageModel cheat(small_model(t), asiarch::testing::make<asiarch::testing::HiddenWeights>);
  auto caught = train_and_evaluate(cheat, t, short_training(30));
  ASSERT_TRUE(caught.parameters_probe);
  EXPECT_FALSE(caught.parameters_probe->passed);
  EXPECT_NE(caught.stop_reason.find("the model learns outside its registered parameters"), std::string::npos)
      << caught.stop_reason;
  EXPECT_EQ(caught.steps, 11);  // stopped at the check, a third of the way in
  EXPECT_EQ(caught.metric, worst_metric(t));
}

TEST(Trainer, SameSeedSameCurveAndLossFalls) {
  auto t = recall_task();
  auto run = [&] {
    LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
    return train_and_evaluate(m, t, short_training(60));
  };
  auto a = run(), b = run();
  ASSERT_EQ(a.curve.size(), b.curve.size());
  for (size_t i = 0; i < a.curve.size(); ++i) EXPECT_DOUBLE_EQ(a.curve[i].second, b.curve[i].second);
  EXPECT_EQ(a.stop_reason, "completed");
  EXPECT_EQ(a.steps, 60);
  EXPECT_LT(a.curve.back().second, a.curve.front().second);
  EXPECT_GE(a.metric, 0.0);
  EXPECT_LE(a.metric, 1.0);
  EXPECT_GT(a.tokens_per_second, 0);
  // The model, its activations and Adam's two moments were live at once: more than the weights.
  int64_t weights = 0;
  {
    LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
    for (const auto& p : m->parameters()) weights += p.numel() * static_cast<int64_t>(sizeof(float));
  }
  EXPECT_GT(a.peak_bytes, 2 * weights);
}

// Two threads split each batch into shards: the same run twice gives the same
// curve to the last bit, and it matches training on whole batches up to
// float rounding (the shard losses are normalised by the whole batch's
// target count, so the gradients are the same sum).
TEST(Trainer, ShardedBatchesAreDeterministicAndMatchWholeBatches) {
  auto t = recall_task();
  auto run = [&](bool shard) {
    LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
    auto c = short_training(40);
    c.threads = 2;
    c.shard_batch = shard;
    return train_and_evaluate(m, t, c);
  };
  auto a = run(true), b = run(true), whole = run(false);
  ASSERT_EQ(a.curve.size(), b.curve.size());
  ASSERT_EQ(a.curve.size(), whole.curve.size());
  for (size_t i = 0; i < a.curve.size(); ++i) {
    EXPECT_DOUBLE_EQ(a.curve[i].second, b.curve[i].second) << "point " << i;
    EXPECT_NEAR(a.curve[i].second, whole.curve[i].second, 1e-4) << "point " << i;
  }
  EXPECT_EQ(a.metric, b.metric);
  EXPECT_LT(a.curve.back().second, a.curve.front().second);
}

// The program sets the compute threads; training, on whole or sharded
// batches, leaves them as it found them.
TEST(Trainer, LeavesTheProgramsThreadCountAsItFoundIt) {
  auto t = recall_task();
  ScopedComputeThreads program(3);  // a count no run here asks for
  for (int threads : {1, 2})
    for (bool shard : {false, true}) {
      LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
      auto c = short_training(4);
      c.threads = threads;
      c.shard_batch = shard;
      train_and_evaluate(m, t, c);
      EXPECT_EQ(compute_threads(), 3) << threads << " threads, " << (shard ? "sharded" : "whole batches");
    }
}

// A mixer honest through the gates that reads the future once trained passes every gate run
// before training; the probes on the trained model, mixed into a batch of the training size in
// four modes, catch it. An honest one passes them.
TEST(Probes, TheTrainedModelIsProbedForCausality) {
  auto t = recall_task();
  LanguageModel honest(small_model(t), asiarch::testing::make<MeanMixer>);
  train_and_evaluate(honest, t, short_training(10));
  auto ok = probe_causality(honest, t, 16, 1);
  EXPECT_TRUE(ok.passed) << ok.reason;
  EXPECT_NE(ok.reason.find("8 probes in a batch of 16, 4 modes"), std::string::npos) << ok.reason;

  LanguageModel late(small_model(t), [](const MixerConfig& c) {
    return std::shared_ptr<TokenMixer>(std::make_shared<asiarch::testing::LateCheat>(c, 5));
  });
  train_and_evaluate(late, t, short_training(10));
  auto caught = probe_causality(late, t, 16, 1);
  EXPECT_FALSE(caught.passed);
  EXPECT_NE(caught.reason.find("the trained model reads the future"), std::string::npos) << caught.reason;
  EXPECT_NE(caught.reason.find("length 31, batch 16)"), std::string::npos) << caught.reason;
}

TEST(Monitor, StopsOnNaN) {
  auto t = recall_task();
  ModelConfig mc = small_model(t);
  LanguageModel m(mc, [](const MixerConfig& c) { return std::make_shared<asiarch::testing::DivergingMixer>(c, 10); });
  auto r = train_and_evaluate(m, t, short_training());
  EXPECT_EQ(r.stop_reason, "loss became NaN at step 10");  // each layer's mixer counts its own calls
  EXPECT_EQ(r.steps, 11);
  EXPECT_EQ(r.metric, 0.0);
}

TEST(Monitor, StopsARunClearlyBehindTheReferenceEarly) {
  auto t = recall_task();
  LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
  Reference ref = impossibly_good_reference();
  // One seed says nothing of the noise: the same reference from one seed stops nothing.
  Reference one = ref;
  one.seeds = 1;
  one.spread.clear();
  LanguageModel first(small_model(t), asiarch::testing::make<MeanMixer>);
  auto kept = train_and_evaluate(first, t, short_training(40), one);
  EXPECT_TRUE(kept.completed()) << kept.stop_reason;
  auto r = train_and_evaluate(m, t, short_training(40), ref);
  EXPECT_FALSE(r.completed());
  EXPECT_TRUE(stopped_early(r.stop_reason)) << r.stop_reason;
  EXPECT_NE(r.stop_reason.find("at step 12 of 40"), std::string::npos) << r.stop_reason;
  EXPECT_EQ(r.steps, 12);  // the first log point at or past a quarter of the steps
  ASSERT_EQ(r.curve.size(), 3u);  // the figures it had are kept
  EXPECT_EQ(r.curve.back().first, 12);
}

// Turned off (the run setting `early_stop off`, or a further seed of a scored design), the same
// run trains its whole budget.
TEST(Monitor, WithEarlyStoppingOffARunBehindTrainsItsWholeBudget) {
  auto t = recall_task();
  LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
  Reference ref = impossibly_good_reference();
  MonitorConfig off;
  off.early_stop = false;
  auto r = train_and_evaluate(m, t, short_training(40), ref, off);
  EXPECT_TRUE(r.completed()) << r.stop_reason;
  EXPECT_EQ(r.steps, 40);
}

// The bound is the reference's loss plus the larger of stop_sigmas spreads over its seeds and
// stop_min_gap of its loss: a run inside the reference's noise is never stopped.
TEST(Monitor, TheEarlyStoppingBoundGrowsWithTheReferencesSpreadOverSeeds) {
  auto over = reference_over_seeds({{{10, 2.0}, {20, 1.0}}, {{10, 2.2}, {20, 1.4}}, {{10, 2.4}, {20, 1.0}}});
  ASSERT_TRUE(over);
  EXPECT_EQ(over->seeds, 3);
  EXPECT_NEAR(*loss_at(over->curve, 10), 2.2, 1e-12);
  EXPECT_NEAR(*loss_at(over->spread, 10), 0.2, 1e-12);  // sample standard deviation
  MonitorConfig m;
  m.stop_sigmas = 4;
  m.stop_min_gap = 0.1;
  EXPECT_NEAR(*early_stop_bound(*over, m, 10), 2.2 + 0.8, 1e-12);  // the spread's term is larger
  m.stop_sigmas = 0.5;
  EXPECT_NEAR(*early_stop_bound(*over, m, 10), 2.2 + 0.22, 1e-12);  // the floor: 10% of the loss
  EXPECT_FALSE(early_stop_bound(*over, m, 5));  // before the reference's first point: no bound
  Reference single = *over;
  single.seeds = 1;
  single.spread.clear();
  EXPECT_FALSE(early_stop_bound(single, m, 10));  // one seed: no noise measured, no bound
  // Curves logged at other steps are not averaged.
  EXPECT_FALSE(reference_over_seeds({{{10, 2.0}}, {{11, 2.0}}}));
  EXPECT_FALSE(reference_over_seeds({{{10, 2.0}}}));

  // A real run: its loss at a quarter of the steps, given as a reference with a spread so wide
  // that the bound lies above it, is not stopped; with no spread and no floor, a reference just
  // below the run's own curve stops it.
  auto task = recall_task();
  LanguageModel probe(small_model(task), asiarch::testing::make<MeanMixer>);
  auto full = train(probe, task, short_training(40));
  ASSERT_TRUE(full.completed());
  Reference near;
  for (const auto& [step, loss] : full.curve) {
    near.curve.emplace_back(step, loss * 0.9);
    near.spread.emplace_back(step, loss * 0.05);
  }
  near.seeds = 3;
  near.seconds = 1e6;
  LanguageModel again(small_model(task), asiarch::testing::make<MeanMixer>);
  MonitorConfig wide;  // 6 spreads = 30% of the loss: the run (10% above) is inside
  auto kept = train(again, task, short_training(40), near, wide);
  EXPECT_TRUE(kept.completed()) << kept.stop_reason;
  EXPECT_EQ(kept.steps, 40);
  for (auto& p : near.spread) p.second = 0;
  MonitorConfig tight;
  tight.stop_min_gap = 0.05;  // no spread, 5% of the loss: the run (10% above) is out
  LanguageModel third(small_model(task), asiarch::testing::make<MeanMixer>);
  auto cut = train(third, task, short_training(40), near, tight);
  EXPECT_TRUE(stopped_early(cut.stop_reason)) << cut.stop_reason;
  EXPECT_EQ(cut.steps, 12);
}

// Behind the baseline only where there is nothing left to stop: the run completed, and says so
// (it was once recorded as stopped, and then as "non-finite metric" when its logits went to the host).
TEST(Monitor, ARunBehindTheBaselineAtItsLastStepHasCompleted) {
  auto t = recall_task();
  LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
  Reference ref = impossibly_good_reference();
  auto c = short_training(40);
  c.log_points = 1;  // the one check is at the last step
  auto r = train_and_evaluate(m, t, c, ref);
  EXPECT_TRUE(r.completed()) << r.stop_reason;
  EXPECT_EQ(r.steps, 40);
}

TEST(Monitor, StopsRunsFarSlowerThanTheBaseline) {
  auto t = recall_task();
  LanguageModel m(small_model(t), asiarch::testing::make<MeanMixer>);
  Reference ref;
  ref.curve = {{1, 100.0}, {40, 100.0}};
  ref.seconds = 1e-9;
  auto r = train_and_evaluate(m, t, short_training(40), ref);
  EXPECT_TRUE(asiarch::lab::too_slow(r.stop_reason)) << r.stop_reason;
  EXPECT_LT(r.steps, 40);
  // Not tested: part of the budget gives no metric of the design's, only the worst its task allows.
  EXPECT_FALSE(testable(r));
  EXPECT_EQ(r.metric, worst_metric(t));
  EXPECT_EQ(r.eval_seconds, 0.0);
}

TEST(Monitor, LossAtInterpolates) {
  Curve c = {{10, 2.0}, {20, 1.0}};
  EXPECT_FALSE(loss_at(c, 5).has_value());
  EXPECT_DOUBLE_EQ(*loss_at(c, 15), 1.5);
  EXPECT_DOUBLE_EQ(*loss_at(c, 99), 1.0);
}

TEST(Presets, AllBuiltInPresetsLoad) {
  for (const auto& name : {"smoke", "explore", "verify"}) {
    auto p = load_preset(name);
    ASSERT_TRUE(p) << p.error().message;
    // explore and verify add two state-tracking tasks to the eight of MAD, MQAR and byte LM.
    EXPECT_EQ(p->tasks.size(), std::string(name) == "smoke" ? 8u : 10u) << name;
    for (const auto& [task, settings] : p->tasks) {
      // Every task's settings must generate; few examples keep it fast, and
      // byte_lm gets a stand-in corpus of the right size.
      auto small = settings;
      small["train_examples"] = 4;
      small["test_examples"] = 2;
      auto data = make_task(task, small, 0, std::string(200000, 'x'));
      EXPECT_TRUE(data) << name << "/" << task << ": " << (data ? "" : data.error().message);
    }
  }
  EXPECT_EQ(preset_names(), (std::vector<std::string>{"explore", "first", "first-hybrid", "smoke", "verify"}));
}

TEST(Presets, ErrorsNameTheField) {
  auto unknown = load_preset("fast");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message, "unknown preset \"fast\"; valid presets: explore, first, first-hybrid, smoke, verify");
  const std::string base = R"({"p": {"model": {"d_model": 64, "num_layers": 2, "num_heads": 2},
    "train": {"steps": 10}, "monitor": {}, "gates": {}, "tasks": {"mqar": {}}}})";
  EXPECT_TRUE(load_preset("p", base, "mine.json"));
  auto typo = load_preset("p", std::string(base).replace(base.find("\"steps\""), 7, "\"stepz\""), "mine.json");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message, "mine.json: p.train.stepz: is not a known setting");
  auto type = load_preset("p", std::string(base).replace(base.find("10"), 2, "\"10\""), "mine.json");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message, "mine.json: p.train.steps: must be an integer");
  auto task = load_preset("p", std::string(base).replace(base.find("mqar"), 4, "maqr"), "mine.json");
  ASSERT_FALSE(task);
  EXPECT_NE(task.error().message.find("mine.json: p.tasks.maqr: is not a known task; valid tasks:"), std::string::npos);
  // Sharded batches can be turned off for a plugin whose forward keeps state.
  auto unsharded = load_preset("p", std::string(base).replace(base.find("\"steps\""), 0, "\"shard_batch\": false, "), "mine.json");
  ASSERT_TRUE(unsharded) << unsharded.error().message;
  EXPECT_FALSE(unsharded->train.shard_batch);
  EXPECT_TRUE(load_preset("p", base, "mine.json")->train.shard_batch);
  auto flag = load_preset("p", std::string(base).replace(base.find("\"steps\""), 0, "\"shard_batch\": 0, "), "mine.json");
  ASSERT_FALSE(flag);
  EXPECT_EQ(flag.error().message, "mine.json: p.train.shard_batch: must be true or false");
  auto json = load_preset("p", "{ nope", "mine.json");
  ASSERT_FALSE(json);
  EXPECT_NE(json.error().message.find("mine.json: not valid JSON"), std::string::npos);
  // A task's own training settings: wrong-typed or not positive is an error, not ignored.
  auto with = [&](const std::string& mqar) { return load_preset("p", std::string(base).replace(base.find("\"mqar\": {}"), 10, "\"mqar\": " + mqar), "mine.json"); };
  ASSERT_TRUE(with(R"({"steps": 5, "batch_size": 4, "lr": 0.01})"));
  auto steps = with(R"({"steps": "5"})");
  ASSERT_FALSE(steps);
  EXPECT_EQ(steps.error().message, "mine.json: p.tasks.mqar.steps: must be a positive integer, got \"5\"");
  auto batch = with(R"({"batch_size": -4})");
  ASSERT_FALSE(batch);
  EXPECT_EQ(batch.error().message, "mine.json: p.tasks.mqar.batch_size: must be a positive integer, got -4");
  auto lr = with(R"({"lr": "fast"})");
  ASSERT_FALSE(lr);
  EXPECT_EQ(lr.error().message, "mine.json: p.tasks.mqar.lr: must be a positive number, got \"fast\"");
  // A generator's own settings are checked when the presets are loaded, in the host, naming the
  // file and the field: not first met by the baselines' workers, which would all fail on it.
  auto seq = with(R"({"seq_len": -8})");
  ASSERT_FALSE(seq);
  EXPECT_EQ(seq.error().message,
            "mine.json: p.tasks.mqar: task mqar: field \"seq_len\" must not be negative, got -8");
  auto pairs = with(R"({"pairs": 100})");
  ASSERT_FALSE(pairs);
  EXPECT_EQ(pairs.error().message, "mine.json: p.tasks.mqar: task mqar: need 1 <= pairs and 4 * pairs <= seq_len");
  auto unknown_key = with(R"({"pairz": 4})");
  ASSERT_FALSE(unknown_key);
  EXPECT_EQ(unknown_key.error().message, "mine.json: p.tasks.mqar: task mqar: field \"pairz\" is not a known setting");
  // byte_lm's settings are checked without its corpus.
  auto bytes = load_preset("p", std::string(base).replace(base.find("\"mqar\": {}"), 10, R"("byte_lm": {"held_out": 0.7})"), "mine.json");
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().message, "mine.json: p.tasks.byte_lm: task byte_lm: held_out must be in (0, 0.5)");
  // A negative count of a task's generator is named, never thrown past the caller.
  auto negative = make_task("mqar", {{"seq_len", -8}}, 0);
  ASSERT_FALSE(negative);
  EXPECT_NE(negative.error().message.find("field \"seq_len\" must not be negative, got -8"), std::string::npos)
      << negative.error().message;
}

// Held-out tasks: "<preset>/held-out" is the preset with its held-out tasks as its tasks; a
// preset without them has no held-out set; a bad field is named.
TEST(Presets, HeldOutTasksAreAPresetOfTheirOwn) {
  auto first = load_preset("first");
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_FALSE(first->held_out_tasks.empty());
  auto held = load_preset("first/held-out");
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(held->name, "first/held-out");
  EXPECT_EQ(held->tasks, first->held_out_tasks);
  EXPECT_TRUE(held->held_out_tasks.empty());
  EXPECT_EQ(held->model.d_model, first->model.d_model);
  EXPECT_EQ(held->held_out_seed_offset, 1000u);
  bool second_corpus = false;
  for (const auto& [task, settings] : held->tasks) second_corpus = second_corpus || settings.value("corpus", "") == "fortunes";
  EXPECT_TRUE(second_corpus);
  auto none = load_preset("smoke/held-out");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("preset \"smoke\" has no held_out tasks"), std::string::npos) << none.error().message;
  const std::string base = R"({"p": {"model": {"d_model": 64, "num_layers": 2, "num_heads": 2},
    "train": {"steps": 10}, "monitor": {}, "gates": {}, "tasks": {"mqar": {}},
    "held_out": {"tasks": {"mqarr": {}}}}})";
  auto bad = load_preset("p", base, "mine.json");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("p.held_out.tasks.mqarr"), std::string::npos) << bad.error().message;
}

TEST(Presets, TaskOverridesTraining) {
  auto p = load_preset("explore").value();
  auto mem = std::find_if(p.tasks.begin(), p.tasks.end(), [](const auto& t) { return t.first == "memorization"; });
  ASSERT_NE(mem, p.tasks.end());
  EXPECT_EQ(train_config_for(p, mem->second).steps, 400);
  EXPECT_EQ(train_config_for(p, nlohmann::json::object()).steps, p.train.steps);
}
