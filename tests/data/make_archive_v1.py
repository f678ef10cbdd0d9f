#!/usr/bin/env python3
"""Writes tests/data/archive-v1.db: an archive as asiarch wrote it at schema
version 1 (commit 1a250d6, "Discovery loop ..."), for the tests that read old
archives without changing them and migrate them.

The schema is migration 0 of archive/archive.cpp at that commit, applied as
Archive::open applied it then: WAL journal, then in one transaction the
schema, PRAGMA application_id = 0x41534941 ("ASIA") and PRAGMA user_version = 1.
The rows are written with the statements of that version (add_experiment,
then record_outcome's deletes and inserts in one transaction), with values in
its formats: JSON as nlohmann::json::dump() writes it (sorted keys, no
spaces), diagnostics as {"items", "dropped"}, designs as the twelve genes,
source hashes as agents::normalised_source_hash. Timestamps are fixed, so the
content is the same on every run.

    python3 tests/data/make_archive_v1.py [OUT]    (default: beside this script)
"""
import hashlib
import json
import os
import sqlite3
import sys

SCHEMA_V1 = """
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
"""

GENES = ["feature_map", "qk_norm", "update", "decay", "beta", "conv", "conv_size", "norm", "gate", "paths",
         "fusion", "head_factor"]
DELTA_NET = {"feature_map": "identity", "qk_norm": "l2", "update": "delta", "decay": "data", "beta": "sigmoid",
             "conv": "qkv", "conv_size": "4", "norm": "rms", "gate": "none", "paths": "", "fusion": "sum",
             "head_factor": "1"}


def dump(value):
    """nlohmann::json::dump(): sorted keys, no spaces, UTF-8 as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(design):
    return ";".join(g + "=" + design[g] for g in GENES)


def normalised_source_hash(s):
    """agents::normalised_source_hash: comments and whitespace out, string literals kept."""
    out, i = [], 0
    while i < len(s):
        if s.startswith("//", i):
            while i < len(s) and s[i] != "\n":
                i += 1
        elif s.startswith("/*", i):
            end = s.find("*/", i + 2)
            i = len(s) if end < 0 else end + 1
        elif s[i] == '"':
            start = i
            i += 1
            while i < len(s) and s[i] != '"':
                i += 2 if s[i] == "\\" else 1
            out.append(s[start:min(i, len(s) - 1) + 1])
        elif not s[i].isspace():
            out.append(s[i])
        i += 1
    return hashlib.sha256("".join(out).encode()).hexdigest()


def diagnostic(file, line, column, message, source_line="", fixits=(), notes=(), severity="error"):
    return {"severity": severity, "stage": "compile", "file": file, "line": line, "column": column,
            "message": message, "option": "", "source_line": source_line, "fixits": list(fixits),
            "notes": list(notes)}


def line_of(source, text):
    """The 1-based line of `source` that starts with `text`."""
    return next(i + 1 for i, l in enumerate(source.split("\n")) if l.startswith(text))


def mixer_source(cls, name, design, motivation, body):
    return (f"// {name}: generated by the asiarch Researcher.\n// design: {canonical(design)}\n"
            f"// {motivation}\n// options: chunk=N (default 64).\n#include <asiarch/plugin.h>\n\n"
            f"namespace ops = asiarch::ops;\n\nclass {cls} : public asiarch::TokenMixer {{\n public:\n"
            f"  explicit {cls}(const asiarch::MixerConfig& cfg)\n"
            f"      : heads_(cfg.num_heads * 1), head_dim_(cfg.d_model / heads_) {{}}\n"
            f"  torch::Tensor forward(const torch::Tensor& x) override {{\n{body}  }}\n\n private:\n"
            f"  int64_t heads_, head_dim_;\n}};\n\nASIARCH_REGISTER_MIXER({cls}, \"{name}\")\n")


class V1Archive:
    """The writes of archive/archive.cpp at schema version 1."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        db = self.db
        # Archive::open: read-only checks, then WAL, then the migration in one transaction.
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("BEGIN")
        for statement in SCHEMA_V1.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("PRAGMA application_id = %d" % 0x41534941)
        db.execute("PRAGMA user_version = 1")
        db.execute("COMMIT")

    def add_experiment(self, e, now):
        db = self.db
        db.execute("BEGIN")
        cur = db.execute(
            "INSERT INTO experiments (parent_id, name, motivation, source, design, canonical, source_hash, "
            "origin, status, fail_reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (e.get("parent"), e["name"], e["motivation"], e["source"], dump(e.get("design", {})),
             e.get("canonical", ""), normalised_source_hash(e["source"]), e["origin"], "proposed", "", now, now))
        eid = cur.lastrowid
        for ref in e.get("references", []):
            db.execute("INSERT OR IGNORE INTO experiment_references VALUES (?, ?)", (eid, ref))
        db.execute("COMMIT")
        return eid

    def record_outcome(self, eid, o, now):
        db = self.db
        db.execute("BEGIN")
        for table in ("compile_attempts", "training_runs", "scores", "analyses"):
            db.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (eid,))
        for a in o.get("attempts", []):
            db.execute(
                "INSERT OR REPLACE INTO compile_attempts (experiment_id, attempt, source, diagnostics, ok, seconds, "
                "method, answered, diff) VALUES (?,?,?,?,?,?,?,?,?)",
                (eid, a["attempt"], a["source"], dump({"items": a.get("diagnostics", []), "dropped": 0}),
                 1 if a["ok"] else 0, a["seconds"], a.get("method", ""), dump(a.get("answered", [])),
                 a.get("diff", "")))
        db.execute("DELETE FROM gate_results WHERE experiment_id = ?", (eid,))
        for g in o.get("gates", []):
            db.execute("INSERT INTO gate_results VALUES (?,?,?,?,?)",
                       (eid, g["name"], 1 if g["passed"] else 0, g["reason"], dump(g.get("details", {}))))
        for r in o.get("runs", []):
            db.execute(
                "INSERT OR REPLACE INTO training_runs (experiment_id, preset, task, config, curve, metric_name, "
                "metric, final_loss, steps, tokens_per_second, seconds, stop_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (eid, r["preset"], r["task"], dump(r["config"]), dump(r["curve"]), r["metric_name"], r["metric"],
                 r.get("final_loss"), r["steps"], r["tokens_per_second"], r["seconds"], r["stop_reason"]))
        if "score" in o:
            s = o["score"]
            db.execute("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?)",
                       (eid, s["loss_score"], s["bench_score"], s["judge_score"], s["total"], dump(s["details"])))
        if o.get("analysis"):
            db.execute("INSERT INTO analyses (experiment_id, text, insights, created_at) VALUES (?,?,?,?)",
                       (eid, o["analysis"], dump(o.get("insights", [])), now))
        db.execute("UPDATE experiments SET status = ?, fail_reason = ?, updated_at = ? WHERE id = ?",
                   (o["status"], o.get("fail_reason", ""), now, eid))
        db.execute("COMMIT")

    def close(self):
        self.db.close()


def gates(complexity_exponent, passed=True):
    def gate(name, reason, details):
        return {"name": name, "passed": True, "reason": reason, "details": details}
    out = [
        gate("shape_dtype", "output [2, 64, 64] float32 as expected", {"shape": [2, 64, 64]}),
        gate("finite", "forward and backward finite", {}),
        gate("causality", "changing token 40 changed no earlier output", {"max_change": 0.0, "position": 40}),
        gate("batch_independence", "changing batch row 1 changed no other row", {"max_change": 0.0}),
        gate("complexity", f"time ~ L^{complexity_exponent:.2f}, memory ~ L^1.01",
             {"lengths": [256, 512, 1024, 2048], "memory_exponent": 1.01, "time_exponent": complexity_exponent}),
        gate("parameter_budget", "49152 parameters, within 1.5x DeltaNet's 49152",
             {"limit": 73728, "parameters": 49152}),
    ]
    if not passed:
        out[4]["passed"] = False
        out[4]["reason"] = f"time ~ L^{complexity_exponent:.2f}: not sub-quadratic (limit 1.5)"
    return out


def runs(seed, compression, loss, tps):
    return [
        {"preset": "smoke", "task": "compression", "metric_name": "accuracy", "metric": compression,
         "final_loss": 1.9321, "steps": 30, "tokens_per_second": tps, "seconds": 2.75, "stop_reason": "completed",
         "config": {"eval_seconds": 0.25, "mixer_options": {}, "seed": seed, "train_seconds": 2.5},
         "curve": [[10, 3.4012], [20, 2.6875], [30, 1.9321]]},
        {"preset": "smoke", "task": "byte_lm", "metric_name": "bits_per_byte", "metric": loss, "final_loss": loss * 0.6931,
         "steps": 30, "tokens_per_second": tps * 1.25, "seconds": 2.5, "stop_reason": "completed",
         "config": {"eval_seconds": 0.5, "mixer_options": {}, "seed": seed, "train_seconds": 2.0},
         "curve": [[10, 4.125], [20, 3.5], [30, 3.25]]},
    ]


def score(loss_score, bench_score, judge_score, loss, accuracy, judge_parts):
    total = loss_score + bench_score + judge_score
    details = {"loss_score": loss_score, "bench_score": bench_score, "judge_score": judge_score, "total": total,
               "suspicious": False, "judge": judge_parts, "judge_score_1_10": 1.0 + 9.0 * judge_score,
               "loss": loss, "baseline_loss": 4.6875, "accuracy": accuracy, "baseline_accuracy": 0.375}
    return {"loss_score": loss_score, "bench_score": bench_score, "judge_score": judge_score, "total": total,
            "details": details}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "archive-v1.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)
    a = V1Archive(out)

    # Seed: the DeltaNet baseline, then a hand-written plugin from <workdir>/plugins.
    dn_source = mixer_source("DeltaNet", "delta_net", DELTA_NET, "The delta rule, chunkwise.",
                             "    return ops::delta_rule_chunked(x, heads_, head_dim_);\n")
    dn = a.add_experiment({"name": "delta_net", "origin": "baseline", "source": dn_source, "design": DELTA_NET,
                           "canonical": canonical(DELTA_NET),
                           "motivation": "Hand-written baseline from plugins/baselines; the first parents of the "
                                         "search."}, "2026-11-23T14:00:01Z")
    crash_source = ("#include <asiarch/plugin.h>\nclass Crash : public asiarch::TokenMixer {\n public:\n"
                    "  explicit Crash(const asiarch::MixerConfig&) {}\n"
                    "  torch::Tensor forward(const torch::Tensor& x) override {\n"
                    "    volatile int* p = nullptr;\n    *p = 1;\n    return x;\n  }\n};\n"
                    "ASIARCH_REGISTER_MIXER(Crash, \"crash\")\n")
    crash = a.add_experiment({"name": "crash", "origin": "hand-written", "source": crash_source,
                              "motivation": "Hand-written plugin from /tmp/asiarch-work/plugins/crash.cpp."},
                             "2026-11-23T14:00:01Z")

    judge_dn = {"complexity": {"reason": "time ~ L^1.02, memory ~ L^1.01; full marks up to 1.1, none from 1.5",
                               "score": 10.0, "weight": 0.3},
                "parameter_efficiency": {"reason": "49152 parameters = 1.00x DeltaNet's", "score": 10.0,
                                         "weight": 0.2},
                "stability": {"reason": "2/2 tasks completed; loss rose >10% between 0 of 4 logged points",
                              "score": 10.0, "weight": 0.3}}
    a.record_outcome(dn, {
        "attempts": [{"attempt": 1, "source": dn_source, "ok": True, "seconds": 1.84}],
        "gates": gates(1.02), "runs": runs(3, 0.375, 4.6875, 51200.0),
        "score": score(0.5, 0.5, 1.0, 4.6875, 0.375, judge_dn), "status": "scored"}, "2026-11-23T14:00:09Z")
    a.record_outcome(crash, {
        "attempts": [{"attempt": 1, "source": crash_source, "ok": True, "seconds": 1.2}],
        "status": "failed",
        "fail_reason": "worker crashed: SIGSEGV (Segmentation fault) during gate shape_dtype"},
        "2026-11-23T14:00:11Z")

    # Evolved: a child of DeltaNet that compiled after a fix-it, scored, analysed.
    d1 = dict(DELTA_NET, feature_map="silu", gate="sigmoid")
    m1 = "SiLU features keep q and k positive-ish; a sigmoid output gate filters the memory read."
    broken = mixer_source("DeltaSiluA1b2c3", "delta_silu_a1b2c3", d1, m1,
                          "    auto q = ops::silu(x)\n    return ops::delta_rule_chunked(q, heads_, head_dim_);\n")
    fixed = broken.replace("ops::silu(x)\n", "ops::silu(x);\n")
    n = line_of(broken, "    auto q = ")
    diag = diagnostic("delta_silu_a1b2c3.cpp", n, 26, "expected ';' at end of declaration",
                      "    auto q = ops::silu(x)",
                      fixits=[{"line": n, "column": 26, "end_line": n, "end_column": 26, "replacement": ";"}],
                      notes=[diagnostic("delta_silu_a1b2c3.cpp", n, 5, "to match this 'auto'", severity="note")])
    c1 = a.add_experiment({"name": "delta_silu_a1b2c3", "origin": "evolved", "parent": dn, "references": [dn],
                           "source": broken, "design": d1, "canonical": canonical(d1), "motivation": m1},
                          "2026-11-23T14:00:12Z")
    judge_c1 = dict(judge_dn, novelty={"reason": "nearest archived design differs in 16.7% of its genes",
                                       "score": 7.0, "weight": 0.2})
    a.record_outcome(c1, {
        "attempts": [
            {"attempt": 1, "source": broken, "ok": False, "seconds": 0.91, "diagnostics": [diag]},
            {"attempt": 2, "source": fixed, "ok": True, "seconds": 1.73, "method": "fix-it",
             "answered": [f"{n}:26: expected ';' at end of declaration"],
             "diff": f"--- attempt 1\n+++ attempt 2\n@@ -{n} +{n} @@\n-    auto q = ops::silu(x)\n"
                     "+    auto q = ops::silu(x);\n"}],
        "gates": gates(1.04), "runs": runs(4, 0.4375, 4.5625, 49800.0),
        "score": score(0.52, 0.58, 0.94, 4.5625, 0.4375, judge_c1), "status": "scored",
        "analysis": "#3 delta_silu_a1b2c3 scored 2.040 against its parent's 2.000 (+0.040): feature_map "
                    "identity->silu, gate none->sigmoid.",
        "insights": [{"change": "feature_map identity->silu", "count": 1, "failures": 0, "mean_delta": 0.04},
                     {"change": "gate none->sigmoid", "count": 1, "failures": 0, "mean_delta": 0.04}]},
        "2026-11-23T14:00:20Z")

    # Evolved: a child that never compiled; the repair rule did not help.
    d2 = dict(DELTA_NET, paths="conv", conv_size="2")
    m2 = "A local convolution path beside the memory, for short-range patterns."
    bad = mixer_source("DeltaConvD4e5f6", "delta_conv_d4e5f6", d2, m2,
                       "    return ops::delta_rule_chunked(x, heads_, head_dim_) + local_conv(x);\n")
    undeclared = diagnostic("delta_conv_d4e5f6.cpp", line_of(bad, "    return ops::"), 63, "use of undeclared identifier 'local_conv'",
                            "    return ops::delta_rule_chunked(x, heads_, head_dim_) + local_conv(x);")
    c2 = a.add_experiment({"name": "delta_conv_d4e5f6", "origin": "evolved", "parent": dn, "references": [dn, c1],
                           "source": bad, "design": d2, "canonical": canonical(d2), "motivation": m2},
                          "2026-11-23T14:00:21Z")
    a.record_outcome(c2, {
        "attempts": [
            {"attempt": 1, "source": bad, "ok": False, "seconds": 0.88, "diagnostics": [undeclared]},
            {"attempt": 2, "source": bad, "ok": False, "seconds": 0.86, "method": "rule:undeclared_op",
             "answered": [], "diagnostics": [undeclared]}],
        "status": "failed", "fail_reason": "did not compile after 2 attempt(s): use of undeclared identifier "
                                           "'local_conv'",
        "analysis": "#4 delta_conv_d4e5f6 failed: did not compile after 2 attempt(s).",
        "insights": [{"change": "paths ->conv", "count": 1, "failures": 1, "mean_delta": 0.0}]},
        "2026-11-23T14:00:23Z")

    # Evolved: a grandchild the run was stopped before evaluating (resume picks it up).
    d3 = dict(d1, head_factor="2")
    m3 = "Twice the heads at half the width each, on the best design so far."
    a.add_experiment({"name": "delta_silu_a7b8c9", "origin": "evolved", "parent": c1, "references": [c1],
                      "source": mixer_source("DeltaSiluA7b8c9", "delta_silu_a7b8c9", d3, m3,
                                             "    return ops::delta_rule_chunked(ops::silu(x), heads_, head_dim_);\n"),
                      "design": d3, "canonical": canonical(d3), "motivation": m3}, "2026-11-23T14:00:24Z")
    # Closing checkpoints the WAL into the file and removes it, as asiarch's last close does.
    a.close()
    assert not os.path.exists(out + "-wal"), "the WAL was not checkpointed"


if __name__ == "__main__":
    main()
