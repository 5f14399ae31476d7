"""General int8 conv2d: the stem (3x3 stride 2 on 3 channels), strided 1x1 convolutions and
1x1 convolutions of many groups.  (1x1 stride-1 convs with at most ops.DENSE_GROUPS_MAX groups
go to pointwise, on block-diagonal dense weights.)

Schedule template, direct convolution with an output-channel register tile:

    for oh, ow:
      for oo in O / tile_oc:
        acc[tile_oc] = 0                       # unrolled
        for kh, kw, ci in KH x KW x I/groups:  # unrolled if "unroll" and small
          acc[oi] += X(oh*s+kh-pt, ow*s+kw-pl, g(o)*Ig+ci) * w[o, kh, kw, ci]
        y = clamp(requantize(acc + bias') + zy)

Each input value is loaded once per tile and reused tile_oc times.  The stem
reduction is 27 taps, so unrolling all of it is cheap and removes the loop
overhead that dominates 3-channel convolution.  Padding: out-of-image taps
read zx (the folded bias cancels them), tested per tap only on padded sides.
Knobs: tile_oc, unroll (0/1), micro ("mve" for ungrouped convs with small
patches, the stem above all: im2col of two output pixels + the Helium GEMM tile
of codegen/microkernels/mbmicro_mve.h; the default on the Cortex-M55; "dsp" for
ungrouped convs with a patch of at most 256 taps: an int16 im2col + the SMLAD tiles of
mbmicro_conv.h, knob dsp_tile, see :mod:`.conv2d_dsp`; the default on the Cortex-M4/M7).
"""

from __future__ import annotations

from tvm import s_tir, te

from mbmicro.codegen.knobs import fit, pick
from mbmicro.codegen.ops import common as cm
from mbmicro.codegen.ops import conv2d_dsp as dsp
from mbmicro.codegen.ops import mve
from mbmicro.codegen.ops.depthwise import _in_bounds

TILE_OC = [1, 2, 4, 8, 16]
#: Reductions up to this many terms are fully unrolled when "unroll" is on.
UNROLL_LIMIT = 64

_DEFAULTS = {
    "cortex-m4": {"tile_oc": 4, "unroll": 1},
    "cortex-m7": {"tile_oc": 4, "unroll": 1},
    "cortex-m55": {"tile_oc": 8, "unroll": 1},
    "cortex-a53": {"tile_oc": 8, "unroll": 1},
    "host": {"tile_oc": 8, "unroll": 1},
}


def conv_func(H, W, I, O, KH, KW, S, pad, G, knobs, rule="single"):
    top, left, bottom, right = pad
    OH, OW = (H + top + bottom - KH) // S + 1, (W + left + right - KW) // S + 1
    Ig, Og = I // G, O // G
    to = knobs["tile_oc"]
    Op = cm.padded(O, to)
    oc = cm.clamp_index(O, Op)
    x = te.placeholder((H, W, I), "int8", name="x")
    w = te.placeholder((O, KH, KW, Ig), "int8", name="w")
    bias = te.placeholder((O,), "int32", name="bias")
    mult = te.placeholder((O,), "int32", name="mult")
    shift = te.placeholder((O,), "int32", name="shift")
    x_zp = cm.int_var("x_zp")
    y_zp, lo, hi = cm.int_var("y_zp"), cm.int_var("act_min"), cm.int_var("act_max")
    kh, kw = te.reduce_axis((0, KH), name="kh"), te.reduce_axis((0, KW), name="kw")
    ci = te.reduce_axis((0, Ig), name="ci")

    def tap(h, v, c):
        cond = _in_bounds(h - top, v - left, H, W, pad)
        val = x[h - top, v - left, c].astype("int32")
        return val if cond is None else te.if_then_else(cond, val, x_zp)

    chan = (lambda o: ci) if G == 1 else (lambda o: (oc(o) // Og) * Ig + ci)
    acc = te.compute(
        (OH, OW, Op),
        lambda i, j, o: te.sum(tap(i * S + kh, j * S + kw, chan(o)) * w[oc(o), kh, kw, ci].astype("int32"),
                               axis=[kh, kw, ci]),
        name="acc")
    y = te.compute(
        (OH, OW, O),
        lambda i, j, o: cm.clamp_i8(cm.requantize_by(rule, acc[i, j, o] + bias[o], mult[o], shift[o]), y_zp, lo, hi),
        name="y")
    params = [x, w, bias, mult, shift] + ([x_zp] if any(pad) else []) + [y_zp, lo, hi, y]
    sch = s_tir.Schedule(te.create_prim_func(params))
    yb, ab = sch.get_sblock("y"), sch.get_sblock("acc")
    i, j, o = sch.get_loops(yb)
    oo, oi = sch.split(o, [None, to])
    sch.compute_at(ab, oo, preserve_unit_loops=True)
    ao, akh, akw, aci = sch.get_loops(ab)[-4:]
    sch.reorder(akh, akw, aci, ao)
    init = sch.decompose_reduction(ab, akh)
    cm.unroll_all(sch, [ao, oi, sch.get_loops(init)[-1]])
    if knobs["unroll"]:
        cm.unroll_all(sch, [akh, akw] + ([aci] if KH * KW * Ig <= UNROLL_LIMIT else []))
    return sch.mod["main"]


def plan(graph, node, family: str) -> cm.OpPlan:
    H, W, I = cm.nhwc(graph, node.inputs[0])
    O = cm.nhwc(graph, node.outputs[0])[2]
    KH, KW = (int(k) for k in node.attrs["kernel"])
    S = int(node.attrs.get("stride", 1))
    G = int(node.attrs.get("groups", 1))
    pad = tuple(int(p) for p in node.attrs["pad"])
    weight = node.params["weight"].astype("int8")
    args = cm.weighted_args(graph, node, weight, weight, O, pad)
    space = {"tile_oc": fit(TILE_OC, O), "unroll": [1, 0]}
    base = _DEFAULTS.get(family, _DEFAULTS["host"])
    defaults = {key: pick(space[key], base[key]) for key in space}
    pads = "p" + "".join(str(p) for p in pad) if any(pad) else "p0"
    rule = cm.graph_rule(graph)
    plan = cm.OpPlan(
        prefix="cv", spec=f"h{H}w{W}c{I}o{O}k{KH}x{KW}s{S}g{G}{pads}{cm.rule_suffix(rule)}", args=args,
        space=space, defaults=defaults, build=lambda kn: conv_func(H, W, I, O, KH, KW, S, pad, G, kn, rule),
        tag=lambda kn: f"t{kn['tile_oc']}" + ("u" if kn["unroll"] else "r"),
        doc=f"int8 conv2d {KH}x{KW} stride {S} groups {G}: {H}x{W}x{I} -> {O}, SAME pad {pad}",
    )
    OW = (W + pad[1] + pad[3] - KW) // S + 1
    if dsp.eligible(KH, KW, I, G, OW, O):
        _with_dsp(plan, family, graph, node, weight, (H, W, I, O, KH, KW, S, pad), rule)
    if not mve.cv_eligible(KH, KW, I, G):
        return mve.with_mve(plan, family, rule, None, [], offered=False)
    mode = mve.requant_mode(node.params["shift"])
    return mve.with_mve(plan, family, rule, lambda kn: mve.cv_func(H, W, I, O, KH, KW, S, pad, mode),
                        mve.cv_args(graph, node, weight, pad))


def _with_dsp(plan: cm.OpPlan, family: str, graph, node, weight, shape: tuple, rule: str) -> None:
    """Offer micro="dsp" (the SMLAD stem, :mod:`.conv2d_dsp`) with its tile knob; the
    default on the DSP cores, where it is measured faster (the scalar path keeps its
    names and sources)."""
    H, W, I, O, KH, KW, S, pad = shape
    OW = (W + pad[1] + pad[3] - KW) // S + 1
    args, hi32, full = dsp.kernel_args(graph, node, weight, pad)
    tiles = dsp.tiles_for(KH, KW, I, OW, O)
    plan.space = {**plan.space, "micro": ["none", "dsp"], "dsp_tile": tiles}
    plan.defaults = {**plan.defaults, "micro": "dsp" if dsp.is_default(family, I) else "none",
                     "dsp_tile": dsp.default_tile(family, tiles)}
    base_build, base_tag = plan.build, plan.tag
    plan.build = lambda kn: (dsp.conv_dsp_func(H, W, I, O, KH, KW, S, pad, kn["dsp_tile"], rule, hi32, full)
                             if kn["micro"] == "dsp" else base_build(kn))
    suffix = ("h" if hi32 else "") + ("f" if full else "")
    plan.tag = lambda kn: f"d{kn['dsp_tile']}{suffix}" if kn["micro"] == "dsp" else base_tag(kn)
    plan.arg_layout = lambda kn: args if kn["micro"] == "dsp" else plan.args
    plan.headers = lambda kn: (dsp.HEADER,) if kn["micro"] == "dsp" else ()
