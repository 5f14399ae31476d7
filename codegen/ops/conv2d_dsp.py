"""The conv2d stem through the SMLAD micro-kernels of codegen/microkernels/mbmicro_conv.h
(knob ``micro`` = "dsp"; the default on Cortex-M4/M7).

Why an int16 im2col: the stem has 3 input channels, so a patch row (KW*I bytes) is no
whole number of words and the scalar schedule spends ~5 instructions per MAC on byte
loads and multiplies.  Here the patches of TP output pixels are gathered once as int16
(N = KH*KW*I taps, a zero after an odd N: NP taps), the weights are re-laid offline as
O x NP int16 (a zero weight after an odd N), and every pair of taps is one SMLAD:

    for oh in OH:
      for pb in OW / TP:                          # the last tile overlaps the one before
        patch[TP][NP] = im2col of pixels ow0 .. ow0+TP-1 (x_zp outside the image)
        for kb in O / TO:                         # the last tile overlaps too
          acc[i][k0+j] = bias'[k0+j] + patch[i] . w[k0+j]   # mbmicro_conv_dsp_gemm16_<TP>x<TO>
        for o in O:                               # TIR: the one rule
          y[oh, ow0+i, o] = clamp(requantize(acc[i][o]) + zy)

Overlapping edge tiles recompute and re-store a few outputs with the same values, so no
predicate enters the tile.  Requantization is common.requantize_hi32 (SMMUL, ADD, ASR)
when the layer's shifts and bias make it exact (tag suffix "h"), else the rule's int64
form.  A layer whose clamp is the whole int8 range (a calibrated ReLU6 usually is: every
layer of MobileNetV2 0.35/96) gets the bounds as constants, out of the signature, and the
clamp as one SSAT (mbmicro_conv_sat8; tag suffix "f").  Weights in flash grow from N to 2*NP bytes per output channel (the stem of
MobileNetV2 0.35: 432 -> 896 bytes).
"""

from __future__ import annotations

import numpy as np

from mbmicro.codegen.kernel_types import KernelArg
from mbmicro.codegen.ops import common as cm

HEADER = "mbmicro_conv.h"
#: tiles of the header (pixels x output channels); the first is the default
TILES = ["4x2", "2x4", "2x2", "1x8", "1x4"]
#: largest patch (taps) the kernel takes
PATCH_LIMIT = 256
#: stack bytes of the kernel's scratch: TP int16 patches and TP rows of O int32 accumulators
STACK_LIMIT = 3072
#: families whose default is this kernel (measured faster than the scalar schedule: the stems
#: of the 11 models, 3 input channels; other convs get it on request)
DSP_FAMILIES = ("cortex-m4", "cortex-m7")
#: Cores without the DSP extension where the header's portable twin (an int16 im2col tile,
#: which gcc -O3 vectorizes with NEON) still beats the scalar schedule: found by `mbmicro tune`
#: on the A53 (MobileNetV2 0.35/96 stem 3.15 M -> 0.68 M instructions with tile 2x4,
#: benchmarks/results/tune/), so it is the default there too, with that tile.
TWIN_FAMILIES = {"cortex-a53": "2x4"}
DEFAULT_MAX_CHANNELS = 4


def taps(KH: int, KW: int, I: int) -> int:
    """NP: the patch length rounded up to even (SMLAD takes taps in pairs)."""
    n = KH * KW * I
    return n + (n & 1)


def tile_shape(tile: str) -> tuple[int, int]:
    """"4x2" -> (4 pixels, 2 output channels)."""
    tp, to = tile.split("x")
    return int(tp), int(to)


def scratch_bytes(tile: str, NP: int, O: int) -> int:
    tp, _ = tile_shape(tile)
    return tp * (2 * NP + 4 * O)


def tiles_for(KH: int, KW: int, I: int, OW: int, O: int) -> list[str]:
    """The header's tiles that fit the layer: no wider than the row or the channels, scratch
    within STACK_LIMIT (an overlapping edge tile needs a whole tile of outputs)."""
    NP = taps(KH, KW, I)
    return [t for t in TILES if tile_shape(t)[0] <= OW and tile_shape(t)[1] <= O
            and scratch_bytes(t, NP, O) <= STACK_LIMIT]


def eligible(KH: int, KW: int, I: int, G: int, OW: int, O: int) -> bool:
    """Ungrouped convs with a small patch and at least one tile that fits."""
    return G == 1 and KH * KW * I <= PATCH_LIMIT and bool(tiles_for(KH, KW, I, OW, O))


def is_default(family: str, I: int) -> bool:
    """Whether micro="dsp" is the default: on the DSP cores and the A53 (its portable twin),
    for the stems it was measured on."""
    return (family in DSP_FAMILIES or family in TWIN_FAMILIES) and I <= DEFAULT_MAX_CHANNELS


def default_tile(family: str, tiles: list[str]) -> str:
    """The measured-best tile of a twin core where the layer offers it, else the first tile."""
    wanted = TWIN_FAMILIES.get(family)
    return wanted if wanted in tiles else tiles[0]


def weights16(weight: np.ndarray) -> np.ndarray:
    """(O, KH, KW, I) int8 -> (O * NP,) int16, each output channel's patch then a zero if N is odd."""
    w = np.asarray(weight, dtype=np.int16)
    O = w.shape[0]
    flat = w.reshape(O, -1)
    n = flat.shape[1]
    out = np.zeros((O, n + (n & 1)), np.int16)
    out[:, :n] = flat
    return out.reshape(-1)


def kernel_args(graph, node, weight: np.ndarray, pad) -> tuple[list, bool, bool]:
    """(C parameters, hi32, full_range) of the kernel: x, w (int16, re-laid), bias (zero point
    folded), mult, shift, [x_zp], y_zp, [act_min, act_max], y.  hi32: the 32-bit requantization
    is exact for this layer (default rule only); full_range: the layer's clamp is [-128, 127]
    (a calibrated ReLU6 usually is), so the bounds become constants and leave the signature."""
    args = cm.weighted_args(graph, node, weight, weight, weight.shape[0], pad)
    args[1] = KernelArg("const", "w", "const int16_t *", weights16(weight))
    bias = next(a.value for a in args if a.name == "bias")
    KH, KW, I = weight.shape[1:]
    hi32 = cm.graph_rule(graph) == "single" and cm.hi32_applies(bias, node.params["shift"], taps(KH, KW, I))
    full_range = cm.act_bounds(node) == (-128, 127)
    if full_range:
        args = [a for a in args if a.name not in ("act_min", "act_max")]
    return args, hi32, full_range


def conv_dsp_func(H, W, I, O, KH, KW, S, pad, tile: str, rule: str = "single", hi32: bool = False,
                  full_range: bool = False):
    """PrimFunc (x, w16, bias, mult, shift, [x_zp], y_zp, [act_min, act_max], y) of the im2col + GEMM tiles;
    ``full_range``: the layer clamps to [-128, 127] only, with constants (gcc makes it one SSAT)."""
    from tvm.script import tirx as T

    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1
    tp, to = tile_shape(tile)
    NP = taps(KH, KW, I)
    NB_P, NB_K = -(-OW // tp), -(-O // to)
    gemm = f"mbmicro_conv_dsp_gemm16_{tp}x{to}"

    def out(acc, m, s, zp, lo, hi):
        if hi32 and full_range:  # the clamp to int8 is one SSAT (gcc does not find it in min/max)
            return T.Cast("int8", T.call_pure_extern("int32", "mbmicro_conv_sat8", cm.requantize_hi32(acc, m, s) + zp))
        if hi32:
            return cm.clamp_i8_32(cm.requantize_hi32(acc, m, s), zp, lo, hi)
        return cm.clamp_i8(cm.requantize_by(rule, acc, m, s), zp, lo, hi)

    @T.macro
    def body(x, w, bias, mult, shift, x_zp, y_zp, act_min, act_max, y, patch, acc):
        # opaque blocks: S-TIR lowers a scratch buffer to a C array only when blocks touch it
        for oh, pb in T.grid(OH, NB_P):
            with T.sblock("patch"):
                T.reads(x[0:H * W * I])
                T.writes(patch[0:tp * NP])
                T.evaluate(T.call_extern("void", "mbmicro_conv_patches16", patch.access_ptr("w"),
                                         T.address_of(x[0]), H, W, I, KH, KW, S, oh * S - top,
                                         T.min(pb * tp, OW - tp) * S - left, tp, x_zp))
            for kb in T.serial(NB_K):
                with T.sblock("tile"):
                    T.reads(bias[0:O], w[0:O * NP], patch[0:tp * NP])
                    T.writes(acc[0:tp * O])
                    T.evaluate(T.call_extern("void", gemm, T.address_of(acc[T.min(kb * to, O - to)]), O,
                                             T.address_of(bias[T.min(kb * to, O - to)]), patch.access_ptr("r"),
                                             T.address_of(w[T.min(kb * to, O - to) * NP]), NP))
            # requantization apart from the GEMM: its constants and the clamp bounds get the
            # registers the accumulators held, and each channel's are read once per pixel tile
            for o in T.serial(O):
                with T.sblock("y"):
                    T.reads(acc[0:tp * O], mult[o], shift[o])
                    T.writes(y[0:OH * OW * O])
                    for i in T.unroll(tp):
                        y[(oh * OW + T.min(pb * tp, OW - tp) + i) * O + o] = out(
                            acc[i * O + o], mult[o], shift[o], y_zp, act_min, act_max)

    @T.prim_func(s_tir=True)
    def func(x: T.Buffer((H * W * I,), "int8"), w: T.Buffer((O * NP,), "int16"), bias: T.Buffer((O,), "int32"),
             mult: T.Buffer((O,), "int32"), shift: T.Buffer((O,), "int32"), x_zp: T.int32, y_zp: T.int32,
             act_min: T.int32, act_max: T.int32, y: T.Buffer((OH * OW * O,), "int8")):
        patch = T.alloc_buffer((tp * NP,), "int16")
        acc = T.alloc_buffer((tp * O,), "int32")
        body(x, w, bias, mult, shift, x_zp, y_zp, act_min, act_max, y, patch, acc)

    # parameters fixed by the layer leave the C signature (C rejects unused ones)
    fixed = {} if any(pad) else {func.params[5]: 0}
    if full_range:
        fixed.update({func.params[7]: -128, func.params[8]: 127})
    return func.specialize(fixed) if fixed else func
