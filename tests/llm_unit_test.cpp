// The LLM client, answer parsing, prompt fitting and near-duplicate measure,
// against the scripted OpenAI-compatible server (tests/llm/fake_llm.py). No LibTorch.
#include <gtest/gtest.h>

#include <map>

#include "agents/llm/answer.h"
#include "agents/llm/client.h"
#include "agents/llm/prompts.h"
#include "llm/fake_server.h"
#include "llm/memory_log.h"
#include "util/files.h"
#include "util/similarity.h"

using namespace asiarch;
using namespace asiarch::agents::llm;
using asiarch::testing::FakeLlm;
using asiarch::testing::MemoryLog;

namespace {

std::filesystem::path dir_for(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("asiarch-llm-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::string baseline(const std::string& name) {
  return read_file(std::string(ASIARCH_SOURCE_DIR) + "/plugins/baselines/" + name + ".cpp").value();
}

Config config_for(const std::string& url) {
  Config c;
  c.url = url;
  c.model = "test-model";
  c.timeout_seconds = 5;
  c.max_retries = 2;
  c.retry_base_seconds = 0.05;
  return c;
}

Request hello(const std::string& text = "hello") {
  return Request{"researcher", "propose", "researcher", 1, {{"system", "be brief"}, {"user", text}}};
}

}  // namespace

TEST(LlmAnswer, ReadsAJsonObjectInAFenceAfterThinkingWithRawNewlinesAndATrailingComma) {
  const std::string answer =
      "<think>The parent saturates; a gate might help. {not json}</think>\n"
      "Here is my design:\n```json\n{\"name\": \"Gated Delta v2\", \"motivation\": \"adds a forget gate\",\n"
      " \"code\": \"#include <asiarch/plugin.h>\nclass A : public asiarch::TokenMixer {};\nASIARCH_REGISTER_MIXER(A, \\\"a\\\")\n\",}\n```\n";
  auto d = parse_design(answer);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->name, "Gated Delta v2");
  EXPECT_EQ(d->motivation, "adds a forget gate");
  EXPECT_NE(d->code.find("class A"), std::string::npos);
  EXPECT_EQ(d->format, "json");
  EXPECT_EQ(tidy_name(d->name), "gated_delta_v2");
}

TEST(LlmAnswer, ReadsProseWithNameAndMotivationLinesAndOneCppFence) {
  const std::string answer =
      "**Name:** DecayDelta\n**Motivation:** A learned decay lets the state forget\nstale associations.\n\n"
      "```cpp\n#include <asiarch/plugin.h>\nclass D : public asiarch::TokenMixer {\n};\nASIARCH_REGISTER_MIXER(D, \"d\")\n```\n"
      "This should help recall.";
  auto d = parse_design(answer);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->name, "DecayDelta");
  EXPECT_EQ(d->motivation, "A learned decay lets the state forget stale associations.");
  EXPECT_EQ(d->format, "prose");
  EXPECT_TRUE(check_contract(d->code));
}

TEST(LlmAnswer, ReadsWhatTheDesignDrewOnInEachFormAndTellsNoneFromNotSaid) {
  const std::string code = "#include <asiarch/plugin.h>\nclass A {};\nASIARCH_REGISTER_MIXER(A, \"a\")\n";
  auto j = parse_design(nlohmann::json({{"name", "A"}, {"motivation", "m"}, {"drew_on", {"[delta-rule-2021]", "analysis-7"}},
                                        {"code", code}}).dump());
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_TRUE(j->drew_on_stated);
  EXPECT_EQ(j->drew_on, (std::vector<std::string>{"delta-rule-2021", "analysis-7"}));
  auto empty = parse_design(nlohmann::json({{"name", "A"}, {"motivation", "m"}, {"drew_on", nlohmann::json::array()},
                                            {"code", code}}).dump());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->drew_on_stated);
  EXPECT_TRUE(empty->drew_on.empty());
  auto unsaid = parse_design(nlohmann::json({{"name", "A"}, {"motivation", "m"}, {"code", code}}).dump());
  ASSERT_TRUE(unsaid);
  EXPECT_FALSE(unsaid->drew_on_stated);
  auto prose = parse_design("Name: A\nMotivation: m\n**Drew on:** [insight-3-1], `gated-deltanet-2024`.\n```cpp\n" + code +
                            "```\n");
  ASSERT_TRUE(prose) << prose.error().message;
  EXPECT_EQ(prose->drew_on, (std::vector<std::string>{"insight-3-1", "gated-deltanet-2024"}));
  // The line after a motivation that runs over several lines is not part of it (a real model's answer).
  auto edits = parse_design("Name: A\nMotivation: first line\nsecond line.\nDrew on: gated-deltanet\n\n"
                            "<<<<<<< SEARCH\nclass A {};\n=======\nclass A { };\n>>>>>>> REPLACE\n");
  ASSERT_TRUE(edits) << edits.error().message;
  EXPECT_EQ(edits->motivation, "first line second line.");
  EXPECT_EQ(edits->drew_on, (std::vector<std::string>{"gated-deltanet"}));
  auto none = parse_design("Name: A\nMotivation: m\nDrew on: none\n```cpp\n" + code + "```\n");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->drew_on_stated);
  EXPECT_TRUE(none->drew_on.empty());
  auto bad = parse_design(nlohmann::json({{"name", "A"}, {"motivation", "m"}, {"drew_on", 3}, {"code", code}}).dump());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"drew_on\""), std::string::npos);
}

TEST(LlmAnswer, AppliesSearchReplaceEditsVerbatimThenToleratingWhitespaceAndRefusesAmbiguousOnes) {
  const std::string src = "int a = 1;\n  int b = 2;\nint c = 3;\nint c = 3;\n";
  const auto edits = edit_blocks("Name: x\n<<<<<<< SEARCH\nint a = 1;\n=======\nint a = 10;\n>>>>>>> REPLACE\n"
                                 "<<<<<<< SEARCH\nint b = 2;   \n=======\n  int b = 20;\n>>>>>>> REPLACE\n");
  ASSERT_EQ(edits.size(), 2u);
  auto out = apply_edits(src, edits);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "int a = 10;\n  int b = 20;\nint c = 3;\nint c = 3;\n");
  auto twice = apply_edits(src, {{"int c = 3;\n", "int c = 4;\n"}});
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("edit 1 of 1: its SEARCH text matches 2 places"), std::string::npos);
  auto nowhere = apply_edits(src, {{"int z = 0;\n", ""}});
  ASSERT_FALSE(nowhere);
  EXPECT_NE(nowhere.error().message.find("matches nowhere"), std::string::npos);
}

TEST(LlmAnswer, NamesWhatIsWrongWithUnusableAnswers) {
  auto none = parse_design("I'm sorry, but I can't help with designing that.");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("holds no code"), std::string::npos);
  auto cut = parse_design("Name: X\nMotivation: y\n```cpp\n#include <asiarch/plugin.h>\nclass X {\n");
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().message.find("not closed"), std::string::npos);
  auto wrong = parse_design(R"({"name": 7, "motivation": "m", "code": "x"})");
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "JSON field \"name\" must be a string");
  auto python = check_contract("import torch\nclass M(nn.Module):\n    def forward(self, x): return x\n");
  ASSERT_FALSE(python);
  EXPECT_NE(python.error().message.find("Python"), std::string::npos);
  auto open = check_contract("#include <asiarch/plugin.h>\nclass A {\n void f() {\nASIARCH_REGISTER_MIXER(A, \"a\")\n");
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("2 unclosed brace"), std::string::npos);
  EXPECT_EQ(strip_think("<think>a</think>b<think>c"), "b");
  EXPECT_EQ(strip_think("planning...</think>\nanswer"), "answer");
}

TEST(LlmPrompts, BuiltInTemplatesCarryNameAndVersionAndAPromptDirOverridesThem) {
  for (const auto& n : template_names()) {
    auto t = load_template(n, "");
    ASSERT_TRUE(t) << n << ": " << t.error().message;
    EXPECT_EQ(t->name, n);
    EXPECT_GE(t->version, 1);
  }
  const auto d = dir_for("prompts");
  ASSERT_TRUE(write_file_atomic(d / "judge.txt", "# name: judge\n# version: 7\n--- system\nS {{x}}\n--- user\nU\n"));
  auto t = load_template("judge", d.string());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, 7);
  EXPECT_EQ(t->origin, (d / "judge.txt").string());
  ASSERT_TRUE(write_file_atomic(d / "analyst.txt", "no header\n"));
  auto bad = load_template("analyst", d.string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find((d / "analyst.txt").string()), std::string::npos);
}

TEST(LlmPrompts, AHugeParentFitsTheContextReferencesGoFirstThenCognitionThenTheSourceIsCut) {
  auto t = load_template("researcher", "");
  ASSERT_TRUE(t);
  std::string huge;
  for (int i = 0; i < 20000; ++i) huge += "  x = x + " + std::to_string(i) + ";  // line\n";
  const std::string refs(40000, 'r'), know(20000, 'k');
  auto parts = [&] {
    return std::vector<Part>{{"parent_source", huge, 0, true},
                             {"references", refs, 1, true},
                             {"cognition", know, 2, true},
                             {"parent_name", "Big", 0, false}};
  };
  auto m = fit(*t, parts(), 8000);
  int64_t tokens = 0;
  for (const auto& x : m) tokens += estimate_tokens(x.content);
  EXPECT_LE(tokens, 8000);
  EXPECT_EQ(m[1].content.find("rrrrrrrr"), std::string::npos);  // references left out
  EXPECT_EQ(m[1].content.find("kkkkkkkk"), std::string::npos);  // then cognition
  EXPECT_NE(m[1].content.find("lines left out to fit the context"), std::string::npos);
  EXPECT_NE(m[1].content.find("x = x + 0;"), std::string::npos);      // the head of the source
  EXPECT_NE(m[1].content.find("x = x + 19999;"), std::string::npos);  // and its end
  // With room, nothing is dropped.
  auto roomy = fit(*t, parts(), 1000000);
  EXPECT_NE(roomy[1].content.find("rrrrrrrr"), std::string::npos);
}

TEST(LlmNovelty, ARenameOnlyCopyIsANearDuplicateAndAnotherDesignIsNot) {
  const std::string dn = baseline("delta_net"), gdn = baseline("gated_delta_net");
  std::string renamed = dn;
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"DeltaNet", "MyMixer"}, {"q_proj_", "query_"}, {"k_proj_", "key_"}, {"heads_", "nh_"}, {"beta", "gate_b"}})
    for (size_t at = renamed.find(a); at != std::string::npos; at = renamed.find(a, at + b.size()))
      renamed.replace(at, a.size(), b);
  EXPECT_LT(source_similarity(dn, renamed), 0.9);  // the plain measure is fooled by renaming
  EXPECT_GE(renamed_similarity(dn, renamed), 0.95);  // the loop's near-duplicate threshold
  EXPECT_LT(renamed_similarity(dn, gdn), 0.95);
}

TEST(LlmClient, RetriesA429HonouringRetryAfterAndA503ThenAnswersAndCountsTokensAndCost) {
  const auto d = dir_for("retry");
  FakeLlm server(d, {{"answers",
                      {{{"status", 429}, {"content", "slow down"}, {"headers", {{"Retry-After", "1"}}}},
                       {{"status", 503}, {"content", "overloaded"}},
                       {{"content", "<think>hmm</think>hi there"},
                        {"usage", {{"prompt_tokens", 1000}, {"completion_tokens", 500}}}}}}});
  auto c = config_for(server.url());
  c.prices = {{"test-model", {{"input_per_mtok", 2.0}, {"output_per_mtok", 10.0}}}};
  Client client(c, "", nullptr);
  auto r = client.chat(hello());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "hi there");
  EXPECT_EQ(r.call.retries, 2);
  // The waits the client decided, not a clock: the 429's Retry-After, then the backoff (0.05 s,
  // doubled once, times a jitter in [0.5, 1.5)).
  ASSERT_EQ(r.call.waits.size(), 2u);
  EXPECT_DOUBLE_EQ(r.call.waits[0], 1.0);
  EXPECT_GE(r.call.waits[1], 0.05);
  EXPECT_LT(r.call.waits[1], 0.15);
  EXPECT_EQ(r.call.prompt_tokens, 1000);
  EXPECT_FALSE(r.call.tokens_estimated);
  EXPECT_DOUBLE_EQ(r.call.cost_usd, (1000 * 2.0 + 500 * 10.0) / 1e6);
  EXPECT_DOUBLE_EQ(client.spent_usd(), r.call.cost_usd);
  EXPECT_EQ(server.requests().size(), 3u);
  EXPECT_EQ(server.requests()[0]["request"]["model"], "test-model");
}

TEST(LlmClient, WithoutUsageTokensAreEstimatedAndTheBudgetStopsFurtherCalls) {
  const auto d = dir_for("budget");
  FakeLlm server(d, {{"default", {{"content", std::string(4000, 'a')}, {"usage", nullptr}}}});
  auto c = config_for(server.url());
  c.prices = {{"test-model", {{"input_per_mtok", 0.0}, {"output_per_mtok", 1000.0}}}};
  c.budget_usd = 0.5;
  Client client(c, "", nullptr);
  auto r = client.chat(hello());
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.call.tokens_estimated);
  EXPECT_EQ(r.call.completion_tokens, 1000);
  EXPECT_TRUE(client.budget_spent());  // 1000 tokens at $1000/Mtok = $1 > $0.5
  auto again = client.chat(hello("more"));
  EXPECT_FALSE(again.ok);
  EXPECT_NE(again.error.find("budget"), std::string::npos);
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(LlmClient, AWrongKeyAnUnknownModelAndAnEnormousAnswerAreFailuresWithReasonsNotRetried) {
  const auto d = dir_for("refusals");
  {
    FakeLlm server(d / "key", {{"default", {{"content", "hi"}}}}, 0, false, "sk-right");
    Client client(config_for(server.url()), "sk-wrong", nullptr);
    auto r = client.chat(hello());
    EXPECT_FALSE(r.ok);
    EXPECT_FALSE(r.unavailable);
    EXPECT_NE(r.error.find("HTTP 401"), std::string::npos);
    EXPECT_NE(r.error.find("OPENAI_API_KEY"), std::string::npos);
    EXPECT_EQ(server.requests().size(), 1u);  // not retried
    EXPECT_EQ(server.requests()[0]["auth"], "Bearer sk-wrong");
  }
  {
    FakeLlm server(d / "model", {{"default", {{"status", 404}, {"content", "The model `nope` does not exist"}}}});
    Client client(config_for(server.url()), "", nullptr);
    auto r = client.chat(hello());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("HTTP 404"), std::string::npos);
    EXPECT_NE(r.error.find("does not exist"), std::string::npos);
  }
  {
    FakeLlm server(d / "huge", {{"default", {{"size", 9 << 20}}}});
    Client client(config_for(server.url()), "", nullptr);
    auto r = client.chat(hello());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("larger than 8 MiB"), std::string::npos);
  }
  {
    FakeLlm server(d / "notchat", {{"default", {{"body", "<html>proxy error</html>"}}}});
    Client client(config_for(server.url()), "", nullptr);
    auto r = client.chat(hello());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("not an OpenAI chat completion"), std::string::npos);
  }
}

TEST(LlmClient, AHangingServerTimesOutAndRepeatedFailuresOpenTheBreakerWhichClosesAfterTheCoolDown) {
  const auto d = dir_for("breaker");
  const int port = asiarch::testing::free_port();
  auto c = config_for("http://127.0.0.1:" + std::to_string(port) + "/v1");
  c.max_retries = 1;
  c.breaker_failures = 2;
  c.breaker_cooldown_seconds = 1.5;
  c.timeout_seconds = 1;
  Client client(c, "", nullptr);
  auto first = client.chat(hello());  // nothing listens
  EXPECT_FALSE(first.ok);
  EXPECT_TRUE(first.unavailable);
  EXPECT_EQ(first.call.retries, 1);
  EXPECT_EQ(client.paused_for(), 0);
  {
    FakeLlm hang(d / "hang", {{"default", {{"content", "late"}, {"delay", 5}}}}, port);
    auto second = client.chat(hello());  // times out
    EXPECT_FALSE(second.ok);
    EXPECT_TRUE(second.unavailable);
    EXPECT_NE(second.error.find("Timeout"), std::string::npos) << second.error;
  }
  EXPECT_GT(client.paused_for(), 0);  // two failures in a row: open
  auto paused = client.chat(hello());
  EXPECT_FALSE(paused.ok);
  EXPECT_NE(paused.error.find("paused"), std::string::npos);
  FakeLlm back(d / "back", {{"default", {{"content", "back again"}}}}, port);
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  EXPECT_EQ(client.paused_for(), 0);
  auto r = client.chat(hello());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "back again");
}

TEST(LlmClient, HttpsWithASelfSignedCertificateWorksWhenTrustedAndFailsWhenNot) {
  const auto d = dir_for("https");
  FakeLlm server(d, {{"default", {{"content", "secure hello"}}}}, 0, true);
  ASSERT_EQ(server.url().rfind("https://", 0), 0u);
  auto c = config_for(server.url());
  c.max_retries = 0;
  {
    Client untrusted(c, "", nullptr);
    auto r = untrusted.chat(hello());
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find("certificate"), std::string::npos) << r.error;
  }
  c.ca_file = server.certificate().string();
  Client client(c, "sk-secret", nullptr);
  auto r = client.chat(hello());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.content, "secure hello");
  EXPECT_EQ(server.requests().back()["auth"], "Bearer sk-secret");
}

TEST(LlmClient, ARequestAlreadyAnsweredIsReplayedFromTheLogNotPaidForAgain) {
  const auto d = dir_for("replay");
  FakeLlm server(d, {{"default", {{"content", "the answer"}}}});
  MemoryLog log;
  Client client(config_for(server.url()), "", &log);
  auto a = client.chat(hello());
  ASSERT_TRUE(a.ok);
  client.finish(a.call, Use::usable, "parsed");
  Client resumed(config_for(server.url()), "", &log);  // a new process, the same archive
  auto b = resumed.chat(hello());
  ASSERT_TRUE(b.ok);
  EXPECT_TRUE(b.call.replayed);
  EXPECT_EQ(b.content, "the answer");
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(resumed.spent_usd(), 0);
  auto other = resumed.chat(hello("another question"));
  EXPECT_FALSE(other.call.replayed);
  EXPECT_EQ(server.requests().size(), 2u);
}
