// The cognition base: the shipped entries, retrieval, notes, and the CLI.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "cognition/cognition.h"
#include "tests/cli_run.h"

namespace fs = std::filesystem;
using namespace asiarch;
using asiarch::testing::run_cli;

TEST(Cognition, TheShippedEntriesAreCompleteAndDistinct) {
  auto all = cognition::builtin_entries();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_GE(all->size(), 60u);
  std::set<std::string> ids;
  for (const auto& e : *all) {
    EXPECT_TRUE(ids.insert(e.id).second) << e.id;
    for (const std::string* f : {&e.title, &e.topic, &e.key_idea, &e.mechanism, &e.strengths, &e.weaknesses,
                                 &e.when_it_helps, &e.build_with_ops})
      EXPECT_FALSE(f->empty()) << e.id;
    EXPECT_GE(e.year, 1990) << e.id;
  }
}

TEST(Cognition, DeltaRuleInstabilityRetrievesTheDeltaRuleEntriesFirst) {
  auto all = cognition::builtin_entries();
  ASSERT_TRUE(all) << all.error().message;
  auto index = cognition::Index::build(*all);
  ASSERT_TRUE(index) << index.error().message;
  const auto hits = index->search("delta rule instability", 2);
  ASSERT_EQ(hits.size(), 2u);
  for (const auto& h : hits) EXPECT_TRUE(h.entry.id == "deltanet" || h.entry.id == "gated-deltanet") << h.entry.id;
  // Another question, another answer.
  const auto ssm = index->search("selective state space scan", 3);
  ASSERT_FALSE(ssm.empty());
  EXPECT_TRUE(ssm[0].entry.id == "mamba" || ssm[0].entry.id == "mamba2-ssd") << ssm[0].entry.id;
}

TEST(Cognition, PerChannelDecayRetrievesTheFineGrainedDecayEntriesFirst) {
  auto all = cognition::builtin_entries();
  ASSERT_TRUE(all) << all.error().message;
  auto index = cognition::Index::build(*all);
  ASSERT_TRUE(index) << index.error().message;
  const std::set<std::string> expected = {"per-channel-decay", "kimi-delta-attention", "gated-deltanet-2"};
  const auto hits = index->search("per-channel decay", 3);
  ASSERT_EQ(hits.size(), 3u);
  for (const auto& h : hits) EXPECT_TRUE(expected.count(h.entry.id)) << h.entry.id;
}

TEST(Cognition, StateTrackingRetrievesTheStateTrackingEntriesFirst) {
  auto all = cognition::builtin_entries();
  ASSERT_TRUE(all) << all.error().message;
  auto index = cognition::Index::build(*all);
  ASSERT_TRUE(index) << index.error().message;
  const std::set<std::string> expected = {"state-tracking-tasks", "negative-eigenvalues-state-tracking",
                                          "gated-deltaproduct", "rwkv7"};
  const auto hits = index->search("state tracking", 3);
  ASSERT_EQ(hits.size(), 3u);
  for (const auto& h : hits) EXPECT_TRUE(expected.count(h.entry.id)) << h.entry.id;
}

TEST(Cognition, QueriesAreWordsNotSyntax) {
  auto all = cognition::builtin_entries();
  ASSERT_TRUE(all) << all.error().message;
  auto index = cognition::Index::build(*all);
  ASSERT_TRUE(index);
  for (const char* q : {"NEAR(delta rule", "\"unbalanced", "gating AND OR NOT", "col:title*", ""})
    EXPECT_NO_THROW((void)index->search(q, 3)) << q;
  EXPECT_TRUE(index->search("", 3).empty());
  EXPECT_TRUE(index->search("zzzzqqqq", 3).empty());
}

TEST(Cognition, ABadEntryNamesItsFileAndField) {
  auto e = cognition::parse_entry(R"({"id": "x", "title": "T"})", "note.json");
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("note.json: field \"key_idea\" is missing"), std::string::npos) << e.error().message;
  auto y = cognition::parse_entry(R"({"id": "x", "title": "T", "key_idea": "k", "year": "2020"})", "n.json");
  ASSERT_FALSE(y);
  EXPECT_NE(y.error().message.find("field \"year\" must be an integer"), std::string::npos) << y.error().message;
  EXPECT_FALSE(cognition::parse_entry("{not json", "n.json"));
}

TEST(Cognition, ANoteAddedFromTheCommandLineIsRetrieved) {
  const fs::path w = fs::temp_directory_path() / ("asiarch-cognition-" + std::to_string(::getpid()));
  fs::remove_all(w);
  fs::create_directories(w);
  std::ofstream(w / "note.json") << R"({"id": "my-zigzag", "title": "Zigzag scan mixer", "year": 2026,
    "key_idea": "Scan the sequence in a zigzag order of blocks to shorten paths between distant tokens."})";
  auto add = run_cli("cognition add " + (w / "note.json").string() + " --workdir " + w.string());
  ASSERT_EQ(add.status, 0) << add.output;
  auto again = run_cli("cognition add " + (w / "note.json").string() + " --workdir " + w.string());
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("an entry with id \"my-zigzag\" exists"), std::string::npos) << again.output;
  auto found = run_cli("cognition search zigzag -k 3 --json --workdir " + w.string());
  ASSERT_EQ(found.status, 0) << found.output;
  auto j = nlohmann::json::parse(found.output);
  ASSERT_FALSE(j.empty()) << found.output;
  EXPECT_EQ(j[0]["id"], "my-zigzag");
  EXPECT_EQ(j[0]["source"], "note my-zigzag.json");
  auto text = run_cli("cognition search \"delta rule\" --workdir " + w.string());
  EXPECT_EQ(text.status, 0);
  EXPECT_NE(text.output.find("1. "), std::string::npos) << text.output;
  std::ofstream(w / "bad.json") << R"({"id": "b", "title": "B"})";
  auto bad = run_cli("cognition add " + (w / "bad.json").string() + " --workdir " + w.string());
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.output.find("bad.json: field \"key_idea\" is missing"), std::string::npos) << bad.output;
  fs::remove_all(w);
}
