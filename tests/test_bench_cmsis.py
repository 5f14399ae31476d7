"""benchmarks/cmsis_nn.py without a CMSIS-NN checkout: the committed results and the reuse path.

CI has no CMSIS-NN checkout (it is never copied into the repository), so what can be
checked here is that the committed measurement is complete and honest (every shape on
every core, both sides verified bit-exact, the pinned commit), that `make benchmarks`
re-renders it without the checkout, and that a wrong CMSIS_NN_DIR is one clear error.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_scripts import load


cmsis_nn = load("cmsis_nn")


@pytest.fixture(scope="module")
def results():
    return json.loads(cmsis_nn.RESULT_JSON.read_text())


def test_committed_results_cover_every_shape_and_core(results):
    assert results["cmsis_nn_commit"] == cmsis_nn.CMSIS_NN_COMMIT
    assert results["tflm_flags"] == cmsis_nn.TFLM_FLAGS
    got = {(r["label"], r["core"]) for r in results["rows"]}
    assert got == {(s.label, core) for s in cmsis_nn.shapes() for core in cmsis_nn.CORES}
    ks = {s.c_in for s in cmsis_nn.shapes() if s.kind == "pointwise"}
    assert ks == {8, 16, 24, 96, 192, 320}
    kernels = {(s.kernel, s.stride) for s in cmsis_nn.shapes() if s.kind == "depthwise"}
    assert kernels == {(k, s) for k in (3, 5, 7) for s in (1, 2)}
    for r in results["rows"]:
        c, m = r["cmsis_nn"], r["mbmicro"]
        assert c["verified"] and m["verified"], r["label"]
        assert r["ratio"] == pytest.approx(m["instructions"] / c["instructions"])
        assert r["cycle_ratio"] == pytest.approx(m["estimated_cycles"] / c["estimated_cycles"])
        for side in (c, m):  # the mix is the count, split by class
            assert sum(v for k, v in side["mix"].items() if k != "extra_registers") == side["instructions"]


def test_without_checkout_reuses_the_committed_results(tmp_path, monkeypatch, capsys, results):
    monkeypatch.delenv("CMSIS_NN_DIR", raising=False)
    monkeypatch.setattr(cmsis_nn, "RESULT_MD", tmp_path / "cmsis_nn.md")
    assert cmsis_nn.main([]) == 0
    text = (tmp_path / "cmsis_nn.md").read_text()
    assert "reusing" in capsys.readouterr().out
    assert text == cmsis_nn.render(results)
    assert all(r["label"] in text for r in results["rows"]) and "estimate, not a measurement" in text


def test_a_wrong_checkout_is_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CMSIS_NN_DIR", str(tmp_path))
    monkeypatch.setattr(cmsis_nn, "RESULT_MD", tmp_path / "cmsis_nn.md")
    monkeypatch.setattr(cmsis_nn, "RESULT_JSON", tmp_path / "cmsis_nn.json")
    assert cmsis_nn.main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: ") and err.count("\n") == 1
    assert "is not a CMSIS-NN checkout" in err and "CMSIS_NN_DIR" in err
    assert not (tmp_path / "cmsis_nn.md").exists() and not (tmp_path / "cmsis_nn.json").exists()


def test_case_file_layout():
    """The case file is what benchmarks/cmsis_nn_harness.c reads: header, then the arrays padded to 4."""
    shape = cmsis_nn.Shape("depthwise", 6, 18, 18, 7, 2, "test")
    graph = cmsis_nn.layer_graph(shape)
    x = np.arange(np.prod(graph.input.shape)).astype(np.int8).reshape(graph.input.shape)
    data = cmsis_nn.case_bytes(graph, x)
    header = np.frombuffer(data[:17 * 4], "<i4")
    assert list(header[:13]) == [cmsis_nn.CASE_MAGIC, cmsis_nn.OP_DEPTHWISE, 6, 6, 18, 3, 3, 18, 7, 7, 2, 2, 2]
    n_in, n_w = 6 * 6 * 18, 7 * 7 * 18
    assert len(data) == 17 * 4 + n_in + (-n_in % 4) + n_w + (-n_w % 4) + 3 * 4 * 18
    shift = np.frombuffer(data[-4 * 18:], "<i4")
    assert list(shift) == list(31 - graph.nodes[0].params["shift"])  # TFLite's exponent


def test_stem_shapes_are_measured_with_arm_convolve_s8(results):
    stems = [r for r in results["rows"] if r["kind"] == "stem"]
    assert {r["shape"]["c_out"] for r in stems} == {8, 16, 32} and len(stems) == 3 * len(cmsis_nn.CORES)
    assert all(r["cmsis_nn"]["function"] == "arm_convolve_s8" for r in stems)
    assert all(r["macs"] == cmsis_nn.shape_macs(cmsis_nn.Shape(**r["shape"])) for r in stems)


def test_kinds_merge_keeps_the_other_committed_rows(results):
    """--kinds stem re-measures the stems only: the other rows come from the committed file, in order."""
    new = [dict(r, ratio=0.5) for r in results["rows"] if r["kind"] == "stem"]
    data = dict(results, rows=new)
    merged = cmsis_nn.merged(data, ("stem",))
    assert [(r["label"], r["core"]) for r in merged["rows"]] == [(r["label"], r["core"]) for r in results["rows"]]
    assert [r for r in merged["rows"] if r["kind"] != "stem"] == [r for r in results["rows"] if r["kind"] != "stem"]
    assert all(r["ratio"] == 0.5 for r in merged["rows"] if r["kind"] == "stem")


def test_unknown_kind_is_one_line_error(monkeypatch, capsys):
    monkeypatch.setenv("CMSIS_NN_DIR", "/nonexistent")
    assert cmsis_nn.main(["--kinds", "stem,conv3d"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mbmicro: error: ") and err.count("\n") == 1 and "conv3d" in err
