// The SQLite archive: records, lineage, novelty lookups, migrations, and
// refusal of foreign, corrupt or newer files without writing to them; reading
// read-only, a real version-1 archive included, through the API, the views and
// the CLI, without changing a byte.
#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "archive/archive.h"
#include "archive/views.h"
#include "cli_run.h"
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

// A copy of tests/data/archive-v1.db (written by tests/data/make_archive_v1.py
// as asiarch wrote schema version 1), at `dir`/`name`.
std::filesystem::path copy_of_v1(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  std::filesystem::copy_file(std::filesystem::path(ASIARCH_SOURCE_DIR) / "tests" / "data" / "archive-v1.db", p);
  return p;
}

std::string bytes(const std::filesystem::path& p) {
  auto b = read_file(p);
  EXPECT_TRUE(b) << p;
  return b ? *b : std::string();
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
  EXPECT_EQ(back.status, asiarch::archive::ExperimentStatus::proposed);
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
  tr.peak_bytes = 3 << 20;
  ASSERT_TRUE(ar.add_training_run(c, tr));
  tr.task = "byte_lm";
  tr.peak_bytes = 0;
  tr.final_loss = std::nullopt;  // diverged
  ASSERT_TRUE(ar.add_training_run(c, tr));
  auto runs = ar.training_runs(c);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].metric, 0.75);
  EXPECT_EQ(runs[0].peak_bytes, 3 << 20);
  EXPECT_EQ(runs[1].peak_bytes, 0);
  EXPECT_FALSE(runs[1].final_loss.has_value());

  ASSERT_TRUE(ar.set_score(c, {0.7, 0.6, 0.5, 1.8, {{"why", "test"}}}));
  ASSERT_TRUE(ar.set_score(c2, {0.9, 0.6, 0.5, 2.0, {}}));
  EXPECT_EQ(ar.top(5), (std::vector<std::pair<int64_t, double>>{{c2, 2.0}, {c, 1.8}}));
  EXPECT_DOUBLE_EQ(ar.score(c)->loss_score, 0.7);
  EXPECT_FALSE(ar.score(r).has_value());

  ASSERT_TRUE(ar.add_analysis(c, "better than parent", nlohmann::json::array({"gates help"})));
  EXPECT_EQ(ar.analyses(c)[0].insights[0], "gates help");

  ASSERT_TRUE(ar.set_status(c, asiarch::archive::ExperimentStatus::failed, "worker crashed: SIGSEGV"));
  EXPECT_EQ(ar.experiment(c)->fail_reason, "worker crashed: SIGSEGV");
  EXPECT_FALSE(ar.set_status(999, asiarch::archive::ExperimentStatus::failed));

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

// A JSON cell damaged (or edited by hand): reading it is an error naming the table, the column and
// the row, the CLI says so and exits 1, and a damaged event is shown as unreadable, not fatal.
TEST(Archive, ADamagedJsonCellIsAClearErrorNotACrash) {
  const auto dir = fresh_path("damaged");
  std::filesystem::create_directories(dir);
  const auto path = dir / "archive.db";
  {
    auto a = Archive::open(path);
    ASSERT_TRUE(a) << a.error().message;
    auto id = (*a)->add_experiment(exp("alpha"));
    ASSERT_TRUE(id);
    std::vector<Event> ev{{0, "", "note", *id, {{"text", "fine"}}}};
    ASSERT_TRUE((*a)->append_events(ev));
  }
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE experiments SET design = '{\"genes\": [1, 2' WHERE id = 1");
    db.exec("UPDATE events SET data = 'not json' WHERE experiment_id = 1");
  }
  auto a = Archive::open_read_only(path);
  ASSERT_TRUE(a);
  try {
    (void)(*a)->experiment(1);
    ADD_FAILURE() << "a damaged cell was read without an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("table experiments, column design of the row whose id is 1: not valid JSON"),
              std::string::npos)
        << e.what();
  }
  const auto evs = (*a)->events_since(0);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_TRUE(evs[0].data.contains("unreadable")) << evs[0].data.dump();
  auto r = asiarch::testing::run_cli("ls --workdir " + dir.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("asiarch: archive: table experiments, column design"), std::string::npos) << r.output;
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

TEST(Archive, ReadsAVersionOneArchiveReadOnlyWithoutChangingIt) {
  const auto path = copy_of_v1(fresh_path("v1-dir"), "archive.db");
  const std::string before = bytes(path);
  {
    auto opened = Archive::open_read_only(path);
    ASSERT_TRUE(opened) << opened.error().message;
    const Archive& a = **opened;
    EXPECT_TRUE(a.read_only());
    EXPECT_EQ(a.schema_version(), 1);
    auto all = a.experiments();
    ASSERT_EQ(all.size(), 5u);
    EXPECT_EQ(all[0].name, "delta_net");
    EXPECT_EQ(all[0].origin, Origin::baseline);
    EXPECT_EQ(all[0].design["update"], "delta");
    EXPECT_EQ(all[1].origin, Origin::hand_written);
    EXPECT_NE(all[1].fail_reason.find("SIGSEGV"), std::string::npos);
    EXPECT_EQ(all[2].origin, Origin::evolved);
    EXPECT_EQ(all[2].parent, 1);
    EXPECT_EQ(all[4].status, asiarch::archive::ExperimentStatus::proposed);
    for (const auto& e : all) EXPECT_TRUE(e.timing.empty()) << e.id;  // schema 1 had no timing
    EXPECT_EQ(a.experiment(4)->references, (std::vector<int64_t>{1, 3}));

    auto attempts = a.compile_attempts(3);
    ASSERT_EQ(attempts.size(), 2u);
    EXPECT_FALSE(attempts[0].ok);
    ASSERT_EQ(attempts[0].diagnostics.items.size(), 1u);
    EXPECT_EQ(attempts[0].diagnostics.items[0].message, "expected ';' at end of declaration");
    ASSERT_EQ(attempts[0].diagnostics.items[0].fixits.size(), 1u);
    EXPECT_EQ(attempts[0].diagnostics.items[0].fixits[0].replacement, ";");
    EXPECT_EQ(attempts[0].diagnostics.items[0].notes.size(), 1u);
    EXPECT_TRUE(attempts[1].ok);
    EXPECT_EQ(attempts[1].method, "fix-it");
    EXPECT_EQ(attempts[1].answered.size(), 1u);
    EXPECT_NE(attempts[1].diff.find("+    auto q = ops::silu(x);"), std::string::npos);
    for (const auto& t : attempts) EXPECT_EQ(t.failure, "");  // no such column before schema 4
    EXPECT_TRUE(a.runtime_attempts(3).empty());
    EXPECT_EQ(a.gates(1).size(), 6u);
    EXPECT_EQ(a.training_runs(1).size(), 2u);
    EXPECT_EQ(a.training_runs(1)[1].metric_name, "bits_per_byte");
    EXPECT_EQ(a.training_runs(1)[1].peak_bytes, 0);  // no such column before schema 8
    ASSERT_TRUE(a.score(3));
    EXPECT_NEAR(a.score(3)->total, 2.04, 1e-9);
    EXPECT_EQ(a.analyses(3).size(), 1u);
    EXPECT_EQ(a.analyses(3)[0].insights.size(), 2u);
    EXPECT_TRUE(a.stages(1).empty());  // no second stage before schema 3
    EXPECT_TRUE(a.events_since(0).empty());
    EXPECT_EQ(a.last_event_seq(), 0);
    EXPECT_EQ(a.top(10).size(), 2u);
    EXPECT_EQ(a.with_status(asiarch::archive::ExperimentStatus::failed), (std::vector<int64_t>{2, 4}));

    auto history = history_view(a, 3);
    ASSERT_TRUE(history) << history.error().message;
    EXPECT_EQ((*history)["attempts"].size(), 2u);
    EXPECT_EQ((*history)["attempts"][0]["failure"], "");
    EXPECT_EQ((*history)["runtime_attempts"], nlohmann::json::array());
    auto lineage = lineage_view(a, 5);
    ASSERT_TRUE(lineage);
    ASSERT_EQ(lineage->size(), 1u);
    EXPECT_EQ((*lineage)[0]["name"], "delta_net");
    EXPECT_EQ((*lineage)[0]["children"][0]["children"][0]["id"], 5);
    EXPECT_EQ(list_view(a).size(), 5u);
    EXPECT_EQ(detail_view(a, 1).value()["gates"].size(), 6u);

    // Writes are refused, and say why.
    auto* writable = opened->get();
    auto st = writable->set_status(5, asiarch::archive::ExperimentStatus::failed, "x");
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().message,
              path.string() + ": the archive was opened read-only; cannot update experiment 5");
    std::vector<Event> ev = {{0, "", "note", std::nullopt, nlohmann::json::object()}};
    EXPECT_FALSE(writable->append_events(ev));
    EXPECT_FALSE(writable->add_experiment(exp("new")));
  }
  EXPECT_EQ(bytes(path), before);
}

TEST(Archive, MigratesAVersionOneArchiveKeepingItsData) {
  const auto path = copy_of_v1(fresh_path("v1-migrate-dir"), "archive.db");
  nlohmann::json list, details, histories;
  {  // What version 1 holds, as the views show it.
    auto old = Archive::open_read_only(path).value();
    list = list_view(*old);
    for (int64_t id = 1; id <= 5; ++id) {
      details.push_back(detail_view(*old, id).value());
      histories.push_back(history_view(*old, id).value());
    }
  }
  auto a = Archive::open(path);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE((*a)->read_only());
  EXPECT_EQ((*a)->schema_version(), kSchemaVersion);
  {
    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA user_version").getInt(), kSchemaVersion);
  }
  EXPECT_EQ(list_view(**a), list);
  for (int64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(detail_view(**a, id).value(), details[id - 1]) << id;
    EXPECT_EQ(history_view(**a, id).value(), histories[id - 1]) << id;
  }
  // What later schemas added works on the migrated data.
  const int64_t id = 5;  // the experiment version 1 left proposed
  Outcome o;
  o.status = asiarch::archive::ExperimentStatus::failed;
  o.fail_reason = "test";
  o.timing = {{"wall", 1.5}};
  CompileAttempt at;
  at.attempt = 1;
  at.source = "int x;";
  at.failure = "worker died";
  o.attempts.push_back(at);
  RuntimeAttempt rt;
  rt.revision = 1;
  rt.stage = "gates";
  rt.failure = "causality";
  rt.source = "int x;";
  o.runtime_attempts.push_back(rt);
  std::vector<Event> events = {{0, "", "experiment_finished", std::nullopt, {{"status", "failed"}}}};
  ASSERT_TRUE((*a)->record_outcome(id, o, &events));
  EXPECT_EQ(events[0].experiment, id);
  EXPECT_EQ((*a)->experiment(id)->timing["wall"], 1.5);
  EXPECT_EQ((*a)->compile_attempts(id)[0].failure, "worker died");
  EXPECT_EQ((*a)->runtime_attempts(id).size(), 1u);
  EXPECT_EQ((*a)->events_since(0).size(), 1u);
  // Schema 3: a second-stage result keeps the first stage's runs.
  StageResult st;
  st.preset = "verify";
  st.runs = (*a)->training_runs(3);
  for (auto& r : st.runs) r.preset = "verify";
  st.score = {0.6, 0.7, 0.5, 1.8, {{"note", "x"}}};
  st.status = asiarch::archive::ExperimentStatus::scored;
  ASSERT_TRUE((*a)->record_stage(3, st));
  ASSERT_TRUE((*a)->record_stage(3, st));  // again: replaced, not duplicated
  EXPECT_EQ((*a)->training_runs(3).size(), 4u);
  auto stages = (*a)->stages(3);
  ASSERT_EQ(stages.size(), 1u);
  EXPECT_EQ(stages[0].preset, "verify");
  EXPECT_DOUBLE_EQ(stages[0].score.total, 1.8);
  EXPECT_EQ(stages[0].runs.size(), 2u);
}

TEST(Archive, ReadOnlySeesAWritersCommitsAndNeverWrites) {
  auto path = fresh_path("ro.db");
  auto w = Archive::open(path).value();
  const int64_t id = w->add_experiment(exp("one")).value();
  auto r = Archive::open_read_only(path);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)->schema_version(), kSchemaVersion);
  EXPECT_EQ((*r)->experiments().size(), 1u);
  std::vector<Event> events = {{0, "", "a", id, {{"k", 1}}}, {0, "", "b", std::nullopt, nlohmann::json::object()}};
  ASSERT_TRUE(w->append_events(events));
  ASSERT_TRUE(w->add_experiment(exp("two")));
  // The reader sees what the writer committed after it opened.
  EXPECT_EQ((*r)->experiments().size(), 2u);
  EXPECT_EQ((*r)->last_event_seq(), events[1].seq);
  ASSERT_EQ((*r)->events_since(events[0].seq).size(), 1u);
  EXPECT_EQ((*r)->events_since(events[0].seq)[0].kind, "b");
  auto st = (*r)->record_outcome(id, Outcome{});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message,
            path.string() + ": the archive was opened read-only; cannot record the outcome of experiment " +
                std::to_string(id));
  EXPECT_EQ(w->experiment(id)->status, asiarch::archive::ExperimentStatus::proposed);
}

TEST(Archive, ReadOnlyRefusesAMissingNewerOrForeignFileWithoutWriting) {
  auto missing = fresh_path("missing.db");
  auto a = Archive::open_read_only(missing);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, missing.string() + ": no such archive");
  EXPECT_FALSE(std::filesystem::exists(missing));

  auto newer = fresh_path("ro-newer.db");
  { ASSERT_TRUE(Archive::open(newer)); }
  {
    SQLite::Database db(newer.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = 99");
  }
  ASSERT_FALSE(std::filesystem::exists(newer.string() + "-wal"));  // closed cleanly: checkpointed
  const std::string before = bytes(newer);
  a = Archive::open_read_only(newer);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, newer.string() + ": archive schema version 99 is newer than this asiarch understands (" +
                                   std::to_string(kSchemaVersion) + ")");
  EXPECT_EQ(bytes(newer), before);
  EXPECT_FALSE(std::filesystem::exists(newer.string() + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(newer.string() + "-shm"));

  auto foreign = fresh_path("ro-foreign.db");
  {
    SQLite::Database db(foreign.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE photos (id INTEGER PRIMARY KEY)");
  }
  const std::string foreign_before = bytes(foreign);
  a = Archive::open_read_only(foreign);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find(foreign.string() + ": not an asiarch archive"), std::string::npos);
  EXPECT_EQ(bytes(foreign), foreign_before);

  auto empty = fresh_path("ro-empty.db");
  std::ofstream(empty).flush();
  a = Archive::open_read_only(empty);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, empty.string() + ": an empty archive (no schema yet); nothing to read");
  EXPECT_EQ(std::filesystem::file_size(empty), 0u);
}

// The inspection commands, as a user runs them, on the version-1 file.
TEST(CliInspect, ReadsAVersionOneArchiveWithoutChangingIt) {
  const auto dir = fresh_path("cli-v1");
  const auto path = copy_of_v1(dir, "archive.db");
  const std::string before = bytes(path);
  const std::string w = " --workdir " + dir.string();
  auto json = [&](const std::string& args) {
    auto r = asiarch::testing::run_cli(args + w + " --json");
    EXPECT_EQ(r.status, 0) << args << ": " << r.output;
    try {
      return nlohmann::json::parse(r.output);
    } catch (const std::exception& e) {
      ADD_FAILURE() << args << ": " << e.what() << "\n" << r.output;
      return nlohmann::json();
    }
  };
  auto ls = json("ls");
  ASSERT_EQ(ls.size(), 5u) << ls.dump(2);
  EXPECT_EQ(ls[0]["name"], "delta_net");
  EXPECT_EQ(ls[1]["origin"], "hand-written");
  EXPECT_NEAR(ls[2]["fitness"].get<double>(), 2.04, 1e-9);
  EXPECT_EQ(ls[4]["status"], "proposed");
  auto show = json("show 3");
  EXPECT_EQ(show["gates"].size(), 6u);
  EXPECT_EQ(show["training_runs"].size(), 2u);
  EXPECT_EQ(show["stages"], nlohmann::json::array());
  EXPECT_EQ(show["references"], nlohmann::json::array({1}));
  EXPECT_EQ(show["analyses"].size(), 1u);
  auto history = json("history 3");
  ASSERT_EQ(history["attempts"].size(), 2u);
  EXPECT_EQ(history["attempts"][0]["diagnostics"]["items"][0]["message"], "expected ';' at end of declaration");
  EXPECT_EQ(history["attempts"][1]["method"], "fix-it");
  EXPECT_EQ(history["runtime_attempts"], nlohmann::json::array());
  auto lineage = json("lineage");
  EXPECT_EQ(lineage.size(), 2u);  // delta_net's family and the hand-written plugin
  EXPECT_EQ(json("top -n 1")[0]["name"], "delta_silu_a1b2c3");

  auto text = asiarch::testing::run_cli("ls" + w);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("delta_conv_d4e5f6"), std::string::npos) << text.output;
  text = asiarch::testing::run_cli("show 3" + w);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("fitness 2.040"), std::string::npos) << text.output;
  text = asiarch::testing::run_cli("history 3" + w);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("attempt 2: built"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("expected ';' at end of declaration"), std::string::npos) << text.output;
  text = asiarch::testing::run_cli("lineage 5" + w);
  EXPECT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("#5 delta_silu_a7b8c9  proposed   <=="), std::string::npos) << text.output;

  EXPECT_EQ(bytes(path), before);
}

TEST(CliInspect, LsRefusesANewerArchiveWithoutChangingIt) {
  const auto dir = fresh_path("cli-newer");
  std::filesystem::create_directories(dir);
  const auto path = dir / "archive.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  {
    auto a = Archive::open(path).value();
    ASSERT_TRUE(a->add_experiment(exp("one")));
  }
  {  // Closed cleanly, so the WAL is checkpointed into the file.
    SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = 99");
  }
  std::map<std::string, std::optional<std::string>> before;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const std::string p = path.string() + suffix;
    before[p] = std::filesystem::exists(p) ? std::optional<std::string>(bytes(p)) : std::nullopt;
  }
  auto r = asiarch::testing::run_cli("ls --workdir " + dir.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(path.string() + ": archive schema version 99 is newer than this asiarch understands (" +
                          std::to_string(kSchemaVersion) + ")"),
            std::string::npos)
      << r.output;
  for (const auto& [p, content] : before) {
    ASSERT_EQ(std::filesystem::exists(p), content.has_value()) << p;
    if (content) EXPECT_EQ(bytes(p), *content) << p;
  }
}

TEST(CliInspect, HistoryShowsCompileFailuresAndRuntimeAttempts) {
  const auto dir = fresh_path("cli-history");
  std::filesystem::create_directories(dir);
  const auto path = dir / "archive.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
  int64_t id = 0;
  {
    auto a = Archive::open(path).value();
    id = a->add_experiment(exp("revised")).value();
    Outcome o;
    o.status = asiarch::archive::ExperimentStatus::failed;
    o.fail_reason = "still failing";
    CompileAttempt c1;
    c1.attempt = 1;
    c1.source = "v1";
    c1.failure = "worker died: SIGKILL";
    CompileAttempt c2;
    c2.attempt = 2;
    c2.source = "v1";
    c2.ok = true;
    o.attempts = {c1, c2};
    RuntimeAttempt r1;
    r1.revision = 1;
    r1.stage = "gates";
    r1.failure = "causality: output 3 changed";
    r1.source = "v1";
    r1.revised = true;
    r1.method = "engineer";
    r1.answered = {"causality"};
    r1.diff = "--- v1\n+++ v2\n";
    RuntimeAttempt r2;
    r2.revision = 2;
    r2.stage = "training";
    r2.failure = "non-finite loss";
    r2.source = "v2";
    r2.method = "no revision left";
    o.runtime_attempts = {r1, r2};
    ASSERT_TRUE(a->record_outcome(id, o));
  }
  const std::string args = "history " + std::to_string(id) + " --workdir " + dir.string();
  auto r = asiarch::testing::run_cli(args + " --json");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["attempts"][0]["failure"], "worker died: SIGKILL");
  EXPECT_EQ(j["attempts"][1]["failure"], "");
  ASSERT_EQ(j["runtime_attempts"].size(), 2u);
  EXPECT_EQ(j["runtime_attempts"][0], (nlohmann::json{{"revision", 1}, {"stage", "gates"},
                                                      {"failure", "causality: output 3 changed"}, {"source", "v1"},
                                                      {"revised", true}, {"method", "engineer"},
                                                      {"answered", {"causality"}}, {"diff", "--- v1\n+++ v2\n"}}));
  EXPECT_EQ(j["runtime_attempts"][1]["revised"], false);

  r = asiarch::testing::run_cli(args);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto& t = r.output;
  const auto compile = t.find("did not finish: worker died: SIGKILL");
  const auto runtime = t.find("2 runtime attempt(s)");
  const auto rev1 = t.find("revision 1 failed in gates: causality: output 3 changed\n  revised: engineer\n"
                           "  answered: causality\n--- v1\n+++ v2\n");
  const auto rev2 = t.find("revision 2 failed in training: non-finite loss\n  not revised: no revision left\n");
  EXPECT_NE(compile, std::string::npos) << t;
  EXPECT_NE(runtime, std::string::npos) << t;
  EXPECT_NE(rev1, std::string::npos) << t;
  EXPECT_NE(rev2, std::string::npos) << t;
  EXPECT_TRUE(compile < runtime && runtime < rev1 && rev1 < rev2) << t;  // runtime attempts after compile attempts
}

TEST(Archive, TheLadderIsStoredInOrderAndReplacedWhole) {
  auto a = Archive::open(fresh_path("ladder.db"));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE((*a)->ladder().empty());
  ASSERT_TRUE((*a)->set_ladder({"explore", "verify", "first"}));
  EXPECT_EQ((*a)->ladder(), (std::vector<std::string>{"explore", "verify", "first"}));
  ASSERT_TRUE((*a)->set_ladder({"smoke"}));
  EXPECT_EQ((*a)->ladder(), std::vector<std::string>{"smoke"});
  // A read-only archive from before schema 9 has none, and reading it changes nothing.
  const auto v1 = copy_of_v1(fresh_path("ladder-v1-dir"), "archive.db");
  auto old = Archive::open_read_only(v1);
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_TRUE((*old)->ladder().empty());
  EXPECT_FALSE((*old)->set_ladder({"x"}));
}

// The reward-hacking verdicts are typed on Score and stored in its details as before, so the API,
// `show --json` and archives written earlier read the same.
TEST(Archive, ScoreVerdictsAreTypedAndStoredInTheDetails) {
  auto a = Archive::open(fresh_path("verdicts.db"));
  ASSERT_TRUE(a) << a.error().message;
  const int64_t id = (*a)->add_experiment(exp("flagged")).value();
  Score s{0.7, 0.6, 0.5, 1.8, {{"seeds", 3}}};
  EXPECT_FALSE(s.suspicious);
  s.flag("loss 1.2 bits per byte is more than 10% below the best baseline's 2.0");
  s.recheck = nlohmann::json{{"agree", false}, {"tasks", nlohmann::json::array()}};
  ASSERT_TRUE((*a)->set_score(id, s));
  auto back = (*a)->score(id);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->suspicious);
  ASSERT_EQ(back->flags.size(), 1u);
  EXPECT_NE(back->flags[0].find("10% below"), std::string::npos);
  ASSERT_TRUE(back->recheck);
  EXPECT_FALSE((*back->recheck)["agree"].get<bool>());
  EXPECT_EQ(back->details, (nlohmann::json{{"seeds", 3}}));  // the typed fields are not also left in details
  const auto d = back->stored_details();
  EXPECT_TRUE(d["suspicious"].get<bool>());
  EXPECT_EQ(d["flags"].size(), 1u);
  EXPECT_EQ(d["seeds"], 3);
  // A stored row of the older kind: suspicious without flags, a recheck that agreed.
  auto old = Score::from_stored(0, 0, 0, 1, {{"suspicious", true}, {"recheck", {{"agree", true}}}, {"flags", {1, "x"}}});
  EXPECT_TRUE(old.suspicious);
  EXPECT_EQ(old.flags, std::vector<std::string>{"x"});  // what is not a sentence is dropped
  EXPECT_TRUE((*old.recheck)["agree"].get<bool>());
}

TEST(Archive, AnExperimentStatusHasOneNameAndAnUnknownOneIsAnError) {
  using asiarch::archive::ExperimentStatus;
  for (auto s : {ExperimentStatus::proposed, ExperimentStatus::scored, ExperimentStatus::failed}) {
    auto back = asiarch::archive::status_from_string(asiarch::archive::to_string(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  auto bad = asiarch::archive::status_from_string("built");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "unknown status \"built\"");
}
