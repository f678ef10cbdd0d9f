// The run settings table: the docs' copy, the flags, and the config file's
// nested keys and checks.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <fstream>
#include <sstream>

#include "cli/run_flags.h"
#include "config/run_settings.h"

using namespace asiarch;
using namespace asiarch::host;

namespace {

// `asiarch run`'s setting flags alone, parsed from `args`, applied to defaults.
RunConfig with_flags(const std::string& args) {
  CLI::App app;
  auto given = std::make_shared<GivenFlags>();
  add_setting_flags(app, given);
  app.parse(args, /*program_name_included=*/false);
  RunConfig c;
  given->apply(c);
  return c;
}

}  // namespace

TEST(RunSettings, DocsHoldTheGeneratedTable) {
  std::ifstream in(ASIARCH_SOURCE_DIR "/docs/discovery.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string doc = text.str(), begin = "<!-- settings:begin -->\n", end = "<!-- settings:end -->";
  const auto b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << "docs/discovery.md has no " << begin;
  ASSERT_NE(e, std::string::npos) << "docs/discovery.md has no " << end;
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), settings_markdown())
      << "regenerate the section with: asiarch settings --markdown";
}

TEST(RunSettings, EveryFlagSetsItsField) {
  const RunConfig c = with_flags(
      "--budget 3 --preset smoke --presets p.json --tasks mqar,byte_lm --workers 2 --seed 18446744073709551615 "
      "--timeout 60.5 --cache-dir /c --promote 1 --promote-preset explore --pool-size 20 --parent-top 4 "
      "--max-runtime-revisions 0 --executor local2 --researcher r --engineer e --analyst a --judge j --events jsonl");
  EXPECT_EQ(c.budget, 3);
  EXPECT_EQ(c.preset, "smoke");
  EXPECT_EQ(c.presets_file, "p.json");
  EXPECT_EQ(c.tasks, (std::vector<std::string>{"mqar", "byte_lm"}));
  EXPECT_EQ(c.workers, 2);
  EXPECT_EQ(c.seed, 18446744073709551615ull);
  EXPECT_EQ(c.limits.wall_seconds, 60.5);
  EXPECT_EQ(c.cache_dir, "/c");
  EXPECT_EQ(c.promote, 1);
  EXPECT_EQ(c.promote_preset, "explore");
  EXPECT_EQ(c.selection.pool_size, 20);
  EXPECT_EQ(c.selection.parent_top, 4);
  EXPECT_EQ(c.max_runtime_revisions, 0);
  EXPECT_EQ(c.executor, "local2");
  EXPECT_EQ(c.agents.researcher, "r");
  EXPECT_EQ(c.agents.engineer, "e");
  EXPECT_EQ(c.agents.analyst, "a");
  EXPECT_EQ(c.agents.judge, "j");
  EXPECT_EQ(c.events, "jsonl");
}

TEST(RunSettings, FlagsNotGivenKeepTheDefaults) {
  const RunConfig c = with_flags("--budget 3"), d;
  for (const auto& s : run_settings())
    if (s.key != "budget") EXPECT_EQ(s.get(c), s.get(d)) << s.key;
}

TEST(RunSettings, FlagsAreCheckedAsTheFileIs) {
  EXPECT_THROW(with_flags("--workers 0"), CLI::ValidationError);
  EXPECT_THROW(with_flags("--workers two"), CLI::ValidationError);
  EXPECT_THROW(with_flags("--budget -1"), CLI::ValidationError);
  EXPECT_THROW(with_flags("--timeout 0"), CLI::ValidationError);
  EXPECT_THROW(with_flags("--events xml"), CLI::ValidationError);
  EXPECT_THROW(with_flags("--workers 3000000000"), CLI::ValidationError);  // not an int
}

TEST(RunSettings, ConfigFileSetsNestedAgentsAndNewFields) {
  RunConfig c;
  ASSERT_TRUE(apply_config_json(c, R"({"agents": {"engineer": "llm", "judge": "x"}, "events": "jsonl",
      "max_runtime_revisions": 3, "executor": "local"})", "w/asiarch.json"));
  EXPECT_EQ(c.agents.engineer, "llm");
  EXPECT_EQ(c.agents.judge, "x");
  EXPECT_EQ(c.agents.researcher, "");  // offline unless llm.url is set
  EXPECT_EQ(c.events, "jsonl");
  EXPECT_EQ(c.max_runtime_revisions, 3);
  EXPECT_EQ(c.executor, "local");
}

TEST(RunSettings, ConfigFileErrorsNameTheNestedField) {
  RunConfig c;
  auto unknown = apply_config_json(c, R"({"agents": {"enginer": "llm"}})", "w/asiarch.json");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message,
            "w/asiarch.json: unknown field \"agents.enginer\"; valid fields: agents.researcher, agents.engineer, "
            "agents.analyst, agents.judge");
  auto flat = apply_config_json(c, R"({"agents": "offline"})", "w/asiarch.json");
  ASSERT_FALSE(flat);
  EXPECT_EQ(flat.error().message,
            "w/asiarch.json: field \"agents\" must be an object with the keys researcher, engineer, analyst, judge, "
            "got string \"offline\"");
  auto type = apply_config_json(c, R"({"agents": {"judge": 1}})", "w/asiarch.json");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message, "w/asiarch.json: field \"agents.judge\" must be a string, got integer 1");
  auto events = apply_config_json(c, R"({"events": "xml"})", "w/asiarch.json");
  ASSERT_FALSE(events);
  EXPECT_EQ(events.error().message, "w/asiarch.json: field \"events\" must be \"text\" or \"jsonl\", got string \"xml\"");
  auto big = apply_config_json(c, R"({"workers": 3000000000})", "w/asiarch.json");
  EXPECT_FALSE(big);
  EXPECT_EQ(c.agents.judge, "");  // nothing applied from a file with an error
}
