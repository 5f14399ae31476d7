"""Pointwise / fully connected on Cortex-M4/M7 through ``mbmicro_gemm_dspx_pw``
(codegen/microkernels/mbmicro_gemm.h; knob ``micro`` = "dspx").

Why a layer-step micro-kernel instead of the tensorized tile (micro = "dsp"): that tile
widens the input with SXTB16 again for every output-channel tile and leaves bias,
requantization, clamp and byte stores to TIR, ~10 instructions per output -- more than the
MACs when a layer has 8-24 input channels (MobileNetV2's expansions).  This kernel widens a
tile of ``tile_p`` input rows once, runs every output channel over them in groups of
``tile_oc``, and requantizes in 32 bits (SMMLA, ASR, SSAT), the output zero point folded into
the rounding term, four outputs packed into one store.  The TIR around it is one call per
pixel tile (the last tile overlaps the one before it, recomputing equal values).

What is decided here, offline:

* the weights in the order the kernel reads them (:func:`weights`): groups of ``tile_oc``
  output channels (K padded with zero rows), per 4 input channels (C padded with zeros) one
  int8 word per channel.  Flash grows only by that padding: int16 copies of the weights
  (no SXTB16 on them) saved one instruction per word and no estimated cycle (two LDRs
  against LDR + 2 SXTB16), so the weights stay int8;
* per output channel the record {bias', M, add, shift} (:func:`records`), where the 32-bit
  form (mode HI32) is used only when :func:`hi32_exact` proves it equal to the rounding rule
  of mbmicro.reference.arith.requantize plus the zero point, else the 64-bit rule (mode WIDE);
* whether the clamp bounds are the whole int8 range (SSAT is then the clamp); if not, they
  are literals of the call.

The three decisions are in the kernel name's tag, so kernels that differ never share a name.
Single-rounding graphs only (TFLite's rule keeps micro = "dsp").
"""

from __future__ import annotations

import numpy as np

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm

FUNCTION = "mbmicro_gemm_dspx_pw"
MICRO = ("dspx",)
MODE_HI32, MODE_WIDE = 0, 1
#: Stack bytes the widened pixel tile may take (the targets' stack is 8 KiB; depthwise's band: 3 KiB).
XV_LIMIT = 3072
TILE_P = (1, 2, 4, 8)
TILE_OC = (1, 2, 4, 8, 16)


def row_words(C: int) -> int:
    """int32 words of one widened input row (MBMICRO_PW_ROW_WORDS)."""
    return -(-C // 4) * 2


def fits(C: int, tp: int) -> bool:
    """Whether a tile of ``tp`` widened rows fits the stack budget."""
    return tp * row_words(C) * 4 <= XV_LIMIT


def weights(weight_kc: np.ndarray, to: int) -> np.ndarray:
    """(K, C) int8 -> the kernel's flat layout: (group, 4-channel chunk, channel of the group, 4)."""
    w = np.asarray(weight_kc, dtype=np.int8)
    K, C = w.shape
    kp, cp = -(-K // to) * to, -(-C // 4) * 4
    padded = np.zeros((kp, cp), np.int8)
    padded[:K, :C] = w
    blocks = padded.reshape(kp // to, to, cp // 4, 4).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(blocks).reshape(-1)


def acc_bound(bias: np.ndarray, weight_kc: np.ndarray) -> np.ndarray:
    """Largest |sum x * w + bias'| per output channel (|x| <= 128)."""
    return np.abs(np.asarray(bias, np.int64)) + 128 * np.abs(weight_kc.astype(np.int64)).sum(axis=1)


def hi32_exact(bias: np.ndarray, weight_kc: np.ndarray, mult: np.ndarray, shift: np.ndarray, zp: int) -> bool:
    """Whether mode HI32 equals the rule plus ``zp`` on every channel.

    For shifts 33..62, ``floor((a*M + 2^(s-1)) / 2^s) = (hi32(a*M) + 2^(s-33)) >> (s-32)``
    (common.requantize_hi32), and adding ``zp * 2^(s-32)`` before the shift adds exactly
    ``zp`` after it.  SMMLA adds in 64 bits and keeps the low word, so the sum must fit int32:
    |hi32(a*M)| <= ceil(|a|max * M / 2^32), plus |add|; and acc + bias' must fit int32.
    """
    s = np.asarray(shift, np.int64)
    m = np.asarray(mult, np.int64)
    if not s.size or s.min() < cm.HI32_SHIFTS[0] or s.max() > cm.HI32_SHIFTS[1] or m.min() < 0:
        return False
    amax = acc_bound(bias, weight_kc)
    if int(amax.max()) >= (1 << 31):
        return False
    add = (1 << (s - 33)) + int(zp) * (1 << (s - 32))
    high = -(-(amax * m) // (1 << 32))
    return bool(np.all(high + np.abs(add) < (1 << 31)))


def records(bias, mult, shift, zp: int, to: int, mode: int) -> np.ndarray:
    """Per output channel {bias', M, add, shift} (K padded to a multiple of ``to``)."""
    s = np.asarray(shift, np.int64)
    K = s.size
    if mode == MODE_HI32:
        add, sh = (1 << (s - 33)) + int(zp) * (1 << (s - 32)), s - 32
    else:
        add, sh = np.zeros(K, np.int64), s
    kp = -(-K // to) * to
    rows = np.zeros((kp, 4), np.int64)
    rows[:K, 0], rows[:K, 1], rows[:K, 2], rows[:K, 3] = bias, mult, add, sh
    rows[K:, 3] = 1  # padded channels: a valid shift (their outputs are not stored)
    return cm.as_i32(rows.reshape(-1), "requantization records")


class Layout:
    """What one layer needs for the kernel: modes decided, args built per tile_oc."""

    def __init__(self, graph, node, weight_kc: np.ndarray):
        self.graph, self.node = graph, node
        self.weight = np.asarray(weight_kc, np.int8)
        K = self.weight.shape[0]
        self.bias = cm.folded_bias(node.params["bias"], self.weight, cm.zero_point(graph, node.inputs[0]))
        self.mult = np.broadcast_to(node.params["multiplier"], (K,)).astype(np.int64)
        self.shift = np.broadcast_to(node.params["shift"], (K,)).astype(np.int64)
        self.zp = cm.zero_point(graph, node.outputs[0])
        self.mode = MODE_HI32 if hi32_exact(self.bias, self.weight, self.mult, self.shift, self.zp) else MODE_WIDE
        self.bounds = cm.act_bounds(node)
        self.clamp = int(self.bounds != (-128, 127))

    def args(self, to: int) -> list:
        """x, w (re-laid), rq (records), y_zp, y (the clamp bounds are literals of the source)."""
        graph, node = self.graph, self.node
        return [cm.io_arg("input", "x", node.inputs[0]),
                KernelArg("const", "w", "const int8_t *", weights(self.weight, to)),
                KernelArg("const", "rq", "const int32_t *",
                          records(self.bias, self.mult, self.shift, self.zp, to, self.mode)),
                *cm.out_args(node, graph, act=False), cm.io_arg("output", "y", node.outputs[0])]

    def tag(self, knobs: dict) -> str:
        """t<tp>x<to> + "x" + "h" (HI32) or "l" (64-bit) + "c<lo>_<hi>" when the bounds clamp
        (they are literals of the source then; "m" for a minus sign)."""
        clamp = "c{}_{}".format(*self.bounds).replace("-", "m") if self.clamp else ""
        return f"t{knobs['tile_p']}x{knobs['tile_oc']}x" + ("h" if self.mode == MODE_HI32 else "l") + clamp


def func(P: int, C: int, K: int, tp: int, to: int, mode: int, bounds: tuple[int, int] | None):
    """PrimFunc (x, w, rq, y_zp, y): one micro-kernel call per pixel tile.

    ``bounds``: the clamp bounds as literals (None: the int8 range, SSAT alone): as kernel
    arguments they sat on the stack and cost ~8 instructions per output (K = 8: 2.97 against
    2.00 instructions per MAC on the M4)."""
    from tvm.script import tirx as T

    NP, kp, cp = -(-P // tp), -(-K // to) * to, -(-C // 4) * 4
    NW, NR, XW = kp * cp, kp * 4, tp * row_words(C)
    clamp, (lo, hi) = int(bounds is not None), (bounds or (-128, 127))

    @T.prim_func(s_tir=True)
    def f(x: T.Buffer((P * C,), "int8"), w: T.Buffer((NW,), "int8"), rq: T.Buffer((NR,), "int32"),
          y_zp: T.int32, y: T.Buffer((P * K,), "int8")):
        xv = T.alloc_buffer((XW,), "int32")
        for po in T.serial(NP):
            T.evaluate(T.call_extern(
                "void", FUNCTION, xv.access_ptr("rw"), T.address_of(x[T.min(po * tp, P - tp) * C]), C, K, tp, to,
                T.address_of(w[0]), T.address_of(rq[0]), mode, clamp, y_zp, lo, hi,
                T.address_of(y[T.min(po * tp, P - tp) * K])))
    return f


#: Families whose ``micro`` knob offers "dspx": the DSP cores, and the host (the
#: portable twin, so host tests run the same code path).
FAMILIES = ("cortex-m4", "cortex-m7", "host")


def offered(family: str, rule: str, layout: Layout, C: int) -> bool:
    """The kernel exists for this layer: a DSP core (or host), single rounding, a one-row tile
    within the stack budget, and acc + bias' provably inside int32 (it accumulates in int32)."""
    return (family in FAMILIES and rule == "single" and fits(C, 1)
            and int(acc_bound(layout.bias, layout.weight).max()) < (1 << 31))


def rows(C: int, tp: int) -> int:
    """Pixels per call for knob ``tile_p``: the knob, or the largest tile below it whose widened
    rows fit the stack budget (``offered`` checked that one row does), so every value of the
    shared ``tile_p`` space builds (a tuner may try them all)."""
    return max(t for t in TILE_P if t <= tp and fits(C, t))


def check_knobs(knobs: dict) -> None:
    """A tile the header cannot take is a bug of the caller (a tuner), not of the layer."""
    tp, to = knobs["tile_p"], knobs["tile_oc"]
    if tp not in TILE_P or to not in TILE_OC:
        raise ValueError(f"micro={knobs['micro']} takes tile_p in {TILE_P} and tile_oc in {TILE_OC}, not {tp}x{to}")


def defaults(family: str, P: int, C: int) -> dict | None:
    """The measured-best tile per shape (QEMU, instructions and estimated cycles per MAC against
    CMSIS-NN's, benchmarks/results/cmsis_nn.md; the commit message has the table).

    One pixel (fully connected, squeeze-excite): None, the "dsp" tile stays the default (the
    classifier of MobileNetV2 0.35/96/10 on the M4: 2.06 instr and 2.52 est. cycles per MAC
    against 2.18 and 3.22 with "dspx" 1 x 4: with one pixel nothing is shared).  Up to 32
    input channels the per-output work dominates: 4 pixels x 1 channel shares each record and
    weight word over 4 pixels (48x48x8->48 on the M4: 2.00 instr/MAC against 3.88 for the "dsp"
    tile; 4x2, 2x2 and 8x1 measured slower).  Above that the reduction dominates: 2 x 2 (one
    LDRD per pixel, one widened weight word per channel per 4 input channels) on the M4; the
    M7's estimate prices its loads lower and ranks 4 x 1 first where the pixels divide by 4
    (12x12x96->16: 0.79 against 0.82 of CMSIS-NN's estimated cycles), 2 x 2 otherwise (3x3
    maps: 4-pixel tiles would recompute 3 of 12).
    """
    if P == 1:
        return None
    if C <= 32 or (family == "cortex-m7" and P % 4 == 0):
        return {"tile_p": 4, "tile_oc": 1, "unroll": 1, "micro": "dspx"}
    return {"tile_p": 2, "tile_oc": 2, "unroll": 1, "micro": "dspx"}


def with_dspx(plan, family: str, rule: str, layout: Layout, P: int, C: int, K: int, default: dict | None):
    """``plan`` with "dspx" added to ``micro``; ``default`` (knobs) replaces the plan's defaults
    on the DSP cores (not on the host, whose default stays the TIR schedule)."""
    if not offered(family, rule, layout, C):
        return plan
    space = {**plan.space, "micro": [*plan.space["micro"], *MICRO]}
    defaults = dict(plan.defaults)
    if default and family != "host":
        defaults.update(default)
    base_build, base_tag, base_layout, base_headers = plan.build, plan.tag, plan.arg_layout, plan.headers
    base_args = plan.args
    mine = lambda kn: kn["micro"] in MICRO  # noqa: E731

    def build(kn):
        if not mine(kn):
            return base_build(kn)
        check_knobs(kn)
        return func(P, C, K, rows(C, kn["tile_p"]), kn["tile_oc"], layout.mode,
                    layout.bounds if layout.clamp else None)

    plan.space, plan.defaults, plan.build = space, defaults, build
    plan.tag = lambda kn: layout.tag(kn) if mine(kn) else base_tag(kn)
    plan.arg_layout = lambda kn: (layout.args(kn["tile_oc"]) if mine(kn)
                                  else (base_layout(kn) if base_layout else base_args))
    plan.headers = lambda kn: ("mbmicro_gemm.h",) if mine(kn) else base_headers(kn)
    return plan
