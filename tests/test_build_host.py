"""Host builds: generated projects compile with -Werror, run, and equal the int8 reference.

Two layers of evidence:
* a hand-built graph lowered with small hand-written C kernels (below) checks
  the AOT emitter, the planner's in-place reuse, the caller-buffer rules and
  the trace path independently of the real kernel generator;
* every Table A model at width 0.35 / 96 px is built with the real kernels and
  verified bit for bit; one runs under ASan/UBSan; two builds are identical.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main
from mbmicro.codegen.kernel_types import KernelArg, NodeKernel
from mbmicro.codegen.project import build_project
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.graph.serialize import load_graph
from mbmicro.reference.arith import add_multipliers
from mbmicro.reference.int8 import run_int8
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.sim.execute import run_build
from mbmicro.models.specs import MODEL_NAMES
from mbmicro.targets.target import load_target

LUT_C = """#include <stdint.h>
void test_lut(const int8_t *x, int8_t *y, const int8_t *table, int32_t n) {
    for (int32_t i = 0; i < n; ++i) y[i] = table[x[i] + 128];
}
"""

ADD_C = """#include <stdint.h>
void test_add(const int8_t *a, const int8_t *b, int8_t *y, const int32_t *m, const int32_t *s,
              int32_t za, int32_t zb, int32_t zy, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        int64_t sum = (int64_t)(a[i] - za) * m[0] + (int64_t)(b[i] - zb) * m[1];
        int64_t v = ((sum + ((int64_t)1 << (s[0] - 1))) >> s[0]) + zy;
        y[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
    }
}
"""


def fake_lower(graph, node, target, knobs=None):
    """Plain C for lut/add on flat buffers: enough to build hand-made graphs."""
    t = graph.tensors
    n = t[node.outputs[0]].size
    if node.op == "lut":
        args = [KernelArg("input", "x", "const int8_t *", node.inputs[0]),
                KernelArg("output", "y", "int8_t *", node.outputs[0]),
                KernelArg("const", "table", "const int8_t *", node.params["table"]),
                KernelArg("int", "n", "int32_t", n)]
        return NodeKernel(node.name, "test_lut", LUT_C, args, {}, 0)
    assert node.op == "add"
    a, b = node.inputs
    args = [KernelArg("input", "a", "const int8_t *", a), KernelArg("input", "b", "const int8_t *", b),
            KernelArg("output", "y", "int8_t *", node.outputs[0]),
            KernelArg("const", "m", "const int32_t *", node.params["multiplier"]),
            KernelArg("const", "s", "const int32_t *", node.params["shift"]),
            KernelArg("int", "za", "int32_t", t[a].zero_point), KernelArg("int", "zb", "int32_t", t[b].zero_point),
            KernelArg("int", "zy", "int32_t", t[node.outputs[0]].zero_point), KernelArg("int", "n", "int32_t", n)]
    return NodeKernel(node.name, "test_add", ADD_C, args, {}, 0)


def toy_graph(seed: int = 0) -> Graph:
    """lut/add chain: a residual reads the graph input late, `a` lives long, adds/luts go in place."""
    rng = np.random.default_rng(seed)
    shape = (1, 5, 3, 8)
    names = ["x", "a", "b", "c", "d", "e", "y"]
    tensors = {n: Tensor(n, shape, "int8", float(rng.uniform(0.01, 0.1)), int(rng.integers(-20, 20)))
               for n in names}

    def lut(name, x, y):
        return Node(name, "lut", [x], [y], {"func": "test"},
                    {"table": rng.integers(-128, 128, 256).astype(np.int8)})

    def add(name, a, b, y):
        m, s = add_multipliers(*(tensors[v].scale for v in (a, b, y)))
        return Node(name, "add", [a, b], [y], {"act": "none", "act_min": -128, "act_max": 127},
                    {"multiplier": m, "shift": s})

    nodes = [lut("n0", "x", "a"), lut("n1", "a", "b"), add("n2", "b", "x", "c"), lut("n3", "c", "d"),
             add("n4", "d", "a", "e"), lut("n5", "e", "y")]
    g = Graph("toy-net", tensors, nodes, ["x"], ["y"])
    g.validate()
    return g


@pytest.fixture(scope="module")
def toy_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("toy") / "build"
    info = {"model": "toy-net", "options": {}}
    rep = build_project(toy_graph(), load_target("host"), out, prefix="toy_net", force=False, info=info,
                        lower=fake_lower)
    return out, rep


def test_toy_build_is_bit_exact_and_in_place(toy_build):
    out, rep = toy_build
    graph = toy_graph()
    x = np.random.default_rng(1).integers(-128, 128, graph.input.shape, dtype=np.int8)
    y, _ = run_build(load_build_folder(out), x)
    assert np.array_equal(y, run_int8(graph, x))
    model_c = (out / "model" / "toy_net_model.c").read_text()
    assert "test_lut(input," in model_c and "output, toy_net_w_" in model_c  # caller buffers used directly
    residual = re.search(r"toy_net_test_add\((arena \+ \d+), input, (arena \+ \d+),", model_c)
    assert residual and residual[1] == residual[2]  # reads the caller's input late, writes in place
    assert rep["arena_bytes"] == rep["arena_lower_bound"] == 2 * 128  # a and one chain buffer, 16-aligned
    assert rep["unique_kernels"] == 2 and rep["code_bytes_method"].startswith("measured")


def test_toy_trace_names_every_layer(toy_build):
    out, _ = toy_build
    graph = toy_graph()
    x = np.zeros(graph.input.shape, np.int8)
    _, records = run_build(load_build_folder(out), x, trace=True)
    ref = run_int8(graph, x, collect=True)
    assert [i for i, _ in records] == list(range(len(graph.nodes)))
    for (i, data), node in zip(records, graph.nodes):
        assert data == ref[node.outputs[0]].tobytes(), node.name


def test_toy_verify_reports_first_bad_layer(toy_build, tmp_path, capsys):
    out, _ = toy_build
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "verified 2/2 inputs bit-exact (toy-net, host)" in capsys.readouterr().out
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(out), str(broken)], check=True)
    kernels = broken / "model" / "toy_net_kernels.c"
    kernels.write_text(kernels.read_text().replace("+ zy;", "+ zy + (i == 7) * (zy < 0 ? 1 : -1);"))
    assert main(["verify", str(broken), "--count", "1"]) == 1
    text = capsys.readouterr().out
    assert "first mismatching layer 2 n2 (add): 1 of 120 bytes differ" in text


# ---- Table A models with the real kernels ------------------------------------------------------------

SMALL = ["--width", "0.35", "--resolution", "96", "--classes", "10"]


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """model -> build folder made with the CLI, at most once per test session (per worker)."""
    cache: dict[str, Path] = {}

    def get(model: str) -> Path:
        if model not in cache:
            out = tmp_path_factory.mktemp("table_a") / model
            assert main(["build", "--model", model, *SMALL, "-o", str(out)]) == 0
            cache[model] = out
        return cache[model]

    return get


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_table_a_model_is_bit_exact_on_host(built, model, capsys):
    out = built(model)
    assert main(["verify", str(out), "--count", "1", "--seed", "7"]) == 0
    assert f"verified 1/1 inputs bit-exact ({model}, host)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    # planner regression guard (test_planner.py: every model plans at its lower bound at this size)
    assert report["arena_bytes"] == report["arena_lower_bound"]
    assert report["code_bytes_method"].startswith("measured") and report["code_bytes"] > 0
    assert report["weights_bytes"] >= report["params"]  # int8 weights + int32 bias/requant params


def test_sanitizers_run_clean(built):
    out = built("mobilenetv2")
    done = subprocess.run(["make", "-s", "sanitize"], cwd=out, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    x = np.random.default_rng(3).integers(-128, 128, (1, 96, 96, 3), dtype=np.int8)
    (out / "x.bin").write_bytes(x.tobytes())
    run = subprocess.run(["./app_sanitize", "x.bin", "y.bin"], cwd=out, capture_output=True, text=True)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    graph = load_graph(out)
    assert (out / "y.bin").read_bytes() == run_int8(graph, x).tobytes()


def test_two_builds_are_identical(built, tmp_path):
    from mbmicro.codegen.kernels import clear_cache

    first = built("mobilenetv2")
    clear_cache()  # regenerate every kernel, not just reuse this process's cache
    second = tmp_path / "again"
    assert main(["build", "--model", "mobilenetv2", *SMALL, "-o", str(second)]) == 0
    files = json.loads((second / "build.json").read_text())["files"]
    assert json.loads((first / "build.json").read_text())["files"] == files
    for name in files:  # report.json and report.md included: the build time is not in them
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
