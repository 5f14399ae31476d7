"""The float model exported to ONNX, run with onnxruntime, against float_ref.

Why per layer and end to end, both within 1e-4 absolute: each layer of the
export fed float_ref's own input of that layer pins down layout, padding,
groups and activations exactly, and names the layer that is wrong; the
whole model then checks the wiring between layers.  End to end the two
float32 implementations drift apart by summation order, which stays far
below 1e-4 while the logits are O(10) (they are, with the builder's
normalized weights); logits near 10^3 would break any absolute 1e-4 bound,
since one float32 ulp there is already 1.2e-4.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import onnx
import pytest

from mbmicro.reference.float32 import run_float, run_node
from mbmicro.graph.ir import Graph, Node
from mbmicro.formats.onnx_float import export_float, node_graph
from mbmicro.formats.onnx_oracle import session  # unfused: no CPU-specific kernel choice
from mbmicro.models.specs import MODEL_NAMES

LAYER_TOL = END_TO_END_TOL = 1e-4


def per_layer_max_err(graph: Graph, values: dict[str, np.ndarray]) -> tuple[float, str]:
    """Worst |onnxruntime - float_ref| over one-node exports of every node."""
    worst = (0.0, "")
    for node in graph.nodes:
        sub = node_graph(graph, node)
        sess = session(export_float(sub))
        got = sess.run(None, {i.name: values[t] for i, t in zip(sess.get_inputs(), sub.inputs)})[0]
        want = values[node.outputs[0]]
        err = float(np.abs(got.reshape(want.shape) - want).max())
        worst = max(worst, (err, node.name))
    return worst


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_float_export_matches_float_ref(name):
    from mbmicro.models.builder import build_float_graph
    from mbmicro.pipeline import random_input
    graph = build_float_graph(name, 0.35, 96, 1000, seed=0)
    x = random_input(graph, 1)
    values = run_float(graph, x, collect=True)
    err, where = per_layer_max_err(graph, values)
    assert err <= LAYER_TOL, f"{name} layer {where}: max abs err {err:.3g}"
    got = session(export_float(graph)).run(None, {"input": x})[0]
    want = values[graph.outputs[0]].reshape(got.shape)
    e2e = float(np.abs(got - want).max())
    peak = float(np.abs(want).max())
    print(f"{name}: per-layer max abs err {err:.2g}; end to end {e2e:.3g} (logits up to {peak:.4g})")
    assert e2e <= END_TO_END_TOL, f"{name}: end-to-end max abs err {e2e:.3g} (logits up to {peak:.4g})"


def dequantized_graph(int8_graph: Graph) -> Graph:
    """A float graph with the int8 graph's topology and dequantized weights.

    Why: the hand-built int8 graph of test_onnx_qdq covers ops and attribute
    combinations (grouped conv, ReLU on add, every activation) that the
    real models may lack; this gives the same coverage to the float export.
    """
    tensors = {k: dataclasses.replace(t, dtype="float32", scale=None, zero_point=None)
               for k, t in int8_graph.tensors.items()}
    nodes = []
    for n in int8_graph.nodes:
        attrs = {k: v for k, v in n.attrs.items() if k not in ("act_min", "act_max")}
        op, params = n.op, {}
        if "weight" in n.params:
            sw = n.params["weight_scale"].astype(np.float32)
            w = n.params["weight"].astype(np.float32)
            w = w * sw if op == "depthwise" else w * sw.reshape((-1,) + (1,) * (w.ndim - 1))
            sx = np.float32(int8_graph.tensors[n.inputs[0]].scale)
            params = {"weight": w, "bias": n.params["bias"].astype(np.float32) * sx * sw}
        if op == "lut":
            op = "act"
        nodes.append(Node(n.name, op, list(n.inputs), list(n.outputs), attrs, params))
    return Graph("hand_float", tensors, nodes, list(int8_graph.inputs), list(int8_graph.outputs))


def hand_float_graph() -> Graph:
    # The hand-built graph lives in test_onnx_qdq (tests/ is on sys.path under pytest).
    from test_onnx_qdq import hand_int8_graph
    return dequantized_graph(hand_int8_graph(seed=3))


def test_hand_graph_every_op_and_activation():
    graph = hand_float_graph()
    funcs = {n.attrs["func"] for n in graph.nodes if n.op == "act"}
    assert funcs == {"hswish", "swish", "sigmoid", "hsigmoid", "relu", "relu6"}
    x = np.random.default_rng(0).uniform(-1, 1, size=graph.input.shape).astype(np.float32)
    values = run_float(graph, x, collect=True)
    err, where = per_layer_max_err(graph, values)
    assert err <= LAYER_TOL, f"layer {where}: max abs err {err:.3g}"
    got = session(export_float(graph)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, values[graph.outputs[0]].reshape(got.shape), atol=END_TO_END_TOL, rtol=0)


def test_layout_and_padding():
    """NHWC input then a Transpose; asymmetric SAME pads; (1, classes) output."""
    graph = hand_float_graph()
    model = export_float(graph)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "input" and [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 15, 15, 3]
    assert out.name == "output" and [d.dim_value for d in out.type.tensor_type.shape.dim] == [1, 10]
    first = model.graph.node[0]
    assert first.op_type == "Transpose" and list(first.attribute[0].ints) == [0, 3, 1, 2]
    convs = {n.name: n for n in model.graph.node if n.op_type == "Conv"}
    attrs = {a.name: a for a in convs["dw5/Conv"].attribute}
    assert list(attrs["pads"].ints) == list(graph.node("dw5").attrs["pad"])
    assert attrs["group"].i == graph.tensors["dw5:0"].shape[3]
    assert {a.name: a for a in convs["gconv/Conv"].attribute}["group"].i == 2
    assert any(n.op_type == "Pad" for n in model.graph.node)  # the partial residual


def test_output_matches_single_node_reference():
    """A one-node graph with a non-(1,1,1,N) output comes back as NHWC."""
    graph = hand_float_graph()
    node = graph.node("stem")
    sub = node_graph(graph, node)
    x = np.random.default_rng(1).normal(size=graph.input.shape).astype(np.float32)
    got = session(export_float(sub)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, run_node(node, [x]), atol=LAYER_TOL, rtol=0)


def test_float_export_is_deterministic():
    assert export_float(hand_float_graph()).SerializeToString() == export_float(hand_float_graph()).SerializeToString()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbmicro", "export-onnx", *args], capture_output=True, text=True)


def test_cli_writes_valid_model(tmp_path):
    out = tmp_path / "m.onnx"
    proc = _cli("mixnet-m", "-o", str(out), "--width", "0.35", "--resolution", "96", "--classes", "7")
    assert proc.returncode == 0, proc.stderr
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert not any(n.op_type == "QuantizeLinear" for n in model.graph.node)
    assert session(model).run(None, {"input": np.zeros((1, 96, 96, 3), np.float32)})[0].shape == (1, 7)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left behind


@pytest.mark.parametrize("args, needle", [
    (["no-such-net", "-o", "{tmp}/m.onnx"], "unknown model"),
    (["mobilenetv2", "-o", "{tmp}/missing/m.onnx"], "does not exist"),
    (["mobilenetv2", "-o", "{tmp}"], "is a directory"),
    (["mobilenetv2", "-o", "{tmp}/m.onnx", "--width", "0"], "width"),
    (["mobilenetv2", "-o", "{tmp}/m.onnx", "--calibration", "{tmp}/c.npy"], "--int8"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, args, needle):
    proc = _cli(*[a.format(tmp=tmp_path) for a in args])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mbmicro: error:") and needle in lines[0], proc.stderr
    assert not (tmp_path / "m.onnx").exists()
