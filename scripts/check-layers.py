#!/usr/bin/env python3
"""The dependency direction between asiarch's folders, checked on every #include.

Each folder is one library (docs/architecture.md). A folder may include its own headers and
those of the folders listed for it below, nothing else: dependencies point one way, from the
program (cli/) down to the plain utilities (util/). Run from anywhere:

    python3 scripts/check-layers.py [ROOT]

Exit 0 when every include keeps to the table; 1 with one line per wrong-way include, naming the
file, the line and the rule it breaks; 2 when the tree cannot be read as expected.
"""
import os
import re
import sys

# Folder -> the folders it may include, besides itself. The order is the layering, lowest first;
# a folder only ever names folders above it in this list.
ALLOWED = {
    "util": [],
    "plugin_api": [],
    "jit": ["util", "plugin_api"],
    "lab": ["util", "plugin_api"],
    "archive": ["util", "jit"],  # jit/diagnostics.h only: a compile's diagnostics are stored as they are
    "cognition": ["util"],
    "results": ["util", "lab", "archive"],  # lab's torch-free headers: stats (intervals), names
    "agents": ["util", "plugin_api", "jit", "lab"],
    "worker": ["util", "plugin_api", "jit", "lab"],
    "exec": ["util", "jit", "lab", "worker"],
    "config": ["util", "lab", "archive", "agents", "worker", "exec"],
    "engine": ["util", "plugin_api", "jit", "lab", "archive", "cognition", "results", "agents", "worker",
               "exec", "config"],
    # The HTTP side reads the archive and the results and talks to the loop through
    # engine/loop_control.h alone; it never links LibTorch.
    "serve": ["util", "lab", "archive", "results", "engine", "config"],
    "cli": ["util", "plugin_api", "jit", "lab", "archive", "cognition", "results", "agents", "worker", "exec",
            "config", "engine", "serve"],
}
# Which headers of an allowed folder a folder may use, where it may use only some.
ONLY = {
    ("archive", "jit"): {"jit/diagnostics.h"},
    # The torch-free libraries use only lab's torch-free headers.
    ("results", "lab"): {"lab/stats.h", "lab/names.h"},
    ("serve", "lab"): {"lab/names.h"},
    ("serve", "engine"): {"engine/loop_control.h", "engine/events.h"},
    # The engine and the configuration know the roles, their views, the factory and the call log, never a backend.
    ("engine", "agents"): {"agents/roles.h", "agents/views.h", "agents/factory.h", "agents/llm/client.h"},
    ("config", "agents"): {"agents/factory.h"},
}
SOURCE = re.compile(r"\.(h|hpp|cpp|cc|inc)$")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([A-Za-z0-9_]+)/([^"]+)"')


def check(root):
    problems = []
    seen = 0
    for folder in ALLOWED:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            print(f"check-layers: {base}: no such folder (the table names it)", file=sys.stderr)
            sys.exit(2)
        for dirpath, _, files in os.walk(base):
            for name in sorted(files):
                if not SOURCE.search(name):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        target, header = m.group(1), m.group(1) + "/" + m.group(2)
                        if target not in ALLOWED or target == folder:
                            continue  # a system-style or generated include, or its own
                        seen += 1
                        if target not in ALLOWED[folder]:
                            problems.append(f"{rel}:{n}: {folder}/ includes {header}, but {folder}/ may include only "
                                            f"{', '.join(ALLOWED[folder]) or 'nothing outside itself'}")
                        elif (folder, target) in ONLY and header not in ONLY[(folder, target)]:
                            problems.append(f"{rel}:{n}: {folder}/ may include only "
                                            f"{', '.join(sorted(ONLY[(folder, target)]))} of {target}/, not {header}")
    return problems, seen


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    problems, seen = check(root)
    if seen == 0:
        print(f"check-layers: no include between folders under {root}: nothing was checked", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} wrong-way include(s) of {seen} checked")
        return 1
    print(f"check-layers: {seen} includes between folders, all in the direction of the table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
