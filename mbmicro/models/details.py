"""What Table A leaves out, per model: nonlinearities, SE squeeze and gate,
residual rule, stem activation, head, MixNet's channel split and grouped 1x1s.

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
    ``divisor``, and never more than 10% below ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class ModelDetails:
    """Per-model choices the builder needs beyond Table A.

    Callables take ``stage`` (1..7) and ``block`` (1-based index in the stage)
    or the block's (scaled) channel counts, so a rule reads like the paper.
    """

    name: str
    title: str
    reference: str
    stem_act: str
    #: (stage, se) -> (activation after the expansion conv, after the depthwise)
    block_acts: Callable[[int, bool], tuple[str, str]]
    #: SE: (stage, block_in, exp) -> squeeze width; act inside SE; gate function
    se_squeeze: Callable[[int, int, int], int] | None = None
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

DETAILS: dict[str, ModelDetails] = {
    "mobilenetv2": ModelDetails(
        name="mobilenetv2", title="MobileNetV2", reference="Sandler et al., CVPR 2018",
        stem_act="relu6", block_acts=_same("relu6"), head_conv=1280, head_act="relu6",
    ),
    "mnasnet-a1": ModelDetails(
        name="mnasnet-a1", title="MnasNet-A1", reference="Tan et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
        # The paper's A1 has SE in its 40-, 112- and 160-channel stages; Table A
        # marks none, and Table A wins: no SE.
        notes=("Table A has no SE for MnasNet-A1 (the paper has SE in 3 stages); Table A wins.",),
    ),
    "mnasnet-b1": ModelDetails(
        name="mnasnet-b1", title="MnasNet-B1", reference="Tan et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
    ),
    "fbnet-b": ModelDetails(
        name="fbnet-b", title="FBNet-B", reference="Wu et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1984, head_act="relu",
        # FBNet's e1 blocks with 2-group 1x1s + channel shuffle and its skip
        # blocks are not in Table A; Table A wins (plain blocks, no skips).
        notes=("FBNet's grouped (g2 + shuffle) and skip blocks are not in Table A and are not built.",),
    ),
    "fbnet-c": ModelDetails(
        name="fbnet-c", title="FBNet-C", reference="Wu et al., CVPR 2019",
        stem_act="relu", block_acts=_same("relu"), head_conv=1984, head_act="relu",
        notes=("FBNet's grouped (g2 + shuffle) and skip blocks are not in Table A and are not built.",),
    ),
    "proxyless-r": ModelDetails(
        name="proxyless-r", title="ProxylessNAS-R (mobile)", reference="Cai et al., ICLR 2019",
        stem_act="relu6", block_acts=_same("relu6"), head_conv=1280, head_act="relu6",
    ),
    "single-path-nas": ModelDetails(
        name="single-path-nas", title="Single-Path NAS", reference="Stamoulis et al., ECML PKDD 2019",
        # The paper builds on MobileNetV2-style MBConv blocks, but the authors'
        # code (enyac-group/single-path-nas, derived from the TF MnasNet code)
        # uses ReLU in the stem, every block and the head.  We follow the code.
        stem_act="relu", block_acts=_same("relu"), head_conv=1280, head_act="relu",
        notes=("ReLU (not ReLU6): the authors' code, built on the TF MnasNet code, uses tf.nn.relu.",),
    ),
    "mobilenetv3-large": ModelDetails(
        name="mobilenetv3-large", title="MobileNetV3-Large", reference="Howard et al., ICCV 2019",
        # Paper: ReLU in the first 6 bnecks (Table A stages 1-3), h-swish after.
        stem_act="hswish",
        block_acts=lambda stage, se: ("relu", "relu") if stage <= 3 else ("hswish", "hswish"),
        se_squeeze=lambda stage, block_in, exp: make_divisible(exp / 4, 8),
        se_act="relu", se_gate="hsigmoid",
        head_conv=None, conv_stage_act="hswish", head_fc=(1280, "hswish"),
        notes=("Table A's stem is 32 (the paper: 16); Table A wins.",),
    ),
    "efficientnet-b0": ModelDetails(
        name="efficientnet-b0", title="EfficientNet-B0", reference="Tan & Le, ICML 2019",
        stem_act="swish", block_acts=_same("swish"),
        se_squeeze=lambda stage, block_in, exp: max(1, int(block_in * 0.25)),
        se_act="swish", se_gate="sigmoid",
        head_conv=1280, head_act="swish",
        notes=("The paper has SE in every block; Table A marks only some (`*`); Table A wins.",),
    ),
    "mixnet-m": ModelDetails(
        name="mixnet-m", title="MixNet-M", reference="Tan & Le, BMVC 2019",
        # TF builder: "_sw" (swish) exactly on the SE blocks, ReLU elsewhere.
        stem_act="relu",
        block_acts=lambda stage, se: ("swish", "swish") if se else ("relu", "relu"),
        se_squeeze=lambda stage, block_in, exp: max(1, int(block_in * _MIXNET_SE_RATIO[stage])),
        se_act="swish", se_gate="sigmoid",
        head_conv=1536, head_act="relu",
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
        se_squeeze=lambda stage, block_in, exp: max(1, exp // 12),
        se_act="relu", se_gate="sigmoid",
        residual="partial", head_conv=1280, head_act="swish",
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
