#!/usr/bin/env python3
"""Scheduling overhead of the slurm executor against the local one, on this machine.

Starts a one-node Slurm (tests/slurm/cluster.sh), then runs the same discovery twice
(`asiarch run --budget N --preset smoke`, same seed), once with each executor, and reads the
events of each evaluation: submit to start (the job handed over -> the worker's first progress
seen by the host) and end to recorded (the worker's last task -> the outcome recorded), medians
over the experiments, and the ratio slurm / local.
  bench/slurm_overhead.py [budget=4]   (env: ASIARCH_BINARY, default build/asiarch)
"""
import json, os, shutil, statistics, subprocess, sys, tempfile
from datetime import datetime

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get("ASIARCH_BINARY", os.path.join(root, "build", "asiarch"))
budget = int(sys.argv[1]) if len(sys.argv) > 1 else 4
cluster = tempfile.mkdtemp(prefix="asiarch-bench-slurm-")


def t(e):
    return datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()


def run(executor):
    w = tempfile.mkdtemp(prefix="asiarch-bench-" + executor + "-")
    cfg = {"baselines": ["delta_net"], "recheck": 0, "seed": 7, "executor": executor}
    if executor == "slurm":
        cfg["slurm"] = {"shared_dir": os.path.join(w, "shared"), "partition": "debug"}
    with open(os.path.join(w, "asiarch.json"), "w") as f:
        json.dump(cfg, f)
    subprocess.run([binary, "run", "--workdir", w, "--budget", str(budget), "--preset", "smoke", "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run([binary, "events", "--json", "--workdir", w], check=True, capture_output=True, text=True).stdout
    evs = [json.loads(l) for l in out.splitlines() if l.strip()]
    per = {}
    for e in evs:
        if e["experiment"] is not None:
            per.setdefault(e["experiment"], []).append(e)
    rows = []
    for x, es in per.items():
        def first(kind, after=0):
            return next((t(e) for e in es if e["kind"] == kind and t(e) >= after), None)
        handed = next((t(e) for e in es if e["kind"] == "worker_started" and
                       (executor == "local" and e["data"].get("role") == "evaluate" or e["data"].get("executor") == "slurm")), None)
        if handed is None:
            handed = next((t(e) for e in es if e["kind"] == "worker_reused"), None)
        started = first("gates_started")
        last_task = max((t(e) for e in es if e["kind"] == "task_finished"), default=None)
        recorded = next((t(e) for e in es if e["kind"] in ("scored", "failed")), None)
        if None in (handed, started, last_task, recorded):
            continue
        rows.append((started - handed, recorded - last_task, recorded - handed))
    shutil.rmtree(w, ignore_errors=True)
    return rows


try:
    r = subprocess.run(["bash", os.path.join(root, "tests/slurm/cluster.sh"), "start", cluster], check=True,
                       capture_output=True, text=True)
    os.environ["SLURM_CONF"] = os.path.join(cluster, "slurm.conf")
    local, slurm = run("local"), run("slurm")
finally:
    subprocess.run(["bash", os.path.join(root, "tests/slurm/cluster.sh"), "stop", cluster])
    shutil.rmtree(cluster, ignore_errors=True)

print(f"experiments measured: local {len(local)}, slurm {len(slurm)} (budget {budget} + the DeltaNet reference, smoke)")
print(f"{'median seconds':44} {'local':>8} {'slurm':>8} {'ratio':>8} {'slurm - local':>14}")
for i, name in enumerate(["submit to start (handed over -> first progress)", "end to recorded (last task -> outcome)",
                          "whole evaluation (handed over -> recorded)"]):
    a, b = statistics.median(x[i] for x in local), statistics.median(x[i] for x in slurm)
    print(f"{name:44} {a:8.2f} {b:8.2f} {b / a if a else float('inf'):8.1f} {b - a:14.2f}")
