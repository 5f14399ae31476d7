"""The model as a library (docs/MODEL_LIBRARY.md): OUT/model/ alone builds into someone else's program.

Host checks with the hand-made toy graph of test_build_host (fast, no TVM): model/ holds exactly
the model's files and stays so after make; a program in another folder that includes
model/model.mk builds and equals the int8 reference.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mbmicro.codegen.project import build_project
from mbmicro.reference.int8 import run_int8
from mbmicro.targets.target import load_target
from test_build_host import fake_lower, toy_graph

DATA = Path(__file__).resolve().parent / "data" / "model_library"


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lib") / "build"
    build_project(toy_graph(), load_target("host"), out, prefix="toy_net", force=False,
                  info={"model": "toy-net", "options": {}}, lower=fake_lower)
    return out


MODEL_FILES = {"toy_net_model.h", "toy_net_model.c", "toy_net_kernels.c", "toy_net_weights.h",
               "toy_net_weights.c", "mbmicro_hooks.h", "model.mk", "model.cmake"}


def test_model_folder_holds_only_the_model(toy):
    """model/ is the generated C, its headers and the two build fragments; the test program,
    target files and build products stay outside it, also after make."""
    assert {p.name for p in (toy / "model").iterdir()} == MODEL_FILES
    build = json.loads((toy / "build.json").read_text())
    assert {f for f in build["files"] if f.startswith("model/")} == {f"model/{n}" for n in MODEL_FILES}
    assert "mbmicro_main.c" in build["files"] and "mbmicro_hooks.c" in build["files"]
    subprocess.run(["make", "-s", "all", "trace", "profile"], cwd=toy, check=True, capture_output=True)
    assert {p.name for p in (toy / "model").iterdir()} == MODEL_FILES


def test_model_mk_builds_a_program_in_another_folder(toy, tmp_path):
    """A Makefile elsewhere includes ../build/model/model.mk and uses MODEL_SRCS/MODEL_CFLAGS
    only: the paths in the fragment are relative to its own folder, not to the includer."""
    app = tmp_path / "app"
    app.mkdir()
    rel = os.path.relpath(toy, app)  # e.g. ../../lib0/build
    assert rel.startswith("..")
    (app / "Makefile").write_text(
        f"include {rel}/model/model.mk\n"
        "run_toy: main.c $(MODEL_SRCS)\n"
        "\t$(CC) $(MODEL_CFLAGS) -Wall -Wextra -Werror -o $@ main.c $(MODEL_SRCS)\n")
    (app / "main.c").write_text((DATA / "toy_main.c").read_text())
    done = subprocess.run(["make", "-s", "CC=gcc"], cwd=app, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    graph = toy_graph()
    x = np.random.default_rng(5).integers(-128, 128, graph.input.shape, dtype=np.int8)
    run = subprocess.run([str(app / "run_toy")], input=x.tobytes(), capture_output=True, check=True)
    assert run.stdout == run_int8(graph, x).tobytes()
