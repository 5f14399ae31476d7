"""Depthwise convolution, any odd kernel (3/5/7/9), stride 1 or 2, TF SAME
padding: channel-blocked and tap-unrolled.

Schedule template (after CMSIS-NN's arm_depthwise_conv_s8_opt, which keeps
4 channel accumulators and walks the taps):

    for oh, ow:                              (pad_mode "branch")
      for co in C / c_block:
        acc[c_block] = 0                     # register block, unrolled
        for kh, kw:                          # unrolled if unroll_taps
          acc[ci] += X(oh*s+kh-pt, ow*s+kw-pl, c) * w[kh, kw, c]
        y = clamp(requantize(acc + bias') + zy)

The input zero point is folded into the bias (bias' = bias - zx * sum w),
so an out-of-image tap must read the value zx (then it adds exactly
zx*w, cancelled by the bias).  Two exact ways, a knob:

* ``branch``: X is ``in_bounds ? x[...] : zx``; one compare per tap, shared
  by the c_block channels of the block;
* ``tile``: for each output row and channel block, a padded tile of
  KH x (W + pl + pr) x c_block int8 values (filled with zx outside the
  image) is copied to the stack and the taps read it unconditionally.  The
  scratch is one row tile, never a padded image.

Channel counts that are not a multiple of c_block re-read the last channel
in the tail block (results discarded), so the inner loops have no bounds
tests.  Knobs: c_block, unroll_taps (0/1), pad_mode, vec_c (0/1), and micro:
"none" (this scalar schedule), "dsp" (:mod:`.depthwise_dsp`: an int16 channel
band and SMLAD, codegen/microkernels/mbmicro_depthwise.h: a whole channel per call
where the 32-bit requantization is exact, else the row micro-kernel; the default on
the Cortex-M4/M7) or "mve" (the Helium row kernel of
codegen/microkernels/mbmicro_mve.h, 16 channels per step, each pixel's tap
window clipped to the image once so that border pixels run only their inside
taps, see :mod:`mbmicro.codegen.ops.mve`; the default on the Cortex-M55) or "neon" (the
A53 row kernel of codegen/microkernels/mbmicro_neon_dw.h: SSUBL + SMLAL on int16
weights, 16 channels per step, border taps skipped, see :mod:`.depthwise_neon`;
the default on the Cortex-A53: MobileNetV2 0.35/96 depthwise 2.89 -> 0.71
instructions per MAC).  The other
knobs do not apply to the micro-kernels.

``vec_c`` = 1 swaps the loop order inside a block to

        for c in c_block:                    # plain countable loop, for gcc
          a = 0; for kh, kw: a += X * w      # taps unrolled, a in a register
        for c in c_block: y = requantize(...)    # separate loop

i.e. a channel loop over contiguous (NHWC) int8 data that gcc's vectorizer
takes as a whole (widening int8 x int8 -> int32 MACs, accumulators in vector
registers across the taps).  It pays only with pad_mode "tile" (or no
padding): a per-tap ``in ? x[..] : zx`` is a conditional load, which gcc
does not vectorize.  Measured (QEMU, 3x3 24x24x96 and 48x48x96 s2): NEON on
the A53 5.7 -> 2.9 instr/MAC; on the M55 9.8 -> 8.8 only, because GCC 12's
MVE back end has no widening int8 -> int16/int32 vector operations at all
(even ``o[i] = (int32_t)a8[i]`` stays scalar), so the loop stays scalar there
but the smaller, rolled body still wins on that one shape; on whole models
the M4's scalar schedule wins on the M55 (see _DEFAULTS).  The M4/M7 measured
no gain.
"""

from __future__ import annotations

from tvm import s_tir, te, tirx

from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import depthwise_dsp as dsp
from mbmicro.codegen.ops import depthwise_neon as neon
from mbmicro.codegen.ops import mve

C_BLOCK = [1, 2, 4, 8, 16]
#: Keep the padded row tile of pad_mode "tile" below this many bytes.
TILE_LIMIT = 4096

_DEFAULTS = {
    "cortex-m4": {"c_block": 4, "unroll_taps": 1, "pad_mode": "branch", "vec_c": 0},
    "cortex-m7": {"c_block": 4, "unroll_taps": 1, "pad_mode": "branch", "vec_c": 0},
    # M55 and A53: chosen on whole models (QEMU, 0.35/96: mnasnet-a1, mobilenetv2,
    # efficientnet-b0; depthwise instructions of c_block/pad_mode/vec_c variants).
    # On the M55 the scalar M4 schedule beats 16-channel tiles by 10-33% (no MVE
    # widening in GCC 12).  On the A53, 16-channel vec_c tiles are best for 3x3
    # (MobileNetV2 1.0/224: 25% fewer depthwise instructions than 8) and 8-channel
    # ones for larger kernels (30-33% fewer on 5x5-heavy models): _LARGE_KERNEL_C_BLOCK.
    "cortex-m55": {"c_block": 4, "unroll_taps": 1, "pad_mode": "branch", "vec_c": 0},
    "cortex-a53": {"c_block": 16, "unroll_taps": 1, "pad_mode": "tile", "vec_c": 1},
    "host": {"c_block": 16, "unroll_taps": 1, "pad_mode": "branch", "vec_c": 0},
}

#: Channel block default for kernels larger than 3x3, where it differs (measured above).
_LARGE_KERNEL_C_BLOCK = {"cortex-a53": 8}

#: Micro-kernel default per target family ("none": the scalar schedule above;
#: "dsp": codegen/ops/depthwise_dsp.py, SMLAD on an int16 channel band).
MICRO_DEFAULTS = {"cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-a53": "neon"}


def _in_bounds(h, w, H: int, W: int, pad):
    """Only the sides that actually have padding are tested."""
    top, left, bottom, right = pad
    conds = []
    if top:
        conds.append(h >= 0)
    if bottom:
        conds.append(h < H)
    if left:
        conds.append(w >= 0)
    if right:
        conds.append(w < W)
    return tirx.all(*conds) if conds else None


def dw_func(H, W, C, KH, KW, S, pad, knobs, rule="single"):
    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1
    cb = knobs["c_block"]
    Cp = cm.padded(C, cb)
    ci = cm.clamp_index(C, Cp)
    x = te.placeholder((H, W, C), "int8", name="x")
    w = te.placeholder((KH, KW, C), "int8", name="w")
    bias = te.placeholder((C,), "int32", name="bias")
    mult = te.placeholder((C,), "int32", name="mult")
    shift = te.placeholder((C,), "int32", name="shift")
    x_zp = cm.int_var("x_zp")
    y_zp, lo, hi = cm.int_var("y_zp"), cm.int_var("act_min"), cm.int_var("act_max")
    kh, kw = te.reduce_axis((0, KH), name="kh"), te.reduce_axis((0, KW), name="kw")
    has_pad = any(pad)
    tile = has_pad and knobs["pad_mode"] == "tile"
    if tile:
        xp = te.compute(
            (H + top + bottom, W + left + right, Cp),
            lambda h, v, c: tirx.if_then_else(
                _in_bounds(h - top, v - left, H, W, pad), x[h - top, v - left, ci(c)], x_zp.astype("int8")),
            name="xpad")
        tap = lambda h, v, c: xp[h, v, c].astype("int32")  # noqa: E731
    else:
        def tap(h, v, c):
            cond = _in_bounds(h - top, v - left, H, W, pad)
            val = x[h - top, v - left, ci(c)].astype("int32")
            return val if cond is None else tirx.if_then_else(cond, val, x_zp)
    acc = te.compute(
        (OH, OW, Cp),
        lambda i, j, c: te.sum(tap(i * S + kh, j * S + kw, c) * w[kh, kw, ci(c)].astype("int32"), axis=[kh, kw]),
        name="acc")
    y = te.compute(
        (OH, OW, C),
        lambda i, j, c: cm.clamp_i8(cm.requantize_by(rule, acc[i, j, c] + bias[c], mult[c], shift[c]), y_zp, lo, hi),
        name="y")
    params = [x, w, bias, mult, shift] + ([x_zp] if has_pad else []) + [y_zp, lo, hi, y]
    sch = s_tir.Schedule(te.create_prim_func(params))
    yb, ab = sch.get_sblock("y"), sch.get_sblock("acc")
    i, j, c = sch.get_loops(yb)
    co, cin = sch.split(c, [None, cb])
    if tile:
        sch.reorder(i, co, j, cin)
        sch.compute_at(ab, j, preserve_unit_loops=True)
        sch.compute_at(sch.get_sblock("xpad"), co, preserve_unit_loops=True)
    else:
        sch.reorder(i, j, co, cin)
        sch.compute_at(ab, co, preserve_unit_loops=True)
    loops = sch.get_loops(ab)
    ac, akh, akw = loops[-3:]
    if not knobs["vec_c"]:
        sch.reorder(akh, akw, ac)
    # vec_c keeps (ac, kh, kw): the channel loop outside the taps, one
    # accumulator per channel that gcc keeps in a (vector) register
    init = sch.decompose_reduction(ab, akh)
    if not knobs["vec_c"]:
        cm.unroll_all(sch, [ac, cin, sch.get_loops(init)[-1]])
    if knobs["unroll_taps"]:
        cm.unroll_all(sch, [akh, akw])
    return sch.mod["main"]


#: Largest tap-unrolled body (taps x channel block) a default schedule emits.
#: Unrolling a 9x9 kernel over a 16-channel block is ~1,300 statements per
#: kernel: MixNet-M's many such shapes then cost megabytes of C and minutes of
#: compile for no measured gain, so big bodies keep the tap loop by default
#: (the tuner may still unroll them).
UNROLL_BODY_LIMIT = 160


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, C = cm.nhwc(graph, node.inputs[0])
    KH, KW = (int(k) for k in node.attrs["kernel"])
    S = int(node.attrs.get("stride", 1))
    pad = tuple(int(p) for p in node.attrs["pad"])
    weight = node.params["weight"].astype("int8")
    args = cm.weighted_args(graph, node, weight, weight.reshape(KH * KW, C).T, C, pad)
    wp = W + pad[1] + pad[3]
    blocks = fit(C_BLOCK, C)
    modes = ["branch"]
    if any(pad) and KH * wp * min(blocks) <= TILE_LIMIT:
        modes.append("tile")
    space = {"c_block": blocks, "unroll_taps": [1, 0], "pad_mode": modes, "vec_c": [0, 1]}
    base = dict(_DEFAULTS.get(family, _DEFAULTS["host"]))
    if KH * KW > 9 and family in _LARGE_KERNEL_C_BLOCK:
        base["c_block"] = _LARGE_KERNEL_C_BLOCK[family]
    defaults = {key: pick(space[key], base[key]) for key in space}
    if defaults["pad_mode"] == "tile":
        # the widest channel block whose padded row tile fits; none fits: branch
        fitting = [b for b in blocks if b <= defaults["c_block"] and KH * wp * b <= TILE_LIMIT]
        if fitting:
            defaults["c_block"] = max(fitting)
        else:
            defaults["pad_mode"] = "branch"
    if defaults["pad_mode"] == "branch" and any(pad):
        defaults["vec_c"] = 0  # conditional tap loads: measured slower (A53 5.7 -> 7.0)
    if KH * KW * defaults["c_block"] > UNROLL_BODY_LIMIT:
        defaults["unroll_taps"] = 0

    space["micro"] = ["none"]
    if dsp.applies(graph, node, weight, (W + pad[1] + pad[3] - KW) // S + 1, KH, S):
        space["micro"].append("dsp")
    if neon.applies(node, weight, family):
        space["micro"].append("neon")
    defaults["micro"] = pick(space["micro"], MICRO_DEFAULTS.get(family, "none"))
    dsp_args, high_word = dsp.kernel_args(graph, node, weight) if "dsp" in space["micro"] else (None, False)
    # the whole-channel C kernel where its 32-bit requantization is exact (default rule only)
    channel = dsp.channel_plan(graph, node, weight) if "dsp" in space["micro"] and cm.graph_rule(graph) == "single" \
        else None
    if channel:
        dsp_args = dsp.channel_args(graph, node, weight, channel[1])
        lo, hi = (int(v) for v in cm.act_bounds(node))
    # a fused region's row copy reading a wide int16 ring (codegen/fused.py): the ring kernel only
    ring = int(node.attrs.get("ring_rows", 0))
    if ring:
        if not channel:
            raise ValueError(f"{node.name}: a wide ring needs the channel kernel (depthwise_dsp.ring_applies)")
        # no knob changes the ring kernel's C: an empty space (nothing to tune, nothing claimed)
        space, defaults = {"micro": ["dsp"]}, {"micro": "dsp"}
        dsp_args = dsp.ring_args(graph, node, weight, channel[1])
        OW = int(graph.tensors[node.outputs[0]].shape[2])
        G = int(graph.tensors[node.outputs[0]].shape[1])
    neon_args = neon.kernel_args(graph, node, weight) if "neon" in space["micro"] else None
    rq = neon.rq_mode(graph, node)
    micro_args = {"dsp": dsp_args, "neon": neon_args}
    micro_headers = {"dsp": (dsp.HEADER,), "neon": neon.HEADERS}

    def build(kn):
        if kn["micro"] == "dsp":
            if ring:
                return dsp.ring_func(C, KH, S, OW, G, ring, channel[0], lo, hi)
            if channel:
                return dsp.channel_func(H, W, C, KH, S, pad, channel[0], lo, hi)
            return dsp.dw_dsp_func(H, W, C, KH, S, pad, rule, high_word)
        if kn["micro"] == "neon":
            return neon.dw_func(H, W, C, KH, KW, S, pad, rq)
        if kn["pad_mode"] == "tile" and KH * wp * kn["c_block"] > TILE_LIMIT:
            raise ValueError(f"pad_mode tile with c_block {kn['c_block']} needs more than {TILE_LIMIT} B")
        return dw_func(H, W, C, KH, KW, S, pad, kn, rule)

    rule = cm.graph_rule(graph)
    pads = "p" + "".join(str(p) for p in pad) if any(pad) else "p0"
    plan = cm.OpPlan(
        prefix="dw", spec=f"h{H}w{W}c{C}k{KH}x{KW}s{S}{pads}{cm.rule_suffix(rule)}" + (f"ring{ring}" if ring else ""), args=args, space=space,
        defaults=defaults, build=build,
        tag=lambda kn: dsp.channel_tag(node, channel[0]) if channel and kn["micro"] == "dsp" else _tag(kn, high_word, rq),
        doc=f"int8 depthwise {KH}x{KW} stride {S} on {H}x{W}x{C}, SAME pad {pad}",
        arg_layout=lambda kn: micro_args.get(kn["micro"]) or args,
        headers=lambda kn: micro_headers.get(kn["micro"], ()),
    )
    mode = mve.requant_mode(node.params["shift"])
    return mve.with_mve(plan, family, rule, lambda kn: mve.dw_func(H, W, C, KH, KW, S, pad, mode),
                        mve.dw_args(graph, node, weight, pad))


def _tag(kn: dict, high_word: bool, rq: int) -> str:
    """Knob part of the kernel name; the DSP band and NEON row kernels ignore the scalar
    schedule's knobs; the DSP one has two requantization forms (constants decide: "h" is the
    32-bit high-word one), the NEON one three (its ``rq`` mode, a digit)."""
    if kn["micro"] == "dsp":
        return "dsph" if high_word else "dsp"
    if kn["micro"] == "neon":
        return f"neon{rq}"
    return f"b{kn['c_block']}{'u' if kn['unroll_taps'] else 'r'}{kn['pad_mode'][0]}" + ("v" if kn["vec_c"] else "")
