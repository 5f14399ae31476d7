"""Test helper: random pointwise / depthwise cases for the Helium micro-kernels of
codegen/microkernels/mbmicro_mve.h, written as C data for tests/data/mve/mve_driver.c,
with the expected output from mbmicro.reference.int8.

Why a C driver with compiled-in data: one firmware runs hundreds of cases in one QEMU
start (and the same driver on the host runs the portable twin), so the MVE path and the
twin are checked against the reference on the very same bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kernel_harness import random_act, random_int8, random_requant
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import mve
from mbmicro.graph.ir import conv_out_size, same_padding
from mbmicro.reference import int8 as R

HEADER = Path(__file__).resolve().parents[1] / "codegen" / "microkernels" / "mbmicro_mve.h"
DRIVER = Path(__file__).resolve().parent / "data" / "mve" / "mve_driver.c"
BENCH = DRIVER.with_name("mve_bench.c")
HOST_FLAGS = ["-std=c99", "-O1", "-Wall", "-Wextra", "-Werror"]


@dataclass
class Case:
    kind: str                 # "pw", "dw" or "cv" (ungrouped conv2d)
    dims: dict                # H W C K KH S pt pl OH OW
    ints: dict                # x_zp y_zp lo hi mode
    arrays: dict              # x w rq ref (rq: the header's requantization records)


def _scales(rng, n, mixed=True):
    """Mostly small scales (shift >= 32); sometimes [0.5, 1) (shift 31) or >= 1 (scalar
    mode), unless ``mixed`` is False (benchmarks: the scales of a real layer)."""
    kind = int(rng.integers(0, 6)) if mixed else 2
    hi = {0: 0.9, 1: 3.0}.get(kind, 0.05)
    return random_requant(rng, n, 1e-4, hi)


def pw_case(rng, H, W, C, K, mixed=True) -> Case:
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    w = random_int8(rng, (K, C), -128, 127)
    bias = rng.integers(-20000, 20000, K).astype(np.int32)
    m, s = _scales(rng, K, mixed)
    lo, hi = random_act(rng, yzp)
    x = random_int8(rng, (1, H, W, C))
    ref = R.conv2d(x, w.reshape(K, 1, 1, C), bias, m, s, x_zp=xzp, y_zp=yzp, stride=1, pad=(0, 0, 0, 0),
                   groups=1, act_min=lo, act_max=hi)
    return Case("pw", dict(H=H, W=W, C=C, K=K, KH=1, S=1, pt=0, pl=0, OH=H, OW=W),
                dict(x_zp=xzp, y_zp=yzp, lo=lo, hi=hi, mode=mve.requant_mode(s)),
                dict(x=x, w=mve.pw_weights(w), rq=mve.pw_requant(cm.folded_bias(bias, w, xzp), m, s), ref=ref))


def dw_case(rng, H, W, C, K, S, mixed=True) -> Case:
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    (pt, pb), (pl, pr) = same_padding(H, K, S), same_padding(W, K, S)
    w = random_int8(rng, (K, K, C), -128, 127)
    bias = rng.integers(-20000, 20000, C).astype(np.int32)
    m, s = _scales(rng, C, mixed)
    lo, hi = random_act(rng, yzp)
    x = random_int8(rng, (1, H, W, C))
    ref = R.depthwise(x, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=S, pad=(pt, pl, pb, pr),
                      act_min=lo, act_max=hi)
    return Case("dw", dict(H=H, W=W, C=C, K=C, KH=K, S=S, pt=pt, pl=pl, OH=conv_out_size(H, S),
                           OW=conv_out_size(W, S)),
                dict(x_zp=xzp, y_zp=yzp, lo=lo, hi=hi, mode=mve.requant_mode(s)),
                dict(x=x, w=w, rq=mve.dw_requant(cm.folded_bias(bias, w.reshape(K * K, C).T, xzp), m, s, bias),
                     ref=ref))


def cv_case(rng, H, W, I, O, K, S, mixed=True) -> Case:
    """An ungrouped K x K conv2d (the stem is 3x3, stride 2, I = 3), TF SAME padding."""
    xzp, yzp = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    (pt, pb), (pl, pr) = same_padding(H, K, S), same_padding(W, K, S)
    w = random_int8(rng, (O, K, K, I), -128, 127)
    bias = rng.integers(-20000, 20000, O).astype(np.int32)
    m, s = _scales(rng, O, mixed)
    lo, hi = random_act(rng, yzp)
    x = random_int8(rng, (1, H, W, I))
    ref = R.conv2d(x, w, bias, m, s, x_zp=xzp, y_zp=yzp, stride=S, pad=(pt, pl, pb, pr), groups=1,
                   act_min=lo, act_max=hi)
    w2 = w.reshape(O, -1)
    return Case("cv", dict(H=H, W=W, C=I, K=O, KH=K, S=S, pt=pt, pl=pl, OH=conv_out_size(H, S),
                           OW=conv_out_size(W, S)),
                dict(x_zp=xzp, y_zp=yzp, lo=lo, hi=hi, mode=mve.requant_mode(s)),
                dict(x=x, w=mve.pw_weights(w2), rq=mve.pw_requant(cm.folded_bias(bias, w2, xzp), m, s), ref=ref))


def _c_array(name: str, ctype: str, values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    body = ",".join(str(int(v)) for v in flat) if flat.size else "0"
    return f"static const {ctype} {name}[{max(flat.size, 1)}] = {{{body}}};\n"


_TYPES = {"x": "int8_t", "w": "int8_t", "rq": "int32_t", "ref": "int8_t"}
_FIELDS = ("H", "W", "C", "K", "KH", "S", "pt", "pl", "OH", "OW", "x_zp", "y_zp", "lo", "hi", "mode")


def write_cases(cases: list[Case], folder: Path) -> None:
    """mve_cases.h (the case record) and mve_cases.c (the data) in ``folder``."""
    ny = max(int(c.arrays["ref"].size) for c in cases)
    header = ["#include <stdint.h>\n", "enum { MVE_PW, MVE_DW, MVE_CV };\n",
              f"#define MVE_N_CASES {len(cases)}\n#define MVE_MAX_OUT {ny}\n",
              "typedef struct {\n    int32_t kind, " + ", ".join(_FIELDS) + ", ny;\n",
              "    const int8_t *x, *w;\n    const int32_t *rq;\n    const int8_t *ref;\n",
              "} mve_case;\n", "extern const mve_case mve_cases[MVE_N_CASES];\n"]
    (folder / "mve_cases.h").write_text("".join(header))
    data, rows = ['#include "mve_cases.h"\n'], []
    for i, case in enumerate(cases):
        for key, ctype in _TYPES.items():
            data.append(_c_array(f"c{i}_{key}", ctype, case.arrays[key]))
        values = {**case.dims, **case.ints}
        fields = ", ".join(str(int(values[f])) for f in _FIELDS)
        arrays = ", ".join(f"c{i}_{k}" for k in _TYPES)
        kind = {"pw": "MVE_PW", "dw": "MVE_DW", "cv": "MVE_CV"}[case.kind]
        rows.append(f"    {{{kind}, {fields}, {int(case.arrays['ref'].size)}, {arrays}}},\n")
    data.append("const mve_case mve_cases[MVE_N_CASES] = {\n" + "".join(rows) + "};\n")
    (folder / "mve_cases.c").write_text("".join(data))


def stage(cases: list[Case], folder: Path) -> list[Path]:
    """Write the cases and copy the driver and header into ``folder``; returns the C sources."""
    folder.mkdir(parents=True, exist_ok=True)
    write_cases(cases, folder)
    shutil.copy(HEADER, folder / HEADER.name)
    shutil.copy(DRIVER, folder / DRIVER.name)
    return [folder / "mve_driver.c", folder / "mve_cases.c"]


def run_host(cases: list[Case], folder: Path) -> subprocess.CompletedProcess:
    """Compile the driver with the host gcc (the portable twin) and run it."""
    sources = stage(cases, folder)
    exe = folder / "mve_host"
    subprocess.run(["gcc", *HOST_FLAGS, *map(str, sources), "-o", str(exe)], check=True,
                   capture_output=True, text=True)
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
