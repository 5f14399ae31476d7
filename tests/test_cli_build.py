"""build / run / verify at the command line: every user mistake is one line, exit 2, no DIR left.

Mistakes are caught before the model is built, so these tests are fast.  The
`run` tests use a one-layer build made with a hand-written LUT kernel, so they
check the command (quantization, shapes, --dequantize) and not the kernels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main
from mbmicro.codegen.kernel_types import KernelArg, NodeKernel
from mbmicro.codegen.project import build_project
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.reference.arith import dequantize, quantize
from mbmicro.targets.target import load_target

LUT_C = """#include <stdint.h>
void one_lut(const int8_t *x, int8_t *y, const int8_t *table, int32_t n) {
    for (int32_t i = 0; i < n; ++i) y[i] = table[x[i] + 128];
}
"""
TABLE = np.roll(np.arange(-128, 128), 3).astype(np.int8)


def _lut_graph() -> Graph:
    t = {"x": Tensor("x", (1, 4, 4, 3), "int8", 1 / 64, 5), "y": Tensor("y", (1, 4, 4, 3), "int8", 0.5, -2)}
    return Graph("one-lut", t, [Node("lut", "lut", ["x"], ["y"], {"func": "x"}, {"table": TABLE})], ["x"], ["y"])


def _lower(graph, node, target, knobs=None):
    args = [KernelArg("input", "x", "const int8_t *", "x"), KernelArg("output", "y", "int8_t *", "y"),
            KernelArg("const", "table", "const int8_t *", node.params["table"]), KernelArg("int", "n", "int32_t", 48)]
    return NodeKernel(node.name, "one_lut", LUT_C, args, {}, 0)


def _build(out: Path, force: bool = False, lower=_lower) -> dict:
    return build_project(_lut_graph(), load_target("host"), out, prefix="one", force=force,
                         info={"model": "one-lut", "options": {}}, lower=lower)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: ") and err.count("\n") == 1, err
    return err


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_unknown_target(tmp_path, capsys):
    code = main(["build", "--model", "mobilenetv2", "--target", "no-such-core", "-o", str(tmp_path / "b")])
    assert code == 2 and "unknown target 'no-such-core'" in _one_line_error(capsys)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["/proc/mbmicro-build", "/proc/self/mbmicro/nested"])
def test_unwritable_dir(where, capsys):
    assert main(["build", "--model", "mobilenetv2", "-o", where]) == 2
    assert "cannot write" in _one_line_error(capsys)
    assert not Path(where).exists()


def test_existing_dir_needs_force_and_must_be_a_build(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["build", "--model", "mobilenetv2", "-o", str(mine)]) == 2
    assert "pass --force" in _one_line_error(capsys)
    assert main(["build", "--model", "mobilenetv2", "-o", str(mine), "--force"]) == 2
    assert "not an mbmicro build" in _one_line_error(capsys)
    assert _leftovers(mine) == ["notes.txt"] and _leftovers(tmp_path) == ["mine"]


def test_bad_prefix_and_model_fail_before_building(tmp_path, capsys):
    assert main(["build", "--model", "mobilenetv2", "--prefix", "9lives", "-o", str(tmp_path / "b")]) == 2
    assert "not a C identifier" in _one_line_error(capsys)
    assert main(["build", "--model", "resnet50", "-o", str(tmp_path / "b")]) == 2
    _one_line_error(capsys)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("command", ["run", "verify"])
def test_run_and_verify_refuse_a_folder_that_is_not_a_build(tmp_path, command, capsys):
    extra = ["--input", "x.npy", "--output", "y.npy"] if command == "run" else []
    assert main([command, str(tmp_path), *extra]) == 2
    assert "is not an mbmicro build" in _one_line_error(capsys)
    assert main([command, str(tmp_path / "missing"), *extra]) == 2
    assert "does not exist" in _one_line_error(capsys)
    assert _leftovers(tmp_path) == []


def test_failed_build_leaves_nothing_and_force_replaces_a_build(tmp_path):
    out = tmp_path / "deep" / "er" / "b"

    def broken(*args, **kwargs):
        raise RuntimeError("kernel generator failed")

    with pytest.raises(RuntimeError):
        _build(out, lower=broken)
    assert _leftovers(tmp_path) == []  # created parents are removed again
    _build(out)
    (out / "stale.txt").write_text("from the old build")
    _build(out, force=True)
    assert not (out / "stale.txt").exists() and (out / "model" / "one_model.c").is_file()
    assert _leftovers(out.parent) == ["b"]  # no temporary or old folders left


@pytest.fixture(scope="module")
def lut_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "one"
    _build(out)
    return out


def test_run_quantizes_float_input_and_dequantizes(lut_build, tmp_path, capsys):
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, (4, 4, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", image)
    assert main(["run", str(lut_build), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 0
    want = TABLE[quantize(image, 1 / 64, 5).astype(np.int16) + 128].reshape(1, 4, 4, 3)
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)
    q = rng.integers(-128, 128, (1, 4, 4, 3), dtype=np.int8)
    np.save(tmp_path / "q.npy", q)
    assert main(["run", str(lut_build), "--input", str(tmp_path / "q.npy"), "--output", str(tmp_path / "f.npy"),
                 "--dequantize"]) == 0
    got = np.load(tmp_path / "f.npy")
    assert got.dtype == np.float32
    assert np.array_equal(got, dequantize(TABLE[q.astype(np.int16) + 128], 0.5, -2))
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("bad", [np.zeros((1, 5, 4, 3), np.float32), np.zeros((4, 4, 3), np.int32),
                                 np.full((4, 4, 3), np.nan, np.float32)])
def test_run_rejects_wrong_input(lut_build, tmp_path, bad, capsys):
    np.save(tmp_path / "x.npy", bad)
    assert main(["run", str(lut_build), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")]) == 2
    _one_line_error(capsys)
    assert not (tmp_path / "y.npy").exists()


def test_build_json_describes_the_build(lut_build):
    build = json.loads((lut_build / "build.json").read_text())
    assert build["format"] == "mbmicro-build/1" and build["prefix"] == "one"
    assert build["input"] == {"tensor": "x", "shape": [1, 4, 4, 3], "scale": 1 / 64, "zero_point": 5}
    present = {str(p.relative_to(lut_build)) for p in lut_build.rglob("*") if p.is_file()}
    products = {p for p in present if p.endswith(".o") or p.startswith("app")}
    assert set(build["files"]) == present - products
