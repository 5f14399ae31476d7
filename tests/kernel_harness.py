"""Test helper: build tiny int8 graphs, lower their nodes, compile a batch of
generated kernels into one shared object and call them through ctypes.

Why one .so per batch: gcc start-up dominates for small kernels, so the
per-family tests lower a few hundred random shapes, compile them in one go
with the project's strict flags, and compare every output with
mbmicro.reference.int8 bit for bit.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile

import numpy as np

from mbmicro.codegen import microkernels
from mbmicro.codegen.kernels import NodeKernel, lower_node
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.reference.arith import quantize_multiplier

CFLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
HOST = "host"


def covering_sample(items: list, keys: list, every: int) -> list:
    """The items a second, similar core runs: the first item of each key (one of every variant
    the full list has: kernel size, stride, requantization form, tile...) and every ``every``-th
    item besides, in list order.  Why: a seeded list of a few hundred cases costs one TVM
    lowering and one -O3 compile per case on each core; the first core runs them all, the
    second needs every code path, not every random size again."""
    seen: set = set()
    keep = []
    for i, (item, key) in enumerate(zip(items, keys, strict=True)):
        if key not in seen or i % every == 0:
            keep.append(item)
        seen.add(key)
    return keep


def tensor(name: str, shape, zp: int, scale: float = 0.05) -> Tensor:
    return Tensor(name, tuple(int(s) for s in shape), "int8", scale, int(zp))


def single_node_graph(op: str, inputs: list[Tensor], output: Tensor, *, attrs=None,
                      params=None, name: str = "n0") -> tuple[Graph, Node]:
    """A one-node int8 graph (extra inputs such as the SE gate are graph inputs too)."""
    tensors = {t.name: t for t in inputs + [output]}
    node = Node(name, op, [t.name for t in inputs], [output.name], dict(attrs or {}), dict(params or {}))
    graph = Graph("g_" + name, tensors, [node], [t.name for t in inputs], [output.name])
    return graph, node


def random_requant(rng: np.random.Generator, n: int, lo: float = 1e-4, hi: float = 0.05):
    """Per-channel (multiplier, shift) int32 arrays from random real scales."""
    reals = np.exp(rng.uniform(np.log(lo), np.log(hi), size=n))
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def random_int8(rng: np.random.Generator, shape, lo: int = -128, hi: int = 127) -> np.ndarray:
    return rng.integers(lo, hi + 1, size=shape, dtype=np.int64).astype(np.int8)


def random_act(rng: np.random.Generator, y_zp: int) -> tuple[int, int]:
    """No clamp, ReLU-like, or a narrow ReLU6-like window (exercises saturation)."""
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return -128, 127
    if kind == 1:
        return y_zp, 127
    return y_zp, min(127, y_zp + int(rng.integers(1, 100)))


class Batch:
    """Lower many (graph, node) cases, compile them into one .so, run them."""

    def __init__(self, target=HOST):
        self.target = target
        self.cases: list[tuple[Graph, NodeKernel, dict]] = []
        self.sources: dict[str, str] = {}
        self._lib = None
        self._tmp = tempfile.TemporaryDirectory(prefix="mbk_")

    def add(self, graph: Graph, node: Node, feeds: dict[str, np.ndarray], knobs=None) -> NodeKernel:
        kernel = lower_node(graph, node, self.target, knobs)
        known = self.sources.setdefault(kernel.function, kernel.source)
        assert known == kernel.source, f"{kernel.function}: same name, different source"
        self.cases.append((graph, kernel, feeds))
        return kernel

    def compile(self) -> ctypes.CDLL:
        src = os.path.join(self._tmp.name, "kernels.c")
        with open(src, "w") as f:
            f.write("\n".join(self.sources[name] for name in sorted(self.sources)))
        lib = os.path.join(self._tmp.name, "kernels.so")
        cmd = ["gcc", *CFLAGS, "-I", str(microkernels.folder()), src, "-o", lib]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            raise AssertionError("gcc failed:\n" + res.stderr[:4000])
        self._lib = ctypes.CDLL(lib)
        return self._lib

    def run(self, index: int, out: np.ndarray | None = None) -> np.ndarray:
        """Call case ``index``; ``out`` lets a test alias the output (in place)."""
        graph, kernel, feeds = self.cases[index]
        keep, cargs = [], []
        result = out
        for arg in kernel.args:
            if arg.kind in ("int", "row"):  # a row value (the fused loop's) comes with the feeds
                cargs.append(ctypes.c_int32(int(arg.value if arg.kind == "int" else feeds[arg.value])))
                continue
            if arg.kind == "output":
                if result is None:
                    result = np.zeros(graph.tensors[arg.value].shape, np.int8)
                arr = result
            elif arg.kind == "input":
                arr = np.ascontiguousarray(feeds[arg.value])
            else:
                arr = np.ascontiguousarray(arg.value)
            keep.append(arr)
            cargs.append(arr.ctypes.data_as(ctypes.c_void_p))
        getattr(self._lib, kernel.function)(*cargs)
        return result

    def close(self) -> None:
        self._tmp.cleanup()


def random_knobs(rng: np.random.Generator, graph: Graph, node: Node, pick: bool = True) -> dict | None:
    """One random value per knob of the node's host knob space (None: the defaults)."""
    if not pick:
        return None
    from mbmicro.codegen.kernels import knob_space

    return {k: v[int(rng.integers(0, len(v)))] for k, v in knob_space(graph, node, "host").items()}


def run_cases(cases) -> None:
    """Compile every (graph, node, feeds, knobs, reference) case into one .so, run
    each, and fail naming the kernels whose output differs from the reference."""
    batch = Batch()
    try:
        for graph, node, feeds, knobs, _ in cases:
            batch.add(graph, node, feeds, knobs)
        batch.compile()
        bad = [batch.cases[i][1].function for i, c in enumerate(cases) if not np.array_equal(batch.run(i), c[4])]
    finally:
        batch.close()
    assert not bad, f"{len(bad)} kernels differ from the reference: {bad[:5]}"
