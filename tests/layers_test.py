#!/usr/bin/env python3
"""scripts/check-layers.py on made-up trees: a wrong-way include fails it, naming the file and
line; the right way passes; a tree with nothing to check is an error, never a pass."""
import importlib.util
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "scripts", "check-layers.py")
spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layers)


def tree(files):
    root = tempfile.mkdtemp(prefix="asiarch-layers-")
    for folder in layers.ALLOWED:
        os.makedirs(os.path.join(root, folder))
    for path, text in files.items():
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    return root


def run(root):
    p = subprocess.run([sys.executable, SCRIPT, root], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


class Layers(unittest.TestCase):
    def test_a_wrong_way_include_fails_naming_file_and_line(self):
        root = tree({"results/report.cpp": '#include "archive/archive.h"\n\n#include "engine/discovery.h"\n'})
        code, out = run(root)
        self.assertEqual(code, 1, out)
        self.assertIn("results/report.cpp:3: results/ includes engine/discovery.h", out)
        self.assertIn("1 wrong-way include(s) of 2 checked", out)

    def test_a_header_outside_the_allowed_few_fails(self):
        root = tree({"serve/api.cpp": '#include "engine/loop_control.h"\n#include "engine/discovery.h"\n'})
        code, out = run(root)
        self.assertEqual(code, 1, out)
        self.assertIn("serve/api.cpp:2: serve/ may include only engine/events.h, engine/loop_control.h", out)
        self.assertNotIn("serve/api.cpp:1", out)

    def test_includes_in_the_direction_of_the_table_pass(self):
        root = tree({"engine/loop.cpp": '#include "results/report.h"\n#include "worker/job.h"\n',
                     "cli/main.cpp": '#include "engine/loop.h"\n#include <vector>\n'})
        code, out = run(root)
        self.assertEqual(code, 0, out)
        self.assertIn("3 includes between folders", out)

    def test_nothing_to_check_is_an_error(self):
        code, out = run(tree({}))
        self.assertEqual(code, 2, out)

    def test_the_table_has_no_cycle(self):
        # Each folder names only folders listed before it: the order is the layering.
        order = list(layers.ALLOWED)
        self.assertGreater(len(order), 10)
        for folder, deps in layers.ALLOWED.items():
            for d in deps:
                self.assertLess(order.index(d), order.index(folder), f"{folder} -> {d}")


if __name__ == "__main__":
    unittest.main()
