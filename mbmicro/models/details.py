"""What Table A leaves out, per model: nonlinearities, SE squeeze and gate,
residual rule, stem activation, head, MixNet's channel split and grouped 1x1s,
and how the family's reference implementation scales channels at a width
other than 1.0 (WidthRule; docs/MODELS.md, "Width").

Why a separate file: Table A (mbmicro/models/specs.py) says "we omitted other
details, such as nonlinearities"; those details come from each paper (and its
reference code) and are written down here once, so the builder has no
per-model ``if`` chains and docs/MODELS.md has one place to agree with.
Where Table A disagrees with a paper, Table A wins and a comment says so.

Activation names are graph.ACTIVATION_FUNCS: relu/relu6 end up fused into the
producing conv, the others become separate ``act`` nodes (builder's rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from mbmicro.models.specs import MODEL_NAMES, check_model_name


def make_divisible(value: float, divisor: int = 8) -> int:
    """The MobileNet channel rule: nearest multiple of ``divisor``, at least
    ``divisor``, and never more than 10% below ``value`` (timm's
    ``make_divisible`` with its defaults, bit for bit: float arithmetic and
    all, since the test compares with timm's shapes)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def scaled(channels: int, width: float) -> int:
    """timm's ``round_channels``: ``channels`` times ``width`` to a multiple of 8."""
    return make_divisible(channels * width, 8)


@dataclass(frozen=True)
class WidthRule:
    """How a family's reference implementation sets channels at a width != 1.0.

    Why per family: the references agree on the MBConv rule (the expansion
    is the block's ratio times the *already rounded* input channels, rounded
    again) but not on the rest: MobileNetV3 keeps its stem below width 0.75,
    EfficientNet and ReXNet shrink their heads, ReXNet rounds to 1 channel
    and grows its widths linearly.  A scaled Table A model is comparable
    with published ones only when it is scaled as they are (docs/MODELS.md,
    "Width"; tests/test_width_scaling.py checks it against timm).

    Functions take Table A's (or details') width-1.0 numbers and the width.
    """

    #: the code these rules are read from
    reference: str
    #: (Table A stem, width) -> stem channels
    stem: Callable[[int, float], int] = scaled
    #: (Table A's Out of every block in order, width) -> scaled Outs
    outs: Callable[[list[int], float], list[int]] = lambda outs, width: [scaled(c, width) for c in outs]
    #: (scaled block input, Table A's Exp / Table A's block input) -> expansion channels
    mid: Callable[[int, float], int] = lambda cin, ratio: make_divisible(cin * ratio, 8)
    #: (head width at 1.0, width) -> head width (head conv, or MobileNetV3's head FC)
    head: Callable[[int, float], int] = lambda head, width: head


def _head_at_least(head: int, width: float) -> int:
    """MobileNetV2 (timm) and ProxylessNAS: the head grows with the width but never shrinks."""
    return max(head, scaled(head, width))


def _mobilenetv3_stem(stem: int, width: float) -> int:
    """timm's MobileNetV3 (``fix_stem=channel_multiplier < 0.75``): no stem scaling below 0.75."""
    return stem if width < 0.75 else scaled(stem, width)


#: ReXNet-1.0's linear channel schedule (timm rexnet.py ``_block_cfg``):
#: block i (0-based, of 16) outputs round((16 + i * 180 / 16) * width); below
#: width 1 the start is 16 / width, so the first block stays at 16.  At width
#: 1.0 it is exactly Table A's 16, 27, 38, ..., 185 (a test checks it).
REXNET_INITIAL, REXNET_FINAL = 16, 180


def _rexnet_outs(outs: list[int], width: float) -> list[int]:
    """ReXNet's schedule for Table A's ``len(outs)`` blocks, accumulated in
    floating point in timm's order (the roundings depend on it)."""
    base = REXNET_INITIAL / width if width < 1.0 else REXNET_INITIAL
    result = []
    for _ in outs:
        result.append(make_divisible(round(base * width), 1))
        base += REXNET_FINAL / (len(outs) * 1.0)
    return result


def _rexnet_stem(stem: int, width: float) -> int:
    """timm ReXNet: the stem's base is 32 / width below 1, i.e. it keeps 32 channels."""
    base = stem / width if width < 1.0 else stem
    return make_divisible(round(base * width), 1)


_TIMM_EFFNET = "timm EfficientNetBuilder (timm/models/_efficientnet_builder.py, _efficientnet_blocks.py)"


@dataclass(frozen=True)
class ModelDetails:
    """Per-model choices the builder needs beyond Table A.

    Callables take ``stage`` (1..7) and ``block`` (1-based index in the stage)
    or the block's (scaled) channel counts, so a rule reads like the paper
    (or, for widths and SE squeezes, like its reference code).
    """

    name: str
    title: str
    reference: str
    stem_act: str
    #: (stage, se) -> (activation after the expansion conv, after the depthwise)
    block_acts: Callable[[int, bool], tuple[str, str]]
    #: width != 1.0: how the reference implementation scales channels
    width: WidthRule = WidthRule(_TIMM_EFFNET)
    #: SE: (stage, mid, ratio) -> squeeze width, where mid is the block's
    #: (scaled) expansion and ratio Table A's Exp / block input; act inside SE; gate
    se_squeeze: Callable[[int, int, float], int] | None = None
    se_act: str = "relu"
    se_gate: str = "sigmoid"
    #: "equal": add when stride 1 and in == out; "partial": also when in < out
    residual: str = "equal"
    head_conv: int | None = 1280
    head_act: str = "relu"
    #: MobileNetV3 only: Table A's stage-7 "Conv2D" activation, and the
    #: fully_connected (width, act) between pooling and the classifier
    conv_stage_act: str = "none"
    head_fc: tuple[int, str] | None = None
    #: (stage, block) -> (expansion groups, projection groups); MixNet only
    groups: Callable[[int, int], tuple[int, int]] = field(default=lambda stage, block: (1, 1))
    notes: tuple[str, ...] = ()


def _same(act: str) -> Callable[[int, bool], tuple[str, str]]:
    return lambda stage, se: (act, act)


# MixNet-M grouped 1x1s, from the TF mixnet_m builder (a1.1 / p1.1 = 2 groups),
# mapped onto Table A blocks by position.  Table A's stage 7 (a fifth 200-channel
# block the builder does not have) gets no grouping.
_MIXNET_GROUPED = {
    (2, 1): (2, 2), (2, 2): (2, 2),
    (3, 2): (2, 2), (3, 3): (2, 2), (3, 4): (2, 2),
    (4, 2): (2, 2), (4, 3): (2, 2), (4, 4): (2, 2),
    (5, 2): (2, 2), (5, 3): (2, 2), (5, 4): (2, 2),
    (6, 2): (1, 2), (6, 3): (1, 2), (6, 4): (1, 2),
}

# MixNet-M SE ratio (of the block input) per stage, from the TF builder:
# se0.5 in stages 3, 5, 6 (and Table A's extra stage-7 block), se0.25 in stage 4.
_MIXNET_SE_RATIO = {3: 0.5, 4: 0.25, 5: 0.5, 6: 0.5, 7: 0.5}


def _se_of_block_input(se_ratio: Callable[[int], float]) -> Callable[[int, int, float], int]:
    """timm's EfficientNet and MixNet SE (``se_from_exp=False``): the ratio is
    of the block input, applied as round(mid * (se_ratio / exp_ratio)), the
    way the builder computes it (equal to int(input * se_ratio) whenever
    mid = input * exp_ratio exactly, e.g. at width 1.0)."""
    return lambda stage, mid, ratio: max(1, round(mid * (se_ratio(stage) / ratio)))

DETAILS: dict[str, ModelDetails] = {
    "mobilenetv2": ModelDetails(
        name="mobilenetv2", title="MobileNetV2", reference="Sandler et al., CVPR 2018",
        stem_act="relu6", block_acts=_same("relu6"), head_conv=1280, head_act="relu6",
        # timm: num_features = max(1280, round_chs_fn(1280)) (fix_stem_head=False)
        width=WidthRule("timm mobilenetv2_100 (efficientnet.py _gen_mobilenet_v2)", head=_head_at_least),
    ),
    "mnasnet-a1": ModelDetails(
        name="mnasnet-a1", title="MnasNet-A1", reference="Tan et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
        width=WidthRule("timm semnasnet_100 (efficientnet.py _gen_mnasnet_a1)"),
        # The paper's A1 has SE in its 40-, 112- and 160-channel stages; Table A
        # marks none, and Table A wins: no SE.
        notes=("Table A has no SE for MnasNet-A1 (the paper has SE in 3 stages); Table A wins.",),
    ),
    "mnasnet-b1": ModelDetails(
        name="mnasnet-b1", title="MnasNet-B1", reference="Tan et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
        width=WidthRule("timm mnasnet_100 (efficientnet.py _gen_mnasnet_b1)"),
    ),
    "fbnet-b": ModelDetails(
        name="fbnet-b", title="FBNet-B", reference="Wu et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1984, head_act="relu",
        # timm has no FBNet-B: scaled as its FBNet-C (fbnetc_100), head 1984 fixed
        width=WidthRule("timm fbnetc_100's rules (timm has no FBNet-B)"),
        # FBNet's e1 blocks with 2-group 1x1s + channel shuffle and its skip
        # blocks are not in Table A; Table A wins (plain blocks, no skips).
        notes=("FBNet's grouped (g2 + shuffle) and skip blocks are not in Table A and are not built.",),
    ),
    "fbnet-c": ModelDetails(
        name="fbnet-c", title="FBNet-C", reference="Wu et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1984, head_act="relu",
        width=WidthRule("timm fbnetc_100 (efficientnet.py _gen_fbnetc)"),
        notes=("FBNet's grouped (g2 + shuffle) and skip blocks are not in Table A and are not built.",),
    ),
    "proxyless-r": ModelDetails(
        name="proxyless-r", title="ProxylessNAS-R (mobile)", reference="Cai et al., ICLR 2019",
        stem_act="relu6", block_acts=_same("relu6"), head_conv=1280, head_act="relu6",
        # timm has no ProxylessNAS: its reference code (mit-han-lab/proxylessnas,
        # super_proxyless.py and layers.py MBInvertedConvLayer) scales stem and
        # widths with make_divisible(c * w, 8), expands to round(input * ratio)
        # and keeps the 1280 head up to width 1.
        width=WidthRule("ProxylessNAS reference code (mit-han-lab/proxylessnas; timm has none)",
                        mid=lambda cin, ratio: round(cin * ratio), head=_head_at_least),
    ),
    "single-path-nas": ModelDetails(
        name="single-path-nas", title="Single-Path NAS", reference="Stamoulis et al., ECML PKDD 2019",
        # The paper builds on MobileNetV2-style MBConv blocks, but the authors'
        # code (enyac-group/single-path-nas, derived from the TF MnasNet code)
        # uses ReLU in the stem, every block and the head.  We follow the code.
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
        width=WidthRule("timm spnasnet_100 (efficientnet.py _gen_spnasnet)"),
        notes=("ReLU (not ReLU6): the authors' code, built on the TF MnasNet code, uses tf.nn.relu.",),
    ),
    "mobilenetv3-large": ModelDetails(
        name="mobilenetv3-large", title="MobileNetV3-Large", reference="Howard et al., ICCV 2019",
        # Paper: ReLU in the first 6 bnecks (Table A stages 1-3), h-swish after.
        stem_act="hswish",
        block_acts=lambda stage, se: ("relu", "relu") if stage <= 3 else ("hswish", "hswish"),
        # timm (se_from_exp=True, rd_round_fn=round_channels): a quarter of the expansion
        se_squeeze=lambda stage, mid, ratio: make_divisible(mid * 0.25, 8),
        se_act="relu", se_gate="hsigmoid",
        head_conv=None, conv_stage_act="hswish", head_fc=(1280, "hswish"),
        # timm: stem unscaled below 0.75; the 1280 head FC fixed at every width
        width=WidthRule("timm mobilenetv3_large_100 (mobilenetv3.py _gen_mobilenet_v3)",
                        stem=_mobilenetv3_stem),
        notes=("Table A's stem is 32 (the paper: 16); Table A wins.",),
    ),
    "efficientnet-b0": ModelDetails(
        name="efficientnet-b0", title="EfficientNet-B0", reference="Tan & Le, ICML 2019",
        stem_act="swish", block_acts=_same("swish"),
        se_squeeze=_se_of_block_input(lambda stage: 0.25),
        se_act="swish", se_gate="sigmoid",
        head_conv=1280, head_act="swish",
        # timm: num_features = round_chs_fn(1280), the head shrinks with the width
        width=WidthRule("timm efficientnet_b0 (efficientnet.py _gen_efficientnet)", head=scaled),
        notes=("The paper has SE in every block; Table A marks only some (`*`); Table A wins.",),
    ),
    "mixnet-m": ModelDetails(
        name="mixnet-m", title="MixNet-M", reference="Tan & Le, BMVC 2019",
        # TF builder: "_sw" (swish) exactly on the SE blocks, ReLU elsewhere.
        stem_act="relu",
        block_acts=lambda stage, se: ("swish", "swish") if se else ("relu", "relu"),
        se_squeeze=_se_of_block_input(_MIXNET_SE_RATIO.__getitem__),
        se_act="swish", se_gate="sigmoid",
        head_conv=1536, head_act="relu",
        width=WidthRule("timm mixnet_m (efficientnet.py _gen_mixnet_m)"),
        groups=lambda stage, block: _MIXNET_GROUPED.get((stage, block), (1, 1)),
        notes=(
            "Table A's stage-4 blocks 2-4 expand to 240 (the TF builder: 480); Table A wins.",
            "Table A has five 200-channel blocks (the TF builder: four); the fifth is built ungrouped.",
        ),
    ),
    "rexnet": ModelDetails(
        name="rexnet", title="ReXNet (1.0x)", reference="Han et al., CVPR 2021",
        # Reference code: swish after stem/expansion, ReLU6 after the depthwise,
        # SE = reduce (exp // 12) + ReLU, expand + sigmoid.  The code applies
        # ReLU6 after SE; we fuse it into the depthwise (before SE), the
        # uniform block order (see docs/MODELS.md).
        stem_act="swish", block_acts=lambda stage, se: ("swish", "relu6"),
        # timm rexnet.py: make_divisible(int(mid * (1 / 12.)), 1), = mid // 12 at width 1.0
        se_squeeze=lambda stage, mid, ratio: make_divisible(int(mid * (1 / 12.)), 1),
        se_act="relu", se_gate="sigmoid",
        residual="partial", head_conv=1280, head_act="swish",
        # timm rexnet_100 (ch_div=1): round to 1 channel, the linear schedule
        # (REXNET_INITIAL/FINAL), stem kept at 32 below width 1, head 1280 * w
        width=WidthRule("timm rexnet_100 (rexnet.py, ch_div=1)", stem=_rexnet_stem, outs=_rexnet_outs,
                        mid=lambda cin, ratio: make_divisible(round(cin * ratio), 1),
                        head=lambda head, width: make_divisible(head * width, 1)),
        notes=("ReLU6 is fused into the depthwise, so it comes before SE (the reference code: after SE).",),
    ),
}

assert tuple(DETAILS) == MODEL_NAMES


def get_details(name: str) -> ModelDetails:
    """Details of one model (unknown names are a UserError)."""
    return DETAILS[check_model_name(name)]


def split_channels(total: int, parts: int) -> list[int]:
    """MixConv's channel split: as even as possible, remainder to the first group."""
    sizes = [total // parts] * parts
    sizes[0] += total - sum(sizes)
    return sizes
