"""The A53 NEON pointwise micro-kernels (codegen/microkernels/mbmicro_neon_pw.h),
their NEON path under qemu-aarch64 and their portable twin on the host, against
mbmicro.reference.int8 bit for bit on 240 seeded random shapes, both requantization
rules (and the 32-bit fast path of the single rule), weights with and without -128.

Why a C driver (tests/c/neon_pw_driver.c) and not generated kernels: the header
is the unit here; the driver runs every case as the tile loop a generated kernel
has, with the tile knobs as constant arguments, in one process per build."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from kernel_harness import random_act, random_int8, random_requant
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
    """The driver built once per module for each build (a compile takes ~15-30 s)."""
    tmp = tmp_path_factory.mktemp("neon_pw")
    exes = {}
    for build, (cc, _) in BUILDS.items():
        exes[build] = tmp / f"driver_{build}"
        subprocess.run([*cc, str(DRIVER), "-o", str(exes[build])], check=True, capture_output=True, text=True)
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
