"""The A53 NEON pointwise micro-kernels (codegen/microkernels/mbmicro_neon_pw.h),
their NEON path under qemu-aarch64 and their portable twin on the host, against
mbmicro.reference.int8 bit for bit on 240 seeded random shapes, both requantization
rules (and the 32-bit fast path of the single rule), weights with and without -128:
first the header alone through a C driver, then the generated kernels that tensorize
with it (codegen/ops/pointwise_neon.py), 120 seeded shapes covering every kernel variant,
on host and in QEMU.

Why a C driver (tests/c/neon_pw_driver.c) and not generated kernels: the header
is the unit here; the driver runs every case as the tile loop a generated kernel
has, with the tile knobs as constant arguments, in one process per build."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import random_act, random_int8, random_requant, run_cases, single_node_graph, tensor
from qemu_kernel_harness import run_cases_qemu
from session_cache import shared_artifact
from mbmicro.codegen.kernels import knob_space, lower_node
from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops.pointwise import TILE_OC, TILE_P
from mbmicro.reference import int8 as R

ROOT = Path(__file__).resolve().parents[1]
HEADERS = ROOT / "codegen" / "microkernels"
DRIVER = ROOT / "tests" / "c" / "neon_pw_driver.c"
FLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", f"-I{HEADERS}"]
BUILDS = {"host": (["gcc", *FLAGS], []),
          "neon": (["aarch64-linux-gnu-gcc", *FLAGS, "-mcpu=cortex-a53", "-static"],
                   ["qemu-aarch64", "-cpu", "cortex-a53"])}
KC, KV = 0, 1
RULE = {0: "single", 1: "single", 2: "tflite"}


def make_case(rng, kind: int, tp: int, to: int, rq: int, pair: int, P: int, C: int, K: int) -> dict:
    """One GEMM in the kernel's layout and its reference output (R.conv2d, 1x1)."""
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    w = random_int8(rng, (K, C), -127 if pair else -128, 127)
    x = random_int8(rng, (P, C))
    if not pair:  # many (-128) * (-128) products: two of them overflow an int16 lane
        w[rng.random(w.shape) < 0.4] = -128
        x[rng.random(x.shape) < 0.4] = -128
    # the 64-bit and TFLite paths also see scales above 1/2 (shifts below 32, left shifts)
    m, s = random_requant(rng, K, 1e-4, 0.05) if rq == 1 else random_requant(rng, K, 1e-4, 3.0)
    bias = rng.integers(-60000, 60000, K).astype(np.int32)
    lo, hi = random_act(rng, yzp)
    ref = R.conv2d(x.reshape(1, P, 1, C), w.reshape(K, 1, 1, C), bias, m, s, x_zp=0, y_zp=yzp, stride=1,
                   pad=(0, 0, 0, 0), groups=1, act_min=lo, act_max=hi, rule=RULE[rq]).reshape(P, K)
    hdr = np.array([kind, tp, to, rq, pair, P, C, K, yzp, lo, hi], "<i4")
    blob = b"".join([hdr.tobytes(), x.tobytes(), w.tobytes(),
                     *(a.astype("<i4").tobytes() for a in (bias, m, s))])
    return {"blob": blob, "ref": ref, "what": f"kind{kind} t{tp}x{to} rq{rq} pair{pair} P{P} C{C} K{K}"}


def random_case(rng) -> dict:
    """Any P >= tp and K >= to (overlapping last tiles), C with every tail."""
    kind = int(rng.integers(0, 2))
    tp = int(rng.choice([1, 2, 4, 8]))
    to = int(rng.choice([1, 2, 4, 8, 16] if kind == KC else [4, 8, 16]))
    rq, pair = int(rng.integers(0, 3)), int(rng.integers(0, 2)) if kind == KC else 1
    C = int(rng.integers(1, 90)) if kind == KC else int(rng.integers(1, 40))
    return make_case(rng, kind, tp, to, rq, pair, tp + int(rng.integers(0, 20)), C, to + int(rng.integers(0, 40)))


@pytest.fixture(scope="module")
def drivers(tmp_path_factory) -> dict[str, Path]:
    """The driver built once per test run for each build (a compile takes ~10-20 CPU s),
    shared by the xdist workers (tests/session_cache.py)."""
    inputs = [DRIVER, *HEADERS.glob("*.h")]
    exes = {}
    for build, (cc, _) in BUILDS.items():
        recipe = [*cc, str(DRIVER)]
        exes[build] = shared_artifact(tmp_path_factory, f"neon_pw_driver_{build}", inputs, recipe,
                                      lambda out, recipe=recipe: subprocess.run([*recipe, "-o", str(out)], check=True,
                                                                                capture_output=True, text=True))
    return exes


def run_driver(build: str, exe: Path, cases: list[dict], tmp: Path) -> list[np.ndarray]:
    """Run every case in one process of the driver for ``build``, split the outputs."""
    _, runner = BUILDS[build]
    inp, out = tmp / f"cases_{build}.bin", tmp / f"out_{build}.bin"
    inp.write_bytes(np.array([len(cases)], "<i4").tobytes() + b"".join(c["blob"] for c in cases))
    subprocess.run([*runner, str(exe), str(inp), str(out)], check=True, timeout=300)
    data, outs, at = np.frombuffer(out.read_bytes(), np.int8), [], 0
    for c in cases:
        outs.append(data[at:at + c["ref"].size].reshape(c["ref"].shape))
        at += c["ref"].size
    assert at == data.size
    return outs


def check(build: str, exe: Path, cases: list[dict], tmp: Path) -> None:
    outs = run_driver(build, exe, cases, tmp)
    bad = [c["what"] for c, o in zip(cases, outs) if not np.array_equal(o, c["ref"])]
    assert not bad, f"{build}: {len(bad)} of {len(cases)} cases differ from the reference: {bad[:5]}"


@pytest.mark.parametrize("build", ["host", "neon"])
def test_neon_pw_240_seeded_shapes(build, drivers, tmp_path):
    rng = np.random.default_rng(9)
    check(build, drivers[build], [random_case(rng) for _ in range(240)], tmp_path)


@pytest.mark.parametrize("build", ["host", "neon"])
def test_neon_pw_model_shapes(build, drivers, tmp_path):
    """The 1x1 shapes of MobileNetV2 0.35/96 (C % 16 = 8 tails, P = 9 and K = 1280 included)."""
    rng = np.random.default_rng(10)
    shapes = [(9, 56, 336), (9, 112, 1280), (36, 24, 144), (144, 16, 96), (576, 48, 8), (2304, 16, 8)]
    cases = [make_case(rng, KC, 1 if P == 9 else 4, 4, rq, 1, P, C, K) for P, C, K in shapes for rq in (1, 2)]
    cases += [make_case(rng, KV, 4, 16, 1, 1, 576, 8, 48), make_case(rng, KV, 4, 16, 1, 1, 576, 8, 24)]
    check(build, drivers[build], cases, tmp_path)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_neon_pw_hypothesis(seed, drivers, tmp_path_factory):
    rng = np.random.default_rng(seed)
    check("neon", drivers["neon"], [random_case(rng) for _ in range(20)], tmp_path_factory.mktemp("hyp"))


# --- the generated kernels (codegen/ops/pointwise_neon.py) -------------------------------------

def seeded_shapes(seed: int, n: int) -> list[tuple[int, int, int, int, int]]:
    """n (H, W, C, K, case seed): maps up to 8x8, 2-90 input and 1-40 output channels."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(2, 91)), int(rng.integers(1, 41)),
             int(rng.integers(0, 2**32 - 1))) for _ in range(n)]


def neon_case(rng, H: int, W: int, C: int, K: int, knobs: dict | None):
    """A 1x1 conv node; a third of them with -128 weights (no paired products), a third on
    TFLite's rule, scales up to 3 (shifts below 32: the 64-bit requantization)."""
    kind = int(rng.integers(0, 3))
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    x, y = tensor("x", (1, H, W, C), xzp), tensor("y", (1, H, W, K), yzp)
    w = random_int8(rng, (K, 1, 1, C), -128 if kind == 1 else -127, 127)
    if kind == 1:
        w[rng.random(w.shape) < 0.4] = -128
    bias = rng.integers(-20000, 20000, K).astype(np.int32)
    m, s = random_requant(rng, K, 1e-4, 0.05 if int(rng.integers(0, 2)) else 3.0)
    lo, hi = random_act(rng, yzp)
    graph, node = single_node_graph("conv2d", [x], y, attrs=dict(kernel=(1, 1), stride=1, pad=(0, 0, 0, 0),
                                    groups=1, act_min=lo, act_max=hi),
                                    params=dict(weight=w, bias=bias, multiplier=m, shift=s))
    rule = "tflite" if kind == 2 else "single"
    graph.meta["requant"] = rule
    xv = random_int8(rng, (1, H, W, C))
    if kind == 1:
        xv[rng.random(xv.shape) < 0.4] = -128
    ref = R.conv2d(xv, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=1, pad=(0, 0, 0, 0), groups=1,
                   act_min=lo, act_max=hi, rule=rule)
    return graph, node, {"x": xv}, knobs, ref


def neon_cases(shapes):
    """One case per shape: micro "neon" or "neon_k" with random tiles (any P, K: overlapping
    last tiles), every fourth one with the A53 defaults of its shape."""
    cases = []
    for n, (H, W, C, K, seed) in enumerate(shapes):
        rng = np.random.default_rng(seed)
        knobs = {"micro": ["neon", "neon_k"][n % 2], "unroll": int(rng.integers(0, 2)),
                 "tile_p": pick(fit(TILE_P, H * W), int(rng.choice(TILE_P))),
                 "tile_oc": pick(fit(TILE_OC, K), int(rng.choice(TILE_OC)))}
        cases.append(neon_case(rng, H, W, C, K, None if n % 4 == 3 else knobs))
    return cases


#: every generated kernel variant: unroll x requantization mode (0, 1, 2) x paired products or
#: not, for both micro-kernels (name tags n.. for "neon", nk.. for "neon_k")
VARIANTS = {(u, f"{m}{rq}{p}") for u in (0, 1) for m in ("n", "nk") for rq, p in
            [(0, "p"), (1, "p"), (2, "p"), (0, ""), (1, "")]}


def test_neon_kernels_host_and_qemu():
    """120 seeded shapes, every kernel variant among them, lowered once (same knobs, same
    name, same source) and run as the portable twin in one host .so and with NEON in one
    qemu-aarch64 program; every fourth case gets the A53's default knobs."""
    cases = [(g, n, f, kn or neon_defaults_for(g, n), ref) for g, n, f, kn, ref in neon_cases(seeded_shapes(2028, 120))]
    kernels = [lower_node(g, n, "cortex-a53", kn) for g, n, _, kn, _ in cases]
    tags = [(k.knobs["unroll"], re.search(r"nk?\dp?$", k.function)) for k in kernels if k.knobs["micro"] != "none"]
    seen = {(unroll, tag.group(0)) for unroll, tag in tags if tag}
    assert VARIANTS <= seen, VARIANTS - seen
    run_cases(cases)
    run_cases_qemu(cases, "cortex-a53")


def neon_defaults_for(graph, node) -> dict:
    knobs = {k: v[0] for k, v in knob_space(graph, node, "cortex-a53").items()}
    return {k: knobs[k] for k in ("micro", "tile_p", "tile_oc")}


def test_a53_defaults_pick_the_neon_kernels_by_shape():
    """C <= 24: the panel kernel along K; from 64: the reduction along C, one pixel per tile
    on a 3x3 map, 4 on larger ones; names carry the requantization mode (1: 32-bit single
    rule) and "p" (paired products)."""
    rng = np.random.default_rng(5)
    small, *_ = neon_case(rng, 48, 48, 8, 48, None)
    big, *_ = neon_case(rng, 3, 3, 112, 1280, None)
    wide, *_ = neon_case(rng, 6, 6, 144, 32, None)
    for graph, want in ((small, ("neon_k", 4, 8)), (big, ("neon", 1, 16)), (wide, ("neon", 4, 16))):
        graph.meta["requant"] = "single"
        node = graph.nodes[0]
        node.params["weight"] = np.clip(node.params["weight"], -127, 127)
        node.params["shift"] = np.maximum(node.params["shift"], 32)
        k = lower_node(graph, node, "cortex-a53")
        assert (k.knobs["micro"], k.knobs["tile_p"], k.knobs["tile_oc"]) == want
        assert k.headers == ("mbmicro_neon_pw.h",)
        assert k.source.startswith('#include <stdint.h>\n#include "mbmicro_neon_pw.h"\n')
        assert f"mbmicro_neon_gemm_{'k' if want[0] == 'neon_k' else 'c'}(" in k.source
        assert "mbmicro_neon_out(" in k.source and k.function.endswith("1p")
        node.params["weight"][0, 0, 0, 0] = -128
        node.params["shift"][0] = 31
        other = lower_node(graph, node, "cortex-a53")
        assert other.function.endswith("0") and other.function != k.function
        assert lower_node(graph, node, "cortex-m4").headers == ("mbmicro_gemm.h",)  # the M4: the DSP GEMM


def pw_count_case(P: int, C: int, K: int, seed: int):
    """A 1x1 layer as the models have it: single rule, shifts >= 32, no -128 weights."""
    rng = np.random.default_rng(seed)
    graph, node, feeds, _, _ = neon_case(rng, P, 1, C, K, None)
    graph.meta["requant"] = "single"
    p = node.params
    p["weight"] = np.clip(p["weight"], -127, 127)
    p["multiplier"], p["shift"] = random_requant(rng, K, 1e-3, 0.05)
    ref = R.conv2d(feeds["x"], p["weight"], p["bias"], p["multiplier"], p["shift"],
                   x_zp=graph.tensors["x"].zero_point, y_zp=graph.tensors["y"].zero_point, stride=1,
                   pad=(0, 0, 0, 0), groups=1, act_min=node.attrs["act_min"], act_max=node.attrs["act_max"])
    return graph, node, feeds, None, ref


#: the A53's slowest 1x1 shapes of the 11 models before the issue-9 second round (instr/MAC then):
#: C = 8 expansions (0.53), a 3x3-map expansion from 40 channels (0.51), ReXNet's C % 8 tails
#: (9x63->378: 0.62, 100x28->168: 0.64, 25x36->216: 0.54)
SLOW_SHAPES = [(2304, 8, 48), (576, 8, 24), (9, 40, 240), (9, 63, 378), (100, 28, 168), (25, 36, 216),
               (9, 48, 288)]


def test_a53_pointwise_defaults_at_most_half_an_instruction_per_mac():
    """Issue 9's A53 target on its worst shapes: the default kernels, bit-exact in QEMU,
    execute at most 0.5 instructions per MAC (QEMU counts are exactly repeatable)."""
    cases = [pw_count_case(P, C, K, n) for n, (P, C, K) in enumerate(SLOW_SHAPES)]
    counts = run_cases_qemu(cases, "cortex-a53", count=True)
    per_mac = {shape: count / np.prod(shape) for shape, count in zip(SLOW_SHAPES, counts)}
    assert max(per_mac.values()) <= 0.5, per_mac
