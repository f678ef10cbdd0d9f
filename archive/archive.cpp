#include "archive/archive.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <set>

namespace asiarch::archive {
namespace {

// "ASIA" in PRAGMA application_id marks a file as an asiarch archive.
constexpr int kApplicationId = 0x41534941;

// migrations[i] takes the schema from version i to i + 1.
const std::vector<std::string>& migrations() {
  static const std::vector<std::string> m = {
      R"sql(
CREATE TABLE experiments (
  id INTEGER PRIMARY KEY,
  parent_id INTEGER REFERENCES experiments(id),
  name TEXT NOT NULL,
  motivation TEXT NOT NULL DEFAULT '',
  source TEXT NOT NULL,
  design TEXT NOT NULL DEFAULT '{}',
  canonical TEXT NOT NULL DEFAULT '',
  source_hash TEXT NOT NULL DEFAULT '',
  origin TEXT NOT NULL CHECK (origin IN ('evolved', 'hand-written', 'baseline')),
  status TEXT NOT NULL,
  fail_reason TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE INDEX experiments_parent ON experiments(parent_id);
CREATE INDEX experiments_canonical ON experiments(canonical);
CREATE INDEX experiments_source_hash ON experiments(source_hash);
CREATE TABLE experiment_references (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  reference_id INTEGER NOT NULL REFERENCES experiments(id),
  PRIMARY KEY (experiment_id, reference_id));
CREATE TABLE compile_attempts (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  attempt INTEGER NOT NULL,
  source TEXT NOT NULL,
  diagnostics TEXT NOT NULL,
  ok INTEGER NOT NULL,
  seconds REAL NOT NULL,
  method TEXT NOT NULL DEFAULT '',
  answered TEXT NOT NULL DEFAULT '[]',
  diff TEXT NOT NULL DEFAULT '',
  UNIQUE (experiment_id, attempt));
CREATE TABLE gate_results (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  name TEXT NOT NULL,
  passed INTEGER NOT NULL,
  reason TEXT NOT NULL,
  details TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (experiment_id, name));
CREATE TABLE training_runs (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  preset TEXT NOT NULL,
  task TEXT NOT NULL,
  config TEXT NOT NULL,
  curve TEXT NOT NULL,
  metric_name TEXT NOT NULL,
  metric REAL NOT NULL,
  final_loss REAL,
  steps INTEGER NOT NULL,
  tokens_per_second REAL NOT NULL,
  seconds REAL NOT NULL,
  stop_reason TEXT NOT NULL,
  UNIQUE (experiment_id, preset, task));
CREATE TABLE scores (
  experiment_id INTEGER PRIMARY KEY REFERENCES experiments(id),
  loss_score REAL NOT NULL,
  bench_score REAL NOT NULL,
  judge_score REAL NOT NULL,
  total REAL NOT NULL,
  details TEXT NOT NULL DEFAULT '{}');
CREATE TABLE analyses (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  text TEXT NOT NULL,
  insights TEXT NOT NULL DEFAULT '[]',
  created_at TEXT NOT NULL);
)sql",
      // 2: where each experiment's wall time went (host, worker, compile, lab), for the loop-overhead benchmark.
      R"sql(
ALTER TABLE experiments ADD COLUMN timing TEXT NOT NULL DEFAULT '{}';
)sql",
      // 3: the second stage: the best candidates re-evaluated on a larger preset.
      R"sql(
CREATE TABLE stage_scores (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  preset TEXT NOT NULL,
  loss_score REAL NOT NULL,
  bench_score REAL NOT NULL,
  judge_score REAL NOT NULL,
  total REAL NOT NULL,
  details TEXT NOT NULL DEFAULT '{}',
  status TEXT NOT NULL,
  fail_reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (experiment_id, preset));
)sql",
      // 4: the event stream, runtime attempts (the Engineer revising after a failed run), and why a
      // compile attempt itself did not finish.
      R"sql(
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time TEXT NOT NULL,
  kind TEXT NOT NULL,
  experiment_id INTEGER,
  data TEXT NOT NULL DEFAULT '{}');
CREATE INDEX events_experiment ON events(experiment_id);
CREATE TABLE runtime_attempts (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  revision INTEGER NOT NULL,
  stage TEXT NOT NULL,
  failure TEXT NOT NULL,
  source TEXT NOT NULL,
  revised INTEGER NOT NULL,
  method TEXT NOT NULL DEFAULT '',
  answered TEXT NOT NULL DEFAULT '[]',
  diff TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (experiment_id, revision));
ALTER TABLE compile_attempts ADD COLUMN failure TEXT NOT NULL DEFAULT '';
)sql",
      // 5: every request to an LLM endpoint, with its answer, tokens and cost.
      R"sql(
CREATE TABLE llm_calls (
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER REFERENCES experiments(id),
  time TEXT NOT NULL,
  role TEXT NOT NULL,
  purpose TEXT NOT NULL,
  model TEXT NOT NULL,
  template TEXT NOT NULL,
  template_version INTEGER NOT NULL,
  request TEXT NOT NULL,
  request_key TEXT NOT NULL,
  response TEXT NOT NULL,
  latency_seconds REAL NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  tokens_estimated INTEGER NOT NULL,
  cost_usd REAL NOT NULL,
  http_status INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  error TEXT NOT NULL,
  replayed INTEGER NOT NULL,
  outcome TEXT NOT NULL);
CREATE INDEX llm_calls_experiment ON llm_calls(experiment_id);
CREATE INDEX llm_calls_key ON llm_calls(request_key);
)sql",
      // 6: indexes for the daemon's paged lists (filters, counts and sorting without reading sources).
      R"sql(
CREATE INDEX experiments_status_origin ON experiments(status, origin);
CREATE INDEX scores_total ON scores(total);
)sql",
      // 7: every seed's metric per task and preset (replicated scores, the ladder, the held-out set).
      R"sql(
CREATE TABLE measurements (
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  preset TEXT NOT NULL,
  seed INTEGER NOT NULL,
  task TEXT NOT NULL,
  metric_name TEXT NOT NULL,
  metric REAL NOT NULL,
  tokens_per_second REAL NOT NULL,
  seconds REAL NOT NULL,
  stop_reason TEXT NOT NULL,
  PRIMARY KEY (experiment_id, preset, seed, task));
)sql",
      // 8: each training run's peak memory.
      R"sql(
ALTER TABLE training_runs ADD COLUMN peak_bytes INTEGER NOT NULL DEFAULT 0;
)sql",
      // 9: the run's ladder: its own preset (position 0), then its rungs in the order it climbs them.
      R"sql(
CREATE TABLE ladder (
  position INTEGER PRIMARY KEY,
  preset TEXT NOT NULL UNIQUE);
)sql",
      // 10: whether the role could use an answer: only a usable one is ever replayed (before, an
      // answer stored with an "unusable" outcome was replayed for the identical next request).
      R"sql(
ALTER TABLE llm_calls ADD COLUMN usable INTEGER NOT NULL DEFAULT 0;
UPDATE llm_calls SET usable = 1 WHERE error = '' AND outcome LIKE 'parsed%';
)sql",
      // 11: each seed's training curve, from which the quality monitor's spread over the
      // reference's seeds is measured.
      R"sql(
ALTER TABLE measurements ADD COLUMN curve TEXT NOT NULL DEFAULT '[]';
)sql",
  };
  return m;
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Events carry milliseconds: several happen within a second.
std::string now_utc_ms() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char buf[40];
  std::tm tm{};
  gmtime_r(&t, &tm);
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

void insert_events(SQLite::Database& db, std::vector<Event>* events, std::optional<int64_t> experiment) {
  if (!events) return;
  for (auto& ev : *events) {
    if (!ev.experiment) ev.experiment = experiment;
    ev.time = now_utc_ms();
    SQLite::Statement q(db, "INSERT INTO events (time, kind, experiment_id, data) VALUES (?,?,?,?)");
    q.bind(1, ev.time);
    q.bind(2, ev.kind);
    if (ev.experiment) q.bind(3, static_cast<int64_t>(*ev.experiment)); else q.bind(3);
    q.bind(4, ev.data.dump());
    q.exec();
    ev.seq = db.getLastInsertRowid();
  }
}

Error db_error(const std::filesystem::path& path, const std::string& what, const std::exception& e) {
  return make_error(path.string() + ": " + what + ": " + e.what());
}

Error newer_error(const std::filesystem::path& path, int version) {
  return make_error(path.string() + ": archive schema version " + std::to_string(version) +
                    " is newer than this asiarch understands (" + std::to_string(kSchemaVersion) + ")");
}

// A refusal of a newer archive, decided from the file's own header before
// SQLite opens it: opening a WAL database, even read-only, creates its -wal
// and -shm files beside it. The header can lag behind a WAL that is not yet
// checkpointed, but the version only ever grows, so a newer header means a
// newer archive; anything else is left to the check through SQLite.
std::optional<Error> newer_by_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 100> h{};
  if (!in.read(reinterpret_cast<char*>(h.data()), h.size())) return std::nullopt;
  if (std::string(reinterpret_cast<const char*>(h.data()), 16) != std::string("SQLite format 3", 16))
    return std::nullopt;
  auto be32 = [&](size_t at) {
    return static_cast<int>((uint32_t{h[at]} << 24) | (uint32_t{h[at + 1]} << 16) | (uint32_t{h[at + 2]} << 8) |
                            uint32_t{h[at + 3]});
  };
  const int version = be32(60), app = be32(68);
  if (app == kApplicationId && version > kSchemaVersion) return newer_error(path, version);
  return std::nullopt;
}

}  // namespace

struct Archive::Impl {
  Impl(const std::filesystem::path& p, int flags, bool ro)
      : db(p.string(), flags, /*busy timeout ms=*/5000), read_only(ro) {}
  SQLite::Database db;
  bool read_only;
  // The schema the reads are written against: an archive opened read-only
  // keeps its own version, and the reads leave out what it does not have.
  int version = kSchemaVersion;

  // Every write goes through this first.
  std::optional<Error> refuse_write(const std::filesystem::path& path, const std::string& what) const {
    if (!read_only) return std::nullopt;
    return make_error(path.string() + ": the archive was opened read-only; cannot " + what);
  }
};

const char* to_string(Origin o) {
  switch (o) {
    case Origin::evolved: return "evolved";
    case Origin::hand_written: return "hand-written";
    case Origin::baseline: return "baseline";
  }
  return "evolved";
}

Result<Origin> origin_from_string(const std::string& s) {
  for (Origin o : {Origin::evolved, Origin::hand_written, Origin::baseline})
    if (s == to_string(o)) return o;
  return make_error("unknown origin \"" + s + "\"");
}

const char* to_string(ExperimentStatus s) {
  switch (s) {
    case ExperimentStatus::proposed: return "proposed";
    case ExperimentStatus::scored: return "scored";
    case ExperimentStatus::failed: return "failed";
    case ExperimentStatus::stopped: return "stopped";
  }
  return "failed";
}

Result<ExperimentStatus> status_from_string(const std::string& s) {
  for (auto x : {ExperimentStatus::proposed, ExperimentStatus::scored, ExperimentStatus::failed,
                 ExperimentStatus::stopped})
    if (s == to_string(x)) return x;
  return make_error("unknown status \"" + s + "\"");
}

Result<std::unique_ptr<Archive>> Archive::open(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return make_error(path.string() + ": is a directory, not an archive");
  if (auto e = newer_by_header(path)) return *e;
  std::unique_ptr<Archive> a(new Archive());
  a->path_ = path;
  try {
    a->impl_ = std::make_unique<Impl>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE, false);
    auto& db = a->impl_->db;
    // Read-only checks first: a foreign or corrupt file must not be written.
    const int app = db.execAndGet("PRAGMA application_id").getInt();
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    const int tables = db.execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    if (app != kApplicationId && (tables > 0 || version != 0))
      return make_error(path.string() + ": not an asiarch archive (a SQLite database of another application)");
    if (version > kSchemaVersion) return newer_error(path, version);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA foreign_keys = ON");
    for (int v = version; v < kSchemaVersion; ++v) {
      SQLite::Transaction tx(db);
      db.exec(migrations()[static_cast<size_t>(v)]);
      db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
      db.exec("PRAGMA user_version = " + std::to_string(v + 1));
      tx.commit();
    }
  } catch (const SQLite::Exception& e) {
    return db_error(path, "cannot open the archive", e);
  }
  return a;
}

Result<std::unique_ptr<Archive>> Archive::open_read_only(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return make_error(path.string() + ": is a directory, not an archive");
  if (!std::filesystem::exists(path, ec)) return make_error(path.string() + ": no such archive");
  if (auto e = newer_by_header(path)) return *e;
  std::unique_ptr<Archive> a(new Archive());
  a->path_ = path;
  try {
    // Only reads from here on: no journal mode, no pragma that writes.
    a->impl_ = std::make_unique<Impl>(path, SQLite::OPEN_READONLY, true);
    auto& db = a->impl_->db;
    const int app = db.execAndGet("PRAGMA application_id").getInt();
    const int version = db.execAndGet("PRAGMA user_version").getInt();
    const int tables = db.execAndGet("SELECT count(*) FROM sqlite_master").getInt();
    if (app != kApplicationId && (tables > 0 || version != 0))
      return make_error(path.string() + ": not an asiarch archive (a SQLite database of another application)");
    if (version > kSchemaVersion) return newer_error(path, version);
    // A run creates the file, then writes its schema; only a run may, so there is nothing to show yet.
    if (version == 0) return make_error(path.string() + ": an empty archive (no schema yet); nothing to read");
    a->impl_->version = version;
  } catch (const SQLite::Exception& e) {
    return db_error(path, "cannot open the archive", e);
  }
  return a;
}

Archive::~Archive() = default;

int Archive::schema_version() const { return impl_->version; }
bool Archive::read_only() const { return impl_->read_only; }

Result<int64_t> Archive::add_experiment(const Experiment& e, std::vector<Event>* events) {
  if (auto refused = impl_->refuse_write(path_, "record experiment \"" + e.name + "\"")) return *refused;
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db);
    SQLite::Statement q(db,
                        "INSERT INTO experiments (parent_id, name, motivation, source, design, canonical, source_hash, "
                        "origin, status, fail_reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    if (e.parent) q.bind(1, static_cast<int64_t>(*e.parent)); else q.bind(1);
    const std::string now = now_utc();
    q.bind(2, e.name);
    q.bind(3, e.motivation);
    q.bind(4, e.source);
    q.bind(5, e.design.dump());
    q.bind(6, e.canonical);
    q.bind(7, e.source_hash);
    q.bind(8, to_string(e.origin));
    q.bind(9, to_string(e.status));
    q.bind(10, e.fail_reason);
    q.bind(11, now);
    q.bind(12, now);
    q.exec();
    const int64_t id = db.getLastInsertRowid();
    for (int64_t ref : e.references) {
      SQLite::Statement r(db, "INSERT OR IGNORE INTO experiment_references VALUES (?, ?)");
      r.bind(1, id);
      r.bind(2, ref);
      r.exec();
    }
    insert_events(db, events, id);
    tx.commit();
    return id;
  } catch (const SQLite::Exception& ex) {
    return db_error(path_, "cannot record experiment \"" + e.name + "\"", ex);
  }
}

Status Archive::set_status(int64_t id, ExperimentStatus status, const std::string& reason) {
  if (auto refused = impl_->refuse_write(path_, "update experiment " + std::to_string(id))) return *refused;
  try {
    SQLite::Statement q(impl_->db, "UPDATE experiments SET status = ?, fail_reason = ?, updated_at = ? WHERE id = ?");
    q.bind(1, to_string(status));
    q.bind(2, reason);
    q.bind(3, now_utc());
    q.bind(4, id);
    if (q.exec() != 1) return make_error(path_.string() + ": no experiment " + std::to_string(id));
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot update experiment " + std::to_string(id), e);
  }
}

namespace {

void insert_compile_attempt(SQLite::Database& db, int64_t id, const CompileAttempt& a) {
  SQLite::Statement q(db,
                      "INSERT OR REPLACE INTO compile_attempts (experiment_id, attempt, source, diagnostics, ok, "
                      "seconds, method, answered, diff, failure) VALUES (?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, a.attempt);
  q.bind(3, a.source);
  q.bind(4, nlohmann::json(a.diagnostics).dump());
  q.bind(5, a.ok ? 1 : 0);
  q.bind(6, a.seconds);
  q.bind(7, a.method);
  q.bind(8, nlohmann::json(a.answered).dump());
  q.bind(9, a.diff);
  q.bind(10, a.failure);
  q.exec();
}

void insert_runtime_attempt(SQLite::Database& db, int64_t id, const RuntimeAttempt& a) {
  SQLite::Statement q(db,
                      "INSERT OR REPLACE INTO runtime_attempts (experiment_id, revision, stage, failure, source, "
                      "revised, method, answered, diff) VALUES (?,?,?,?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, a.revision);
  q.bind(3, a.stage);
  q.bind(4, a.failure);
  q.bind(5, a.source);
  q.bind(6, a.revised ? 1 : 0);
  q.bind(7, a.method);
  q.bind(8, nlohmann::json(a.answered).dump());
  q.bind(9, a.diff);
  q.exec();
}

void replace_gates(SQLite::Database& db, int64_t id, const std::vector<GateRecord>& gates) {
  SQLite::Statement del(db, "DELETE FROM gate_results WHERE experiment_id = ?");
  del.bind(1, id);
  del.exec();
  for (const auto& g : gates) {
    SQLite::Statement q(db, "INSERT INTO gate_results VALUES (?,?,?,?,?)");
    q.bind(1, id);
    q.bind(2, g.name);
    q.bind(3, g.passed ? 1 : 0);
    q.bind(4, g.reason);
    q.bind(5, g.details.dump());
    q.exec();
  }
}

void insert_training_run(SQLite::Database& db, int64_t id, const TrainingRun& r) {
  SQLite::Statement q(db,
                      "INSERT OR REPLACE INTO training_runs (experiment_id, preset, task, config, curve, metric_name, "
                      "metric, final_loss, steps, tokens_per_second, seconds, stop_reason, peak_bytes) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, r.preset);
  q.bind(3, r.task);
  q.bind(4, r.config.dump());
  q.bind(5, r.curve.dump());
  q.bind(6, r.metric_name);
  q.bind(7, r.metric);
  if (r.final_loss) q.bind(8, *r.final_loss); else q.bind(8);
  q.bind(9, r.steps);
  q.bind(10, r.tokens_per_second);
  q.bind(11, r.seconds);
  q.bind(12, r.stop_reason);
  q.bind(13, r.peak_bytes);
  q.exec();
}

void insert_measurements(SQLite::Database& db, int64_t id, const std::vector<Measurement>& ms) {
  for (const auto& m : ms) {
    SQLite::Statement q(db, "INSERT OR REPLACE INTO measurements VALUES (?,?,?,?,?,?,?,?,?,?)");
    q.bind(1, id);
    q.bind(2, m.preset);
    q.bind(3, static_cast<int64_t>(m.seed));
    q.bind(4, m.task);
    q.bind(5, m.metric_name);
    q.bind(6, m.metric);
    q.bind(7, m.tokens_per_second);
    q.bind(8, m.seconds);
    q.bind(9, m.stop_reason);
    q.bind(10, m.curve.dump());
    q.exec();
  }
}

void delete_measurements(SQLite::Database& db, int64_t id, const std::string& preset) {
  SQLite::Statement del(db, "DELETE FROM measurements WHERE experiment_id = ? AND preset = ?");
  del.bind(1, id);
  del.bind(2, preset);
  del.exec();
}

}  // namespace

nlohmann::json Score::stored_details() const {
  nlohmann::json d = details.is_object() ? details : nlohmann::json::object();
  d["flags"] = flags;
  d["suspicious"] = suspicious;
  if (recheck) d["recheck"] = *recheck;
  return d;
}

Score Score::from_stored(double loss_score, double bench_score, double judge_score, double total, nlohmann::json details) {
  Score s{loss_score, bench_score, judge_score, total, details.is_object() ? std::move(details) : nlohmann::json::object()};
  auto& d = s.details;
  if (auto f = d.find("flags"); f != d.end() && f->is_array())
    for (const auto& x : *f)
      if (x.is_string()) s.flags.push_back(x.get<std::string>());
  if (auto x = d.find("suspicious"); x != d.end() && x->is_boolean()) s.suspicious = x->get<bool>();
  if (auto r = d.find("recheck"); r != d.end()) s.recheck = *r;
  d.erase("flags");
  d.erase("suspicious");
  d.erase("recheck");
  return s;
}

namespace {

void insert_score(SQLite::Database& db, int64_t id, const Score& s) {
  SQLite::Statement q(db, "INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?)");
  q.bind(1, id);
  q.bind(2, s.loss_score);
  q.bind(3, s.bench_score);
  q.bind(4, s.judge_score);
  q.bind(5, s.total);
  q.bind(6, s.stored_details().dump());
  q.exec();
}

int64_t insert_analysis(SQLite::Database& db, int64_t id, const std::string& text, const nlohmann::json& insights) {
  SQLite::Statement q(db, "INSERT INTO analyses (experiment_id, text, insights, created_at) VALUES (?,?,?,?)");
  q.bind(1, id);
  q.bind(2, text);
  q.bind(3, insights.dump());
  q.bind(4, now_utc());
  q.exec();
  return db.getLastInsertRowid();
}

void update_status(SQLite::Database& db, int64_t id, const std::string& status, const std::string& reason) {
  SQLite::Statement q(db, "UPDATE experiments SET status = ?, fail_reason = ?, updated_at = ? WHERE id = ?");
  q.bind(1, status);
  q.bind(2, reason);
  q.bind(3, now_utc());
  q.bind(4, id);
  if (q.exec() != 1) throw SQLite::Exception("no experiment " + std::to_string(id));
}

}  // namespace

Status Archive::add_compile_attempt(int64_t id, const CompileAttempt& a) {
  if (auto refused = impl_->refuse_write(path_, "record compile attempt of experiment " + std::to_string(id)))
    return *refused;
  try {
    insert_compile_attempt(impl_->db, id, a);
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record compile attempt of experiment " + std::to_string(id), e);
  }
}

Status Archive::set_gates(int64_t id, const std::vector<GateRecord>& gates) {
  if (auto refused = impl_->refuse_write(path_, "record gates of experiment " + std::to_string(id))) return *refused;
  try {
    SQLite::Transaction tx(impl_->db);
    replace_gates(impl_->db, id, gates);
    tx.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record gates of experiment " + std::to_string(id), e);
  }
}

Status Archive::add_training_run(int64_t id, const TrainingRun& r) {
  if (auto refused = impl_->refuse_write(path_, "record training of experiment " + std::to_string(id))) return *refused;
  try {
    insert_training_run(impl_->db, id, r);
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record training of experiment " + std::to_string(id), e);
  }
}

Status Archive::set_score(int64_t id, const Score& s) {
  if (auto refused = impl_->refuse_write(path_, "record the score of experiment " + std::to_string(id)))
    return *refused;
  try {
    insert_score(impl_->db, id, s);
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record the score of experiment " + std::to_string(id), e);
  }
}

Result<int64_t> Archive::add_analysis(int64_t id, const std::string& text, const nlohmann::json& insights) {
  if (auto refused = impl_->refuse_write(path_, "record the analysis of experiment " + std::to_string(id)))
    return *refused;
  try {
    return insert_analysis(impl_->db, id, text, insights);
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record the analysis of experiment " + std::to_string(id), e);
  }
}

Status Archive::record_outcome(int64_t id, const Outcome& o, std::vector<Event>* events) {
  if (auto refused = impl_->refuse_write(path_, "record the outcome of experiment " + std::to_string(id)))
    return *refused;
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db);
    for (const char* table : {"compile_attempts", "runtime_attempts", "training_runs", "scores", "analyses"}) {
      SQLite::Statement del(db, std::string("DELETE FROM ") + table + " WHERE experiment_id = ?");
      del.bind(1, id);
      del.exec();
    }
    for (const auto& a : o.attempts) insert_compile_attempt(db, id, a);
    for (const auto& a : o.runtime_attempts) insert_runtime_attempt(db, id, a);
    replace_gates(db, id, o.gates);
    for (const auto& r : o.runs) insert_training_run(db, id, r);
    std::set<std::string> presets;
    for (const auto& r : o.runs) presets.insert(r.preset);
    for (const auto& m : o.measurements) presets.insert(m.preset);
    for (const auto& p : presets) delete_measurements(db, id, p);
    insert_measurements(db, id, o.measurements);
    if (o.score) insert_score(db, id, *o.score);
    if (!o.analysis_text.empty()) insert_analysis(db, id, o.analysis_text, o.insights);
    update_status(db, id, to_string(o.status), o.fail_reason);
    SQLite::Statement t(db, "UPDATE experiments SET timing = ? WHERE id = ?");
    t.bind(1, o.timing.dump());
    t.bind(2, id);
    t.exec();
    insert_events(db, events, id);
    tx.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record the outcome of experiment " + std::to_string(id), e);
  }
}

namespace {

// A JSON cell, or an error naming the table, the column and the row: a cell edited by hand or
// damaged is reported as such, never as a crash.
nlohmann::json json_cell(SQLite::Statement& q, int column, const char* table) {
  auto j = nlohmann::json::parse(q.getColumn(column).getString(), nullptr, false);
  if (j.is_discarded())
    throw std::runtime_error(std::string("archive: table ") + table + ", column " + q.getColumnName(column) +
                             " of the row whose " + q.getColumnName(0) + " is " + q.getColumn(0).getString() +
                             ": not valid JSON (edited by hand or damaged; fix it with sqlite3 or restore a backup)");
  return j;
}

Experiment read_experiment(SQLite::Statement& q) {
  Experiment e;
  e.id = q.getColumn(0).getInt64();
  if (!q.getColumn(1).isNull()) e.parent = q.getColumn(1).getInt64();
  e.name = q.getColumn(2).getString();
  e.motivation = q.getColumn(3).getString();
  e.source = q.getColumn(4).getString();
  e.design = json_cell(q, 5, "experiments");
  e.canonical = q.getColumn(6).getString();
  e.source_hash = q.getColumn(7).getString();
  e.origin = origin_from_string(q.getColumn(8).getString()).value();
  e.status = status_from_string(q.getColumn(9).getString()).value();
  e.fail_reason = q.getColumn(10).getString();
  e.created_at = q.getColumn(11).getString();
  e.updated_at = q.getColumn(12).getString();
  e.timing = json_cell(q, 13, "experiments");
  return e;
}

// Schema 1 had no timing: it reads as none recorded.
std::string experiment_select(int version) {
  return std::string("SELECT id, parent_id, name, motivation, source, design, canonical, source_hash, origin, status, "
                     "fail_reason, created_at, updated_at, ") +
         (version >= 2 ? "timing" : "'{}'") + " FROM experiments";
}

}  // namespace

Result<Experiment> Archive::experiment(int64_t id) const {
  SQLite::Statement q(impl_->db, experiment_select(impl_->version) + " WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return make_error("no experiment " + std::to_string(id) + " in " + path_.string());
  Experiment e = read_experiment(q);
  SQLite::Statement r(impl_->db, "SELECT reference_id FROM experiment_references WHERE experiment_id = ? ORDER BY reference_id");
  r.bind(1, id);
  while (r.executeStep()) e.references.push_back(r.getColumn(0).getInt64());
  return e;
}

std::vector<Experiment> Archive::experiments() const {
  std::vector<Experiment> out;
  SQLite::Statement q(impl_->db, experiment_select(impl_->version) + " ORDER BY id");
  while (q.executeStep()) out.push_back(read_experiment(q));
  return out;
}

Status Archive::set_ladder(const std::vector<std::string>& presets) {
  if (auto refused = impl_->refuse_write(path_, "record the run's ladder")) return *refused;
  try {
    SQLite::Transaction t(impl_->db);
    impl_->db.exec("DELETE FROM ladder");
    for (size_t i = 0; i < presets.size(); ++i) {
      SQLite::Statement q(impl_->db, "INSERT INTO ladder (position, preset) VALUES (?, ?)");
      q.bind(1, static_cast<int64_t>(i));
      q.bind(2, presets[i]);
      q.exec();
    }
    t.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record the run's ladder", e);
  }
}

std::vector<std::string> Archive::ladder() const {
  std::vector<std::string> out;
  if (impl_->version < 9) return out;  // an older archive read where it lies: none stored
  SQLite::Statement q(impl_->db, "SELECT preset FROM ladder ORDER BY position");
  while (q.executeStep()) out.push_back(q.getColumn(0).getString());
  return out;
}

std::optional<int64_t> Archive::baseline_named(const std::string& name) const {
  SQLite::Statement q(impl_->db, "SELECT id FROM experiments WHERE origin = 'baseline' AND name = ? ORDER BY id LIMIT 1");
  q.bind(1, name);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

std::vector<CompileAttempt> Archive::compile_attempts(int64_t id) const {
  std::vector<CompileAttempt> out;
  // Before schema 4 no failure was recorded: it reads as none.
  SQLite::Statement q(impl_->db,
                      std::string("SELECT attempt, source, diagnostics, ok, seconds, method, answered, diff, ") +
                          (impl_->version >= 4 ? "failure" : "''") +
                          " FROM compile_attempts WHERE experiment_id = ? ORDER BY attempt");
  q.bind(1, id);
  while (q.executeStep()) {
    CompileAttempt a;
    a.attempt = q.getColumn(0).getInt();
    a.source = q.getColumn(1).getString();
    a.diagnostics = json_cell(q, 2, "compile_attempts").get<jit::Diagnostics>();
    a.ok = q.getColumn(3).getInt() != 0;
    a.seconds = q.getColumn(4).getDouble();
    a.method = q.getColumn(5).getString();
    a.answered = json_cell(q, 6, "compile_attempts").get<std::vector<std::string>>();
    a.diff = q.getColumn(7).getString();
    a.failure = q.getColumn(8).getString();
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<RuntimeAttempt> Archive::runtime_attempts(int64_t id) const {
  std::vector<RuntimeAttempt> out;
  if (impl_->version < 4) return out;  // no runtime attempts before schema 4
  SQLite::Statement q(impl_->db,
                      "SELECT revision, stage, failure, source, revised, method, answered, diff FROM runtime_attempts "
                      "WHERE experiment_id = ? ORDER BY revision");
  q.bind(1, id);
  while (q.executeStep()) {
    RuntimeAttempt a;
    a.revision = q.getColumn(0).getInt();
    a.stage = q.getColumn(1).getString();
    a.failure = q.getColumn(2).getString();
    a.source = q.getColumn(3).getString();
    a.revised = q.getColumn(4).getInt() != 0;
    a.method = q.getColumn(5).getString();
    a.answered = json_cell(q, 6, "runtime_attempts").get<std::vector<std::string>>();
    a.diff = q.getColumn(7).getString();
    out.push_back(std::move(a));
  }
  return out;
}

Status Archive::append_events(std::vector<Event>& events) {
  if (auto refused = impl_->refuse_write(path_, "record events")) return *refused;
  try {
    SQLite::Transaction tx(impl_->db);
    insert_events(impl_->db, &events, std::nullopt);
    tx.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record events", e);
  }
}

namespace {

constexpr const char* kEventColumns = "SELECT seq, time, kind, experiment_id, data FROM events ";

// The events a query of kEventColumns selects. An event is a record of what happened: one that
// cannot be read is shown as such, and the rest go on.
std::vector<Event> read_events(SQLite::Statement& q) {
  std::vector<Event> out;
  while (q.executeStep()) {
    Event e;
    e.seq = q.getColumn(0).getInt64();
    e.time = q.getColumn(1).getString();
    e.kind = q.getColumn(2).getString();
    if (!q.getColumn(3).isNull()) e.experiment = q.getColumn(3).getInt64();
    try {
      e.data = json_cell(q, 4, "events");
    } catch (const std::exception& ex) {
      e.data = {{"unreadable", ex.what()}};
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

std::vector<Event> Archive::events_since(int64_t seq, int limit) const {
  if (impl_->version < 4) return {};  // no events before schema 4
  SQLite::Statement q(impl_->db, std::string(kEventColumns) + "WHERE seq > ? ORDER BY seq LIMIT ?");
  q.bind(1, seq);
  q.bind(2, limit);
  return read_events(q);
}

std::vector<Event> Archive::events_of(int64_t experiment, const std::vector<std::string>& kinds) const {
  if (impl_->version < 4 || kinds.empty()) return {};
  std::string marks;
  for (size_t i = 0; i < kinds.size(); ++i) marks += i ? ",?" : "?";
  SQLite::Statement q(impl_->db, std::string(kEventColumns) + "WHERE experiment_id = ? AND kind IN (" + marks +
                                     ") ORDER BY seq");
  q.bind(1, experiment);
  for (size_t i = 0; i < kinds.size(); ++i) q.bind(static_cast<int>(i + 2), kinds[i]);
  return read_events(q);
}

namespace {
std::string marks_for(size_t n) {
  std::string marks;
  for (size_t i = 0; i < n; ++i) marks += i ? ",?" : "?";
  return marks;
}
}  // namespace

std::vector<Event> Archive::latest_events(const std::vector<std::string>& kinds, int limit) const {
  if (impl_->version < 4 || kinds.empty() || limit < 1) return {};
  SQLite::Statement q(impl_->db, std::string(kEventColumns) + "WHERE kind IN (" + marks_for(kinds.size()) +
                                     ") ORDER BY seq DESC LIMIT ?");
  for (size_t i = 0; i < kinds.size(); ++i) q.bind(static_cast<int>(i + 1), kinds[i]);
  q.bind(static_cast<int>(kinds.size() + 1), limit);
  auto out = read_events(q);
  std::reverse(out.begin(), out.end());
  return out;
}

int64_t Archive::count_events(const std::vector<std::string>& kinds) const {
  if (impl_->version < 4 || kinds.empty()) return 0;
  SQLite::Statement q(impl_->db, "SELECT count(*) FROM events WHERE kind IN (" + marks_for(kinds.size()) + ")");
  for (size_t i = 0; i < kinds.size(); ++i) q.bind(static_cast<int>(i + 1), kinds[i]);
  return q.executeStep() ? q.getColumn(0).getInt64() : 0;
}

int64_t Archive::last_event_seq() const {
  if (impl_->version < 4) return 0;
  return impl_->db.execAndGet("SELECT coalesce(max(seq), 0) FROM events").getInt64();
}

std::vector<GateRecord> Archive::gates(int64_t id) const {
  std::vector<GateRecord> out;
  SQLite::Statement q(impl_->db, "SELECT name, passed, reason, details FROM gate_results WHERE experiment_id = ? ORDER BY rowid");
  q.bind(1, id);
  while (q.executeStep())
    out.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt() != 0, q.getColumn(2).getString(),
                   json_cell(q, 3, "gate_results")});
  return out;
}

std::vector<TrainingRun> Archive::training_runs(int64_t id) const {
  std::vector<TrainingRun> out;
  // An archive read where it lies (read-only) may predate the peak memory column (schema 8).
  SQLite::Statement q(impl_->db, std::string("SELECT preset, task, config, curve, metric_name, metric, final_loss, steps, "
                                             "tokens_per_second, seconds, stop_reason, ") +
                                     (impl_->version >= 8 ? "peak_bytes" : "0") +
                                     " FROM training_runs WHERE experiment_id = ? ORDER BY id");
  q.bind(1, id);
  while (q.executeStep()) {
    TrainingRun r;
    r.preset = q.getColumn(0).getString();
    r.task = q.getColumn(1).getString();
    r.config = json_cell(q, 2, "training_runs");
    r.curve = json_cell(q, 3, "training_runs");
    r.metric_name = q.getColumn(4).getString();
    r.metric = q.getColumn(5).getDouble();
    if (!q.getColumn(6).isNull()) r.final_loss = q.getColumn(6).getDouble();
    r.steps = q.getColumn(7).getInt64();
    r.tokens_per_second = q.getColumn(8).getDouble();
    r.seconds = q.getColumn(9).getDouble();
    r.stop_reason = q.getColumn(10).getString();
    r.peak_bytes = q.getColumn(11).getInt64();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Measurement> Archive::measurements(int64_t id) const {
  std::vector<Measurement> out;
  if (impl_->version < 7) return out;  // none before schema 7
  const bool curves = impl_->version >= 11;  // no curves before schema 11
  SQLite::Statement q(impl_->db,
                      std::string("SELECT preset, seed, task, metric_name, metric, tokens_per_second, seconds, stop_reason, ") +
                          (curves ? "curve" : "'[]'") + " FROM measurements WHERE experiment_id = ? ORDER BY preset, seed, task");
  q.bind(1, id);
  while (q.executeStep()) {
    Measurement m;
    m.preset = q.getColumn(0).getString();
    m.seed = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
    m.task = q.getColumn(2).getString();
    m.metric_name = q.getColumn(3).getString();
    m.metric = q.getColumn(4).getDouble();
    m.tokens_per_second = q.getColumn(5).getDouble();
    m.seconds = q.getColumn(6).getDouble();
    m.stop_reason = q.getColumn(7).getString();
    m.curve = json_cell(q, 8, "measurements");
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<Score> Archive::score(int64_t id) const {
  SQLite::Statement q(impl_->db, "SELECT loss_score, bench_score, judge_score, total, details FROM scores WHERE experiment_id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return std::nullopt;
  return Score::from_stored(q.getColumn(0).getDouble(), q.getColumn(1).getDouble(), q.getColumn(2).getDouble(),
                            q.getColumn(3).getDouble(), json_cell(q, 4, "scores"));
}

std::vector<Analysis> Archive::analyses(int64_t id) const {
  std::vector<Analysis> out;
  SQLite::Statement q(impl_->db, "SELECT id, text, insights, created_at FROM analyses WHERE experiment_id = ? ORDER BY id");
  q.bind(1, id);
  while (q.executeStep())
    out.push_back({q.getColumn(0).getInt64(), id, q.getColumn(1).getString(),
                   json_cell(q, 2, "analyses"), q.getColumn(3).getString()});
  return out;
}

Status Archive::record_stage(int64_t id, const StageResult& r, std::vector<Event>* events) {
  if (auto refused = impl_->refuse_write(path_, "record stage " + r.preset + " of experiment " + std::to_string(id)))
    return *refused;
  try {
    auto& db = impl_->db;
    SQLite::Transaction tx(db);
    SQLite::Statement del(db, "DELETE FROM training_runs WHERE experiment_id = ? AND preset = ?");
    del.bind(1, id);
    del.bind(2, r.preset);
    del.exec();
    for (const auto& run : r.runs) insert_training_run(db, id, run);
    delete_measurements(db, id, r.preset);
    insert_measurements(db, id, r.measurements);
    SQLite::Statement q(db, "INSERT OR REPLACE INTO stage_scores VALUES (?,?,?,?,?,?,?,?,?)");
    q.bind(1, id);
    q.bind(2, r.preset);
    q.bind(3, r.score.loss_score);
    q.bind(4, r.score.bench_score);
    q.bind(5, r.score.judge_score);
    q.bind(6, r.score.total);
    q.bind(7, r.score.stored_details().dump());
    q.bind(8, to_string(r.status));
    q.bind(9, r.fail_reason);
    q.exec();
    insert_events(db, events, id);
    tx.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record stage " + r.preset + " of experiment " + std::to_string(id), e);
  }
}

std::vector<StageResult> Archive::stages(int64_t id) const {
  std::vector<StageResult> out;
  if (impl_->version < 3) return out;  // no second stage before schema 3
  SQLite::Statement q(impl_->db,
                      "SELECT preset, loss_score, bench_score, judge_score, total, details, status, fail_reason "
                      "FROM stage_scores WHERE experiment_id = ? ORDER BY preset");
  q.bind(1, id);
  // Read once: a design with several stages would otherwise read its runs once per stage.
  const auto runs = training_runs(id);
  const auto ms = measurements(id);
  while (q.executeStep()) {
    StageResult r;
    r.preset = q.getColumn(0).getString();
    r.score = Score::from_stored(q.getColumn(1).getDouble(), q.getColumn(2).getDouble(), q.getColumn(3).getDouble(),
                                 q.getColumn(4).getDouble(), json_cell(q, 5, "stage_results"));
    r.status = status_from_string(q.getColumn(6).getString()).value();
    r.fail_reason = q.getColumn(7).getString();
    for (const auto& run : runs)
      if (run.preset == r.preset) r.runs.push_back(run);
    for (const auto& m : ms)
      if (m.preset == r.preset) r.measurements.push_back(m);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<int64_t> Archive::with_status(ExperimentStatus status) const {
  std::vector<int64_t> out;
  SQLite::Statement q(impl_->db, "SELECT id FROM experiments WHERE status = ? ORDER BY id");
  q.bind(1, to_string(status));
  while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
  return out;
}

std::vector<int64_t> Archive::children(int64_t id) const {
  std::vector<int64_t> out;
  SQLite::Statement q(impl_->db, "SELECT id FROM experiments WHERE parent_id = ? ORDER BY id");
  q.bind(1, id);
  while (q.executeStep()) out.push_back(q.getColumn(0).getInt64());
  return out;
}

std::vector<std::pair<int64_t, double>> Archive::top(int n) const {
  std::vector<std::pair<int64_t, double>> out;
  SQLite::Statement q(impl_->db, "SELECT experiment_id, total FROM scores ORDER BY total DESC, experiment_id LIMIT ?");
  q.bind(1, n);
  while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), q.getColumn(1).getDouble());
  return out;
}

std::optional<int64_t> Archive::find_duplicate(const std::string& canonical, const std::string& source_hash) const {
  SQLite::Statement q(impl_->db,
                      "SELECT id FROM experiments WHERE (canonical != '' AND canonical = ?) OR "
                      "(source_hash != '' AND source_hash = ?) ORDER BY id LIMIT 1");
  q.bind(1, canonical);
  q.bind(2, source_hash);
  if (!q.executeStep()) return std::nullopt;
  return q.getColumn(0).getInt64();
}

namespace {

// An archive read where it lies keeps its schema: before 10 a call has no `usable` column.
#define ASIARCH_LLM_COLUMNS                                                                                    \
  "id, experiment_id, time, role, purpose, model, template, template_version, request, request_key, response, " \
  "latency_seconds, prompt_tokens, completion_tokens, tokens_estimated, cost_usd, http_status, retries, error, " \
  "replayed, outcome"
constexpr const char* kLlmColumnsBefore10 = ASIARCH_LLM_COLUMNS;
constexpr const char* kLlmColumns = ASIARCH_LLM_COLUMNS ", usable";
#undef ASIARCH_LLM_COLUMNS

LlmCall llm_call_row(SQLite::Statement& q, bool typed) {
  LlmCall c;
  c.id = q.getColumn(0).getInt64();
  if (!q.getColumn(1).isNull()) c.experiment = q.getColumn(1).getInt64();
  c.time = q.getColumn(2).getString();
  c.role = q.getColumn(3).getString();
  c.purpose = q.getColumn(4).getString();
  c.model = q.getColumn(5).getString();
  c.template_name = q.getColumn(6).getString();
  c.template_version = q.getColumn(7).getInt();
  c.request = nlohmann::json::parse(q.getColumn(8).getString(), nullptr, false);
  c.key = q.getColumn(9).getString();
  c.response = q.getColumn(10).getString();
  c.latency_seconds = q.getColumn(11).getDouble();
  c.prompt_tokens = q.getColumn(12).getInt64();
  c.completion_tokens = q.getColumn(13).getInt64();
  c.tokens_estimated = q.getColumn(14).getInt() != 0;
  c.cost_usd = q.getColumn(15).getDouble();
  c.http_status = q.getColumn(16).getInt();
  c.retries = q.getColumn(17).getInt();
  c.error = q.getColumn(18).getString();
  c.replayed = q.getColumn(19).getInt() != 0;
  c.outcome = q.getColumn(20).getString();
  // Before schema 10 the outcome said it: usable answers were "parsed".
  c.usable = typed ? q.getColumn(21).getInt() != 0 : c.error.empty() && c.outcome.rfind("parsed", 0) == 0;
  return c;
}

}  // namespace

Result<int64_t> Archive::add_llm_call(const LlmCall& c) {
  if (auto refused = impl_->refuse_write(path_, "record an LLM call")) return *refused;
  try {
    SQLite::Statement q(impl_->db,
                        "INSERT INTO llm_calls (experiment_id, time, role, purpose, model, template, template_version, "
                        "request, request_key, response, latency_seconds, prompt_tokens, completion_tokens, "
                        "tokens_estimated, cost_usd, http_status, retries, error, replayed, outcome, usable) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (c.experiment) q.bind(1, *c.experiment); else q.bind(1);
    q.bind(2, c.time.empty() ? now_utc_ms() : c.time);
    q.bind(3, c.role);
    q.bind(4, c.purpose);
    q.bind(5, c.model);
    q.bind(6, c.template_name);
    q.bind(7, c.template_version);
    q.bind(8, c.request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    q.bind(9, c.key);
    q.bind(10, c.response);
    q.bind(11, c.latency_seconds);
    q.bind(12, c.prompt_tokens);
    q.bind(13, c.completion_tokens);
    q.bind(14, c.tokens_estimated ? 1 : 0);
    q.bind(15, c.cost_usd);
    q.bind(16, c.http_status);
    q.bind(17, c.retries);
    q.bind(18, c.error);
    q.bind(19, c.replayed ? 1 : 0);
    q.bind(20, c.outcome);
    q.bind(21, c.usable && c.error.empty() ? 1 : 0);
    q.exec();
    return impl_->db.getLastInsertRowid();
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot record an LLM call", e);
  }
}

Status Archive::attach_llm_calls(const std::vector<int64_t>& ids, int64_t experiment) {
  if (auto refused = impl_->refuse_write(path_, "attach LLM calls")) return *refused;
  try {
    SQLite::Transaction t(impl_->db);
    for (int64_t id : ids) {
      SQLite::Statement q(impl_->db, "UPDATE llm_calls SET experiment_id = ? WHERE id = ?");
      q.bind(1, experiment);
      q.bind(2, id);
      q.exec();
    }
    t.commit();
    return Ok{};
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot attach LLM calls to experiment " + std::to_string(experiment), e);
  }
}

std::vector<LlmCall> Archive::llm_calls(std::optional<int64_t> experiment) const {
  std::vector<LlmCall> out;
  if (impl_->version < 5) return out;  // no LLM calls before schema 5
  const bool typed = impl_->version >= 10;
  SQLite::Statement q(impl_->db, std::string("SELECT ") + (typed ? kLlmColumns : kLlmColumnsBefore10) +
                                     " FROM llm_calls" + (experiment ? " WHERE experiment_id = ?" : "") + " ORDER BY id");
  if (experiment) q.bind(1, *experiment);
  while (q.executeStep()) out.push_back(llm_call_row(q, typed));
  return out;
}

std::optional<LlmCall> Archive::answered_llm_call(const std::string& key) const {
  if (impl_->version < 5) return std::nullopt;
  // The newest answer to this request decides: once a role could not use it (even replayed, under a
  // stricter check), it is asked again rather than replayed.
  const bool typed = impl_->version >= 10;
  SQLite::Statement q(impl_->db, std::string("SELECT ") + (typed ? kLlmColumns : kLlmColumnsBefore10) +
                                     " FROM llm_calls WHERE request_key = ? AND error = '' ORDER BY id DESC LIMIT 1");
  q.bind(1, key);
  if (!q.executeStep()) return std::nullopt;
  auto c = llm_call_row(q, typed);
  if (!c.usable) return std::nullopt;
  return c;
}

double Archive::llm_spent_usd() const {
  if (impl_->version < 5) return 0;
  SQLite::Statement q(impl_->db, "SELECT COALESCE(SUM(cost_usd), 0) FROM llm_calls WHERE replayed = 0");
  return q.executeStep() ? q.getColumn(0).getDouble() : 0;
}

Result<SummaryPage> Archive::summaries(const SummaryQuery& q) const {
  std::string order;
  const char* dir = q.descending ? "DESC" : "ASC";
  if (q.sort == "id") order = std::string("e.id ") + dir;
  else if (q.sort == "fitness") order = std::string("s.total IS NULL, s.total ") + dir + ", e.id";
  else if (q.sort == "name") order = std::string("e.name ") + dir + ", e.id";
  else return make_error("unknown sort key \"" + q.sort + "\"; sort by id, fitness or name");
  // Only the filters given, so that SQLite can answer from the indexes.
  std::string where;
  std::vector<std::string> binds;
  auto add = [&](const std::string& clause, const std::string& value) {
    where += (where.empty() ? " WHERE " : " AND ") + clause;
    binds.push_back(value);
  };
  if (!q.status.empty()) add("e.status = ?", q.status);
  if (!q.origin.empty()) add("e.origin = ?", q.origin);
  if (!q.text.empty()) {
    add("(instr(lower(e.name), lower(?))", q.text);
    where += " > 0 OR instr(lower(e.motivation), lower(?)) > 0)";
    binds.push_back(q.text);
  }
  SummaryPage page;
  try {
    SQLite::Statement count(impl_->db, "SELECT count(*) FROM experiments e" + where);
    for (size_t i = 0; i < binds.size(); ++i) count.bind(static_cast<int>(i + 1), binds[i]);
    if (count.executeStep()) page.total = count.getColumn(0).getInt64();
    SQLite::Statement rows(impl_->db,
                           std::string("SELECT e.id, e.name, e.origin, e.status, e.fail_reason, e.created_at, e.parent_id, s.total, ") +
                               (impl_->version >= 2 ? "json_extract(e.timing, '$.wall')" : "NULL") +
                               " FROM experiments e LEFT JOIN scores s ON s.experiment_id = e.id" +
                               where + " ORDER BY " + order + " LIMIT ? OFFSET ?");
    int k = 1;
    for (const auto& b : binds) rows.bind(k++, b);
    rows.bind(k++, q.limit);
    rows.bind(k, q.offset);
    while (rows.executeStep()) {
      Summary m;
      m.id = rows.getColumn(0).getInt64();
      m.name = rows.getColumn(1).getString();
      m.origin = rows.getColumn(2).getString();
      m.status = rows.getColumn(3).getString();
      m.fail_reason = rows.getColumn(4).getString();
      m.created_at = rows.getColumn(5).getString();
      if (!rows.getColumn(6).isNull()) m.parent = rows.getColumn(6).getInt64();
      if (!rows.getColumn(7).isNull()) m.fitness = rows.getColumn(7).getDouble();
      if (!rows.getColumn(8).isNull()) m.seconds = rows.getColumn(8).getDouble();
      page.rows.push_back(std::move(m));
    }
  } catch (const SQLite::Exception& e) {
    return db_error(path_, "cannot list experiments", e);
  }
  return page;
}

std::map<std::string, int64_t> Archive::count_by_status() const {
  std::map<std::string, int64_t> out;
  SQLite::Statement q(impl_->db, "SELECT status, count(*) FROM experiments GROUP BY status");
  while (q.executeStep()) out[q.getColumn(0).getString()] = q.getColumn(1).getInt64();
  return out;
}

}  // namespace asiarch::archive
