// The SQLite archive: records, lineage, novelty lookups, migrations, and
// refusal of foreign, corrupt or newer files without writing to them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <fstream>

#include "archive/archive.h"
#include "util/files.h"

using namespace asiarch;
using namespace asiarch::archive;

namespace {

std::filesystem::path fresh_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("asiarch-archive-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
  return p;
}

Experiment exp(const std::string& name, std::optional<int64_t> parent = std::nullopt) {
  Experiment e;
  e.name = name;
  e.parent = parent;
  e.source = "// " + name;
  e.canonical = "canon:" + name;
  e.source_hash = "hash:" + name;
  e.motivation = "because " + name;
  return e;
}

}  // namespace

TEST(Archive, RecordsAndReadsBackEverything) {
  auto a = Archive::open(fresh_path("a.db"));
  ASSERT_TRUE(a) << a.error().message;
  auto& ar = **a;
  EXPECT_EQ(ar.schema_version(), kSchemaVersion);
  Experiment root = exp("delta_net");
  root.origin = Origin::baseline;
  root.design = {{"update", "delta"}};
  const int64_t r = ar.add_experiment(root).value();
  Experiment child = exp("child", r);
  child.references = {r};
  const int64_t c = ar.add_experiment(child).value();
  const int64_t c2 = ar.add_experiment(exp("child2", r)).value();

  auto back = ar.experiment(c).value();
  EXPECT_EQ(back.name, "child");
  EXPECT_EQ(back.parent, r);
  EXPECT_EQ(back.references, std::vector<int64_t>{r});
  EXPECT_EQ(back.status, "proposed");
  EXPECT_EQ(ar.experiment(r)->origin, Origin::baseline);
  EXPECT_EQ(ar.experiment(r)->design["update"], "delta");
  EXPECT_EQ(ar.children(r), (std::vector<int64_t>{c, c2}));

  CompileAttempt at;
  at.attempt = 1;
  at.source = "int x = ;";
  at.diagnostics.add(jit::make_diagnostic(jit::Stage::compile, jit::Severity::error, "x.cpp", "expected expression"));
  ASSERT_TRUE(ar.add_compile_attempt(c, at));
  at.attempt = 2;
  at.ok = true;
  at.method = "fix-it";
  at.answered = {"1:9: expected expression"};
  at.diff = "--- a\n+++ b\n";
  ASSERT_TRUE(ar.add_compile_attempt(c, at));
  auto attempts = ar.compile_attempts(c);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].diagnostics.items[0].message, "expected expression");
  EXPECT_EQ(attempts[1].method, "fix-it");
  EXPECT_EQ(attempts[1].answered, std::vector<std::string>{"1:9: expected expression"});

  ASSERT_TRUE(ar.set_gates(c, {{"causality", true, "fine", {{"max_change", 0}}}, {"complexity", false, "L^2", {}}}));
  ASSERT_EQ(ar.gates(c).size(), 2u);
  EXPECT_FALSE(ar.gates(c)[1].passed);

  TrainingRun tr;
  tr.preset = "smoke";
  tr.task = "mqar";
  tr.metric_name = "accuracy";
  tr.metric = 0.75;
  tr.curve = {{1, 2.0}, {2, 1.5}};
  tr.stop_reason = "completed";
  ASSERT_TRUE(ar.add_training_run(c, tr));
  tr.task = "byte_lm";
  tr.final_loss = std::nullopt;  // diverged
  ASSERT_TRUE(ar.add_training_run(c, tr));
  auto runs = ar.training_runs(c);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].metric, 0.75);
  EXPECT_FALSE(runs[1].final_loss.has_value());

  ASSERT_TRUE(ar.set_score(c, {0.7, 0.6, 0.5, 1.8, {{"why", "test"}}}));
  ASSERT_TRUE(ar.set_score(c2, {0.9, 0.6, 0.5, 2.0, {}}));
  EXPECT_EQ(ar.top(5), (std::vector<std::pair<int64_t, double>>{{c2, 2.0}, {c, 1.8}}));
  EXPECT_DOUBLE_EQ(ar.score(c)->loss_score, 0.7);
  EXPECT_FALSE(ar.score(r).has_value());

  ASSERT_TRUE(ar.add_analysis(c, "better than parent", nlohmann::json::array({"gates help"})));
  EXPECT_EQ(ar.analyses(c)[0].insights[0], "gates help");

  ASSERT_TRUE(ar.set_status(c, "failed", "worker crashed: SIGSEGV"));
  EXPECT_EQ(ar.experiment(c)->fail_reason, "worker crashed: SIGSEGV");
  EXPECT_FALSE(ar.set_status(999, "failed"));

  EXPECT_EQ(ar.find_duplicate("canon:child", "nothing"), c);
  EXPECT_EQ(ar.find_duplicate("nothing", "hash:delta_net"), r);
  EXPECT_FALSE(ar.find_duplicate("nothing", "none").has_value());
}

TEST(Archive, ReopeningKeepsEverything) {
  auto path = fresh_path("reopen.db");
  {
    auto a = Archive::open(path).value();
    ASSERT_TRUE(a->add_experiment(exp("one")));
    ASSERT_TRUE(a->add_experiment(exp("two")));
  }
  auto a = Archive::open(path);
  ASSERT_TRUE(a);
  ASSERT_EQ((*a)->experiments().size(), 2u);
  EXPECT_EQ((*a)->experiments()[1].name, "two");
}

TEST(Archive, ForeignDatabaseIsRefusedAndUntouched) {
  auto path = fresh_path("foreign.db");
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO photos VALUES (1, 'cat')");
  }
  const auto before = read_file(path).value();
  auto a = Archive::open(path);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, path.string() + ": not an asiarch archive (a SQLite database of another application)");
  EXPECT_EQ(read_file(path).value(), before);
  EXPECT_FALSE(std::filesystem::exists(path.string() + "-wal"));
}

TEST(Archive, CorruptFileIsRefusedAndUntouched) {
  auto path = fresh_path("corrupt.db");
  std::ofstream(path) << std::string(4096, 'x');
  auto a = Archive::open(path);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find(path.string() + ": cannot open the archive: file is not a database"),
            std::string::npos)
      << a.error().message;
  EXPECT_EQ(read_file(path).value(), std::string(4096, 'x'));
}

TEST(Archive, NewerSchemaIsRefused) {
  auto path = fresh_path("newer.db");
  { ASSERT_TRUE(Archive::open(path)); }
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = " + std::to_string(kSchemaVersion + 1));
  }
  auto a = Archive::open(path);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("is newer than this asiarch understands"), std::string::npos);
}

TEST(Archive, MigratesAnEmptyDatabaseAndUsesWal) {
  auto path = fresh_path("migrate.db");
  { SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE); }
  auto a = Archive::open(path);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ((*a)->schema_version(), kSchemaVersion);
  SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db.execAndGet("PRAGMA application_id").getInt(), 0x41534941);
}

TEST(Archive, DirectoryIsRefused) {
  auto a = Archive::open(std::filesystem::temp_directory_path());
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("is a directory"), std::string::npos);
}

TEST(Archive, MigratesAVersionOneArchiveKeepingItsExperiments) {
  auto path = fresh_path("v1.db");
  int64_t id = 0;
  {
    auto a = Archive::open(path);
    ASSERT_TRUE(a) << a.error().message;
    Experiment e;
    e.name = "old";
    e.source = "int x;";
    id = (*a)->add_experiment(e).value();
  }
  {  // Make it what schema 1 wrote: no timing column.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE experiments DROP COLUMN timing");
    db.exec("DROP TABLE stage_scores");
    db.exec("PRAGMA user_version = 1");
  }
  auto a = Archive::open(path);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ((*a)->schema_version(), kSchemaVersion);
  auto e = (*a)->experiment(id);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "old");
  EXPECT_TRUE(e->timing.empty());
  Outcome o;
  o.status = "failed";
  o.fail_reason = "test";
  o.timing = {{"wall", 1.5}};
  ASSERT_TRUE((*a)->record_outcome(id, o));
  EXPECT_EQ((*a)->experiment(id)->timing["wall"], 1.5);
  EXPECT_EQ((*a)->experiment(id)->status, "failed");
  // Schema 3: a second-stage result keeps the first stage's runs.
  TrainingRun first;
  first.preset = "smoke";
  first.task = "mqar";
  ASSERT_TRUE((*a)->add_training_run(id, first));
  StageResult st;
  st.preset = "verify";
  st.runs.push_back(first);
  st.runs.back().preset = "verify";
  st.score = {0.6, 0.7, 0.5, 1.8, {{"note", "x"}}};
  st.status = "scored";
  ASSERT_TRUE((*a)->record_stage(id, st));
  ASSERT_TRUE((*a)->record_stage(id, st));  // again: replaced, not duplicated
  EXPECT_EQ((*a)->training_runs(id).size(), 2u);
  auto stages = (*a)->stages(id);
  ASSERT_EQ(stages.size(), 1u);
  EXPECT_EQ(stages[0].preset, "verify");
  EXPECT_DOUBLE_EQ(stages[0].score.total, 1.8);
  EXPECT_EQ(stages[0].runs.size(), 1u);
}
