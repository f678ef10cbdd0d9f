// Task generators: targets, masking, determinism by seed; settings errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>

#include "lab/corpus.h"
#include "lab/tasks.h"

using namespace asiarch::lab;
using nlohmann::json;

namespace {

TaskData make(const std::string& name, json params, uint64_t seed = 1, const std::string& corpus = "") {
  auto t = make_task(name, params, seed, corpus);
  if (!t) throw std::runtime_error(t.error().message);
  return std::move(t).value();
}

int64_t count_targets(const Example& e) {
  int64_t n = 0;
  for (auto t : e.target) n += t != kIgnore;
  return n;
}

}  // namespace

TEST(Tasks, EveryTaskIsDeterministicBySeedAndRectangular) {
  std::string corpus;
  for (int i = 0; i < 2000; ++i) corpus += "In the beginning was the word, and the word was with the corpus. ";
  json small = {{"train_examples", 20}, {"test_examples", 10}};
  for (const auto& name : task_names()) {
    json p = small;
    if (name == "selective_copying") p["seq_len"] = 64, p["num_tokens"] = 8;
    if (name == "mqar") p["seq_len"] = 64, p["vocab"] = 128;
    if (name == "byte_lm") p["seq_len"] = 64;
    auto a = make(name, p, 7, corpus), b = make(name, p, 7, corpus), c = make(name, p, 8, corpus);
    ASSERT_EQ(a.train.size(), 20u) << name;
    ASSERT_EQ(a.test.size(), 10u) << name;
    bool same = true, differs = false;
    for (size_t i = 0; i < a.train.size(); ++i) {
      same = same && a.train[i].input == b.train[i].input && a.train[i].target == b.train[i].target;
      differs = differs || a.train[i].input != c.train[i].input;
      EXPECT_EQ(static_cast<int64_t>(a.train[i].input.size()), a.seq_len) << name;
      EXPECT_EQ(a.train[i].target.size(), a.train[i].input.size()) << name;
      for (auto tok : a.train[i].input) {
        EXPECT_GE(tok, 0) << name;
        EXPECT_LT(tok, a.vocab) << name;
      }
    }
    EXPECT_TRUE(same) << name << ": same seed, different data";
    EXPECT_TRUE(differs) << name << ": different seed, same data";
    for (const auto& e : a.test) EXPECT_GT(count_targets(e), 0) << name << ": a test example with no target";
  }
}

TEST(Tasks, InContextRecallFollowsMadRules) {
  auto t = make("in_context_recall", {{"vocab", 16}, {"seq_len", 128}, {"train_examples", 50}, {"test_examples", 50}});
  EXPECT_EQ(t.seq_len, 127);  // multi-query: no copy token, MAD's length
  const int64_t half = 8;     // keys [0, 8), values [8, 16)
  for (const auto& e : t.train) {
    // Training targets are the whole shifted sequence.
    for (size_t i = 0; i + 1 < e.input.size(); ++i) EXPECT_EQ(e.target[i], e.input[i + 1]);
  }
  for (const auto& e : t.test) {
    std::map<int64_t, int64_t> seen;
    for (size_t i = 0; i < e.input.size(); ++i) {
      if (i % 2 == 0) EXPECT_LT(e.input[i], half) << "keys sit at even positions";
      if (i % 2 == 1) {
        EXPECT_GE(e.input[i], half);
        seen[e.input[i - 1]] = e.input[i];
      }
      if (e.target[i] == kIgnore) continue;
      // Test targets: only at keys already seen, and the target is their value.
      ASSERT_EQ(i % 2, 0u);
      const int64_t key = e.input[i];
      ASSERT_TRUE(seen.count(key)) << "target at a key never seen before";
      EXPECT_EQ(e.target[i], seen[key]);
    }
  }
}

TEST(Tasks, RecallMapIsRedrawnPerSequence) {
  auto t = make("in_context_recall", {{"train_examples", 200}, {"test_examples", 1}});
  std::set<int64_t> values_of_key0;
  for (const auto& e : t.train)
    for (size_t i = 0; i + 1 < e.input.size(); i += 2)
      if (e.input[i] == 0) values_of_key0.insert(e.input[i + 1]);
  EXPECT_GT(values_of_key0.size(), 3u);
}

TEST(Tasks, NoisyRecallNoiseIsNeverATarget) {
  auto t = make("noisy_in_context_recall", {{"vocab", 32}, {"noise_vocab", 16}, {"frac_noise", 0.2},
                                            {"train_examples", 1}, {"test_examples", 100}});
  int64_t noise = 0, tokens = 0;
  for (const auto& e : t.test)
    for (size_t i = 0; i < e.input.size(); ++i) {
      ++tokens;
      if (e.input[i] >= 16) {
        ++noise;
        EXPECT_EQ(e.target[i], kIgnore);
      }
    }
  const double frac = static_cast<double>(noise) / static_cast<double>(tokens);
  EXPECT_GT(frac, 0.12);
  EXPECT_LT(frac, 0.28);
}

TEST(Tasks, FuzzyRecallTargetsAreValues) {
  auto t = make("fuzzy_in_context_recall", {{"vocab", 16}, {"seq_len", 128}, {"train_examples", 1}, {"test_examples", 50}});
  for (const auto& e : t.test) {
    EXPECT_GT(count_targets(e), 0);
    for (size_t i = 0; i < e.input.size(); ++i)
      if (e.target[i] != kIgnore) {
        EXPECT_GE(e.target[i], 7);   // multi-query: 15 free tokens, values [7, 15)
        EXPECT_LT(e.target[i], 15);
      }
  }
}

TEST(Tasks, SelectiveCopyingTargetsAreTheTokensInOrder) {
  auto t = make("selective_copying", {{"vocab", 16}, {"seq_len", 256}, {"num_tokens", 16}, {"train_examples", 20}, {"test_examples", 1}});
  for (const auto& e : t.train) {
    ASSERT_EQ(e.input.size(), 256u);
    std::vector<int64_t> tokens;
    for (size_t i = 0; i < 256 - 17; ++i)
      if (e.input[i] != 14) tokens.push_back(e.input[i]);
    EXPECT_EQ(e.input[256 - 17], 15);  // copy token
    std::vector<int64_t> targets(e.target.end() - 16, e.target.end());
    EXPECT_EQ(tokens, targets);
    EXPECT_EQ(count_targets(e), 16);
  }
}

TEST(Tasks, CompressionReconstructsTheInput) {
  auto t = make("compression", {{"vocab", 16}, {"seq_len", 32}, {"train_examples", 10}, {"test_examples", 1}});
  EXPECT_TRUE(t.decode_from_last);
  for (const auto& e : t.train) {
    EXPECT_EQ(e.input.back(), 15);
    EXPECT_EQ(e.target, e.input);
  }
}

TEST(Tasks, MemorizationMapIsFixedAcrossTrainAndTest) {
  auto t = make("memorization", {{"vocab", 256}, {"seq_len", 32}, {"train_examples", 256}, {"test_examples", 64}});
  std::map<int64_t, int64_t> value;
  for (const auto* set : {&t.train, &t.test})
    for (const auto& e : *set)
      for (size_t i = 0; i < e.input.size(); i += 2) {
        EXPECT_EQ(e.input[i + 1], 255);  // insert token
        EXPECT_EQ(e.target[i], kIgnore);
        auto [it, fresh] = value.emplace(e.input[i], e.target[i + 1]);
        EXPECT_EQ(it->second, e.target[i + 1]) << "key " << e.input[i] << " maps to two values";
      }
  auto other = make("memorization", {{"vocab", 256}, {"seq_len", 32}, {"train_examples", 8}, {"test_examples", 8}}, 99);
  for (const auto& e : other.train)
    for (size_t i = 0; i < e.input.size(); i += 2)
      if (value.count(e.input[i])) EXPECT_EQ(value[e.input[i]], e.target[i + 1]) << "the map must not depend on the seed";
}

TEST(Tasks, MqarLabelsAreTheValuesOfQueriedKeys) {
  auto t = make("mqar", {{"vocab", 256}, {"seq_len", 128}, {"pairs", 8}, {"train_examples", 50}, {"test_examples", 1}});
  for (const auto& e : t.train) {
    std::map<int64_t, int64_t> kv;
    for (int i = 0; i < 8; ++i) {
      EXPECT_GE(e.input[2 * i], 1);
      EXPECT_LT(e.input[2 * i], 128);
      EXPECT_TRUE(kv.emplace(e.input[2 * i], e.input[2 * i + 1]).second) << "repeated key";
    }
    EXPECT_EQ(count_targets(e), 8);
    for (size_t p = 16; p < e.input.size(); ++p)
      if (e.target[p] != kIgnore) {
        ASSERT_TRUE(kv.count(e.input[p]));
        EXPECT_EQ(e.target[p], kv[e.input[p]]);
        EXPECT_EQ(p % 2, 0u);
      }
  }
}

TEST(Tasks, ByteLmHoldsOutTheTail) {
  std::string corpus;
  for (int i = 0; i < 5400; ++i) corpus += static_cast<char>('a' + (i * 7) % 26);
  corpus += std::string(600, '#');  // the held-out 10% is recognisable
  auto t = make("byte_lm", {{"seq_len", 32}, {"train_examples", 100}, {"test_examples", 5}, {"held_out", 0.1}}, 3, corpus);
  EXPECT_EQ(t.metric, Metric::bits_per_byte);
  for (const auto& e : t.train) {
    for (size_t i = 0; i + 1 < e.input.size(); ++i) EXPECT_EQ(e.target[i], e.input[i + 1]);
    for (auto b : e.input) EXPECT_NE(b, '#') << "a training window reaches into the held-out text";
  }
  for (const auto& e : t.test) EXPECT_EQ(e.input.front(), '#');
}

// The word problems: every target is the running product of the inputs, worked out here from the
// group's definition; test rows are longer than training rows (length extrapolation).
TEST(Tasks, StateTrackingTargetsAreTheRunningProductAndTestsAreLonger) {
  auto par = make("parity", {{"seq_len", 12}, {"test_seq_len", 40}, {"train_examples", 30}, {"test_examples", 5}});
  EXPECT_EQ(par.vocab, 2);
  EXPECT_EQ(par.seq_len, 12);
  ASSERT_EQ(par.test.size(), 5u);
  int checked = 0;
  for (const auto* set : {&par.train, &par.test})
    for (const auto& e : *set) {
      int64_t acc = 0;
      for (size_t t = 0; t < e.input.size(); ++t) {
        acc ^= e.input[t];
        ASSERT_EQ(e.target[t], acc);
        ++checked;
      }
    }
  EXPECT_EQ(checked, 30 * 12 + 5 * 40);
  EXPECT_EQ(par.test[0].input.size(), 40u);

  auto mod = make("modular_sum", {{"modulus", 7}, {"seq_len", 10}, {"train_examples", 10}, {"test_examples", 3}});
  EXPECT_EQ(mod.vocab, 7);
  EXPECT_EQ(mod.test[0].input.size(), 40u);  // 4x seq_len by default
  for (const auto& e : mod.train) {
    int64_t acc = 0;
    for (size_t t = 0; t < e.input.size(); ++t) EXPECT_EQ(e.target[t], acc = (acc + e.input[t]) % 7);
  }

  // S5: 120 permutations in lexicographic order (token 0 the identity); the composition applies the
  // earlier permutation first. Checked by composing the permutations themselves.
  auto s5 = make("permutation_composition", {{"seq_len", 16}, {"train_examples", 20}, {"test_examples", 2}});
  EXPECT_EQ(s5.vocab, 120);
  std::vector<std::vector<int>> perms;
  std::vector<int> p = {0, 1, 2, 3, 4};
  do perms.push_back(p);
  while (std::next_permutation(p.begin(), p.end()));
  ASSERT_EQ(perms.size(), 120u);
  std::set<int64_t> seen_targets;
  for (const auto& e : s5.train) {
    std::vector<int> acc = {0, 1, 2, 3, 4};
    for (size_t t = 0; t < e.input.size(); ++t) {
      const auto& g = perms[static_cast<size_t>(e.input[t])];
      std::vector<int> next(5);
      for (int i = 0; i < 5; ++i) next[i] = g[acc[i]];
      acc = next;
      ASSERT_EQ(perms[static_cast<size_t>(e.target[t])], acc);
      seen_targets.insert(e.target[t]);
    }
  }
  EXPECT_GT(seen_targets.size(), 100u);  // the words reach most of the group
  auto s3 = make("permutation_composition", {{"elements", 3}, {"seq_len", 8}, {"train_examples", 4}, {"test_examples", 2}});
  EXPECT_EQ(s3.vocab, 6);

  auto shorter = make_task("parity", {{"seq_len", 32}, {"test_seq_len", 16}}, 0);
  ASSERT_FALSE(shorter);
  EXPECT_NE(shorter.error().message.find("test_seq_len must be >= seq_len"), std::string::npos) << shorter.error().message;
  auto big = make_task("permutation_composition", {{"elements", 6}}, 0);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("elements must be in [2, 5]"), std::string::npos);
}

TEST(Tasks, BadSettingsAreNamed) {
  auto unknown = make_task("recall", json::object(), 0);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("unknown task \"recall\"; valid tasks: in_context_recall"), std::string::npos);
  auto typo = make_task("mqar", {{"pairz", 4}}, 0);
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().message, "task mqar: field \"pairz\" is not a known setting");
  auto type = make_task("compression", {{"vocab", "sixteen"}}, 0);
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message, "task compression: field \"vocab\" must be an integer");
  auto rule = make_task("mqar", {{"vocab", 64}, {"seq_len", 128}}, 0);
  ASSERT_FALSE(rule);
  EXPECT_NE(rule.error().message.find("vocab must exceed seq_len"), std::string::npos);
  auto tiny = make_task("byte_lm", json::object(), 0, "too small");
  ASSERT_FALSE(tiny);
  EXPECT_NE(tiny.error().message.find("corpus is too small"), std::string::npos);
}

// The second corpus, for held-out byte LM: Debian's fortunes, extracted once into the cache.
TEST(Corpus, FortunesIsASecondCorpusOfItsOwn) {
  const auto cache = std::filesystem::temp_directory_path() / ("asiarch-corpus-" + std::to_string(::getpid()));
  auto f = asiarch::lab::load_corpus(cache, "fortunes");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_GT(f->size(), 500000u);
  EXPECT_EQ(f->find("\n%\n"), std::string::npos);  // the collections' separators are gone
  EXPECT_TRUE(std::filesystem::exists(cache / "corpus" / "fortunes.txt"));
  auto again = asiarch::lab::load_corpus(cache, "fortunes");  // from the cache now
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *f);
  auto unknown = asiarch::lab::load_corpus(cache, "shakespeare");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("shakespeare"), std::string::npos) << unknown.error().message;
  std::filesystem::remove_all(cache);
}
