"""Accuracy of the int8 model and of its QDQ ONNX export; writes results/accuracy.md.

Two questions, per model at width 0.35 / 96 px and at 1.0 / 224 px:

* int8 vs float: cosine similarity of the logits of the int8 reference
  (dequantized) and the float reference on seeded random images.  The
  models have random weights, so this measures quantization error, not
  ImageNet accuracy.
* QDQ export vs int8 reference: onnxruntime with graph optimizations off
  (the exact float path, ``mbmicro.onnx_oracle``) on the int8-I/O QDQ
  export against ``reference.run_int8`` on the same int8 input: share of
  exactly equal logits and the largest difference in LSB.  Single ops agree
  within 1 LSB (tests/test_onnx_qdq.py); whole models may drift further
  because onnxruntime rounds ties to even and in float, and a one-LSB
  difference early in a random-weight network is amplified.
* For information only: the same with onnxruntime's default (fusing)
  session, whose int8 kernels depend on this machine's CPU (on AVX2 without
  AVX-512 VNNI its u8s8 GEMM saturates int16 pair sums).

Also, at 0.35 / 96: the per-op agreement (every node as a one-node QDQ
model fed the reference's input), which is what the tests bound; and for
MobileNetV2 at 1.0 / 224 a drift trace: the QDQ export cut after node k
(same fusions up to k) against the reference's tensor k, which shows where
the first differing element appears and how it spreads.

Usage: ``python benchmarks/accuracy.py [--images N] [--models a,b]``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from mbmicro.reference.float32 import run_float
from mbmicro import progress
from mbmicro.graph.ir import Graph
from mbmicro.formats.onnx_float import node_graph
from mbmicro.formats.onnx_oracle import session
from mbmicro.formats.onnx_qdq import export_qdq
from mbmicro.pipeline import dequantize_output, make_model, quantize_input, random_input
from mbmicro.reference.int8 import run_int8, run_node
from mbmicro.models.specs import MODEL_NAMES

RESULT = Path(__file__).resolve().parent / "results" / "accuracy.md"
SETTINGS = [(0.35, 96), (1.0, 224)]


def cpu_features() -> str:
    """The x86 features that decide onnxruntime's fused int8 GEMM (for the report)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return "unknown CPU"
    have = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return ", ".join(have) or "no AVX2"


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def measure_model(name: str, width: float, resolution: int, images: int) -> dict:
    """Cosine int8-vs-float and QDQ-vs-reference agreement over seeded images."""
    float_graph, graph = make_model(name, width, resolution, 1000, seed=0)
    model = export_qdq(graph, io="int8")
    sessions = {"exact": session(model), "fused": session(model, fused=True)}
    cosines = []
    agree = {kind: [0, 0, 0] for kind in sessions}  # equal, total, max LSB
    for seed in range(1, images + 1):
        x = random_input(float_graph, seed)
        xq = quantize_input(graph, x)
        ref = run_int8(graph, xq)
        cosines.append(cosine(run_float(float_graph, x), dequantize_output(graph, ref)))
        for kind, sess in sessions.items():
            got = sess.run(None, {"input": xq})[0].reshape(ref.shape)
            diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
            a = agree[kind]
            a[0], a[1], a[2] = a[0] + int((diff == 0).sum()), a[1] + diff.size, max(a[2], int(diff.max()))
    return {"cos_mean": float(np.mean(cosines)), "cos_min": float(np.min(cosines)),
            "equal": agree["exact"][0] / agree["exact"][1], "max_lsb": agree["exact"][2],
            "fused_equal": agree["fused"][0] / agree["fused"][1], "fused_max_lsb": agree["fused"][2]}


def per_op(names: list[str]) -> dict[str, list[int]]:
    """op -> [equal, total, max LSB] over every node of every model at 0.35 / 96."""
    stats: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0])
    for name in names:
        _, graph = make_model(name, 0.35, 96, 1000, seed=0)
        values = run_int8(graph, quantize_input(graph, random_input(graph, 1)), collect=True)
        for node in graph.nodes:
            sub = node_graph(graph, node)
            sess = session(export_qdq(sub, io="int8"))
            want = run_node(graph, node, [values[t] for t in node.inputs])
            got = sess.run(None, {i.name: values[t] for i, t in zip(sess.get_inputs(), sub.inputs)})[0]
            diff = np.abs(got.reshape(want.shape).astype(np.int32) - want.astype(np.int32))
            s = stats[node.op]
            s[0], s[1], s[2] = s[0] + int((diff == 0).sum()), s[1] + diff.size, max(s[2], int(diff.max()))
    return stats


def drift_trace(name: str, width: float, resolution: int) -> list[tuple]:
    """(k, node, op, differing elements, elements, max LSB) for prefixes of the model."""
    _, graph = make_model(name, width, resolution, 1000, seed=0)
    xq = quantize_input(graph, random_input(graph, 1))
    values = run_int8(graph, xq, collect=True)
    n = len(graph.nodes)
    rows = []
    for k in sorted(set(list(range(1, 13)) + list(range(12, n, max(1, n // 8))) + [n])):
        node = graph.nodes[k - 1]
        prefix = Graph(graph.name, graph.tensors, graph.nodes[:k], list(graph.inputs), [node.outputs[0]])
        want = values[node.outputs[0]]
        got = session(export_qdq(prefix, io="int8")).run(None, {"input": xq})[0].reshape(want.shape)
        diff = np.abs(got.astype(np.int32) - want.astype(np.int32))
        rows.append((k, node.name, node.op, int((diff != 0).sum()), diff.size, int(diff.max())))
    return rows


def render(rows: dict, ops: dict, images: int, trace: list[tuple]) -> str:
    out = ["## accuracy\n",
           f"Written by `benchmarks/accuracy.py`; {images} seeded random images per model "
           f"(uniform [-1, 1]), random-calibrated weights, onnxruntime {ort.__version__}. "
           "Cosine: int8 reference (dequantized) vs float reference logits. "
           "QDQ: the int8 QDQ ONNX export in onnxruntime with graph optimizations off (the exact float "
           "path, the tests' oracle) vs the int8 reference, on the logits. Fused: the same export in "
           "onnxruntime's default session, which runs its own int8 kernels; their results depend on the "
           f"CPU (this run: {cpu_features()}), so they are reported here and asserted nowhere.\n"]
    for width, res in SETTINGS:
        out += [f"\n### width {width:g}, resolution {res}\n",
                "| model | cosine mean | cosine min | QDQ equal | QDQ max diff (LSB) "
                "| fused equal | fused max diff (LSB) |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for name in rows:
            r = rows[name].get((width, res))
            if r is not None:
                out.append(f"| {name} | {r['cos_mean']:.4f} | {r['cos_min']:.4f} | {100 * r['equal']:.1f}% "
                           f"| {r['max_lsb']} | {100 * r['fused_equal']:.1f}% | {r['fused_max_lsb']} |")
    if ops:
        out += ["\n### per op, width 0.35, resolution 96 (one-node QDQ models, all nodes of all models)\n",
                "| op | outputs | exactly equal | max diff (LSB) |", "|---|---:|---:|---:|"]
        for op, (equal, total, worst) in sorted(ops.items()):
            out.append(f"| {op} | {total:,} | {100 * equal / total:.4f}% | {worst} |")
    if trace:
        out += ["\n### drift trace, mobilenetv2 width 1, resolution 224 (QDQ export cut after node k)\n",
                "| k | node | op | differing | of | max diff (LSB) |", "|---:|---|---|---:|---:|---:|"]
        out += [f"| {k} | {node} | {op} | {bad:,} | {size:,} | {worst} |" for k, node, op, bad, size, worst in trace]
    out.append("\nSingle ops stay within 1 LSB of the exact path (ties: the reference rounds half up in "
               "integers, onnxruntime half to even in float). Whole-model differences are those single-LSB "
               "differences amplified through the random-weight network.\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4, help="random images per model (default 4)")
    ap.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated model names (default all)")
    args = ap.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    rows: dict[str, dict] = {name: {} for name in names}
    for width, res in SETTINGS:
        for name in progress.track(names, desc=f"accuracy {width:g}/{res}", unit="model"):
            t0 = time.perf_counter()
            r = rows[name][(width, res)] = measure_model(name, width, res, args.images)
            print(f"{name} {width:g}/{res}: cos {r['cos_mean']:.4f}, QDQ equal {100 * r['equal']:.1f}%, "
                  f"max {r['max_lsb']} LSB (fused: {100 * r['fused_equal']:.1f}%, max {r['fused_max_lsb']}) "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)
    ops = per_op(names)
    trace = drift_trace("mobilenetv2", 1.0, 224) if "mobilenetv2" in names else []
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(render(rows, ops, args.images, trace))
    print(f"wrote {RESULT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
