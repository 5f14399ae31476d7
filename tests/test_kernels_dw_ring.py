"""The wide-ring depthwise row kernel (mbmicro_dw_ring_channel) and the widen helper.

A fused region's ring feeding a DSP depthwise holds int16 rows widened once each
(docs/MEMORY.md "Wide rings"): channel-planar, C planes of XW int16, x_zp in the pad
columns, a padding row all x_zp, R slots with no mirror rows.  Here the ring is built in
NumPy with the window starting at a random slot (so windows wrap), garbage in the other
slots, and G output rows of the row copy (codegen/fused.row_graph with ``ring_rows``) must
equal the same rows of mbmicro.reference.int8's whole-tensor depthwise, bit for bit: on the
host (portable twin) and in QEMU on the Cortex-M4 (SMLAD).  The widen helper is compiled
on its own and compared with the NumPy layout.
"""

from __future__ import annotations

import ctypes
import dataclasses
import subprocess

import numpy as np

from kernel_harness import run_cases
from qemu_kernel_harness import run_cases_qemu
from mbmicro.codegen import fused, microkernels
from mbmicro.codegen.kernels import lower_node
from mbmicro.codegen.ops import depthwise_dsp as dsp
from mbmicro.graph import fusion
from test_kernels_dw import dw_case
from test_kernels_dw_dsp import dsp_shape


def wide_row(x_row, p: int, top: int, left: int, xw: int, zp: int) -> np.ndarray:
    """Padded row ``p`` of an (H, W, C) int8 image as a wide slot: (C, XW) int16."""
    h, (w, c) = x_row.shape[0], x_row.shape[1:]
    out = np.full((c, xw), zp, np.int16)
    r = p - top
    if 0 <= r < h:
        n = min(w, xw - left)
        out[:, left:left + n] = x_row[r, :n, :].T
    return out


def ring_case(rng, H, W, C, K, S, G):
    """(row graph, row node, feeds, None, reference rows): G output rows from a ring of R slots."""
    graph, node, feeds, _, ref = dw_case(rng, H, W, C, K, S, knob_pick=False)
    oh = ref.shape[1]
    G = min(G, oh)
    stage = dataclasses.replace(fusion.stage_of(graph, node, "x"), group=G)
    R = stage.window_rows + int(rng.integers(0, 3))
    top, left = int(node.attrs["pad"][0]), int(node.attrs["pad"][1])
    xw = dsp.band_cols(ref.shape[2], K, S)
    o0 = int(rng.integers(0, oh - G + 1))
    first = int(rng.integers(0, R))
    ring = rng.integers(-32768, 32768, (R, C, xw)).astype(np.int16)  # the other slots: garbage
    x = feeds["x"][0]
    zp = int(graph.tensors["x"].zero_point)
    for t in range(stage.window_rows):
        ring[(first + t) % R] = wide_row(x, o0 * S + t, top, left, xw, zp)
    g, n = fused.row_graph(graph, stage, R)
    return g, n, {"x": ring, "first": first}, None, ref[:, o0:o0 + G]


def _cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        H, W, C, K, S = dsp_shape(rng, len(out))
        case = ring_case(rng, H, W, C, K, S, int(rng.integers(1, 5)))
        if dsp.ring_applies(case[0], case[1]):  # the channel kernel's constants (nearly all)
            out.append(case)
    return out


def test_ring_kernel_is_the_ring_function_on_int16():
    g, n, *_ = _cases(5, 1)[0]
    k = lower_node(g, n, "host")
    assert "ring" in k.function and dsp.RING_FUNCTION + "(" in k.source
    assert [(a.kind, a.ctype) for a in k.args if a.kind in ("input", "row")] == [("input", "const int16_t *"),
                                                                                ("row", "int32_t")]


def test_ring_kernel_100_seeded_cases_bit_exact_host():
    run_cases(_cases(2026, 100))


def test_ring_kernel_60_seeded_cases_bit_exact_qemu_m4():
    run_cases_qemu(_cases(2027, 60), "cortex-m4")


WIDEN_DRIVER = r"""
#include "mbmicro_depthwise.h"
void widen(int16_t *slot, const int8_t *row, int32_t W, int32_t C, int32_t left, int32_t xw, int32_t zp)
{ mbmicro_dw_widen_row(slot, row, W, C, left, xw, zp); }
void fill(int16_t *slot, int32_t n, int32_t zp) { mbmicro_dw_widen_fill(slot, n, zp); }
"""


def test_widen_row_and_fill_match_the_band_layout(tmp_path):
    src, lib = tmp_path / "widen.c", tmp_path / "widen.so"
    src.write_text(WIDEN_DRIVER)
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    "-I", str(microkernels.folder()), str(src), "-o", str(lib)], check=True)
    so = ctypes.CDLL(str(lib))
    rng = np.random.default_rng(7)
    ptr = ctypes.c_void_p
    for _ in range(60):
        W, C, K, S = int(rng.integers(2, 20)), int(rng.integers(1, 40)), int(rng.choice([3, 5, 7, 9])), int(rng.integers(1, 3))
        left = K // 2 - (S == 2 and W % 2 == 0)
        ow = (W + K - 1 - S) // S + 1
        xw = dsp.band_cols(max(ow, 1), K, S)
        zp = int(rng.integers(-128, 128))
        row = rng.integers(-128, 128, (1, W, C)).astype(np.int8)
        slot = np.zeros((C, xw), np.int16)
        so.widen(slot.ctypes.data_as(ptr), row.ctypes.data_as(ptr), W, C, max(left, 0), xw, zp)
        assert np.array_equal(slot, wide_row(row, 0, 0, max(left, 0), xw, zp))
        so.fill(slot.ctypes.data_as(ptr), C * xw, zp)
        assert np.all(slot == zp)


def test_ring_kernel_20_seeded_cases_bit_exact_qemu_m7():
    """The M7 is the other core of the DSP family (wide rings too): the same C, other flags."""
    run_cases_qemu(_cases(2028, 20), "cortex-m7")
