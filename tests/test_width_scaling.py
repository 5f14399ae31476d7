"""Width scaling as the reference implementations do it (docs/MODELS.md, "Width").

tests/data/timm_shapes.json holds the conv shapes timm builds for each
family at several widths (written by tools/timm_shapes.py in a venv with
torch and timm; this test needs neither).  Each timm conv is mapped onto
the mbmicro node it corresponds to (``blocks.S.B.conv_pw`` of an
InvertedResidual -> ``s{S+1}b{B+1}.expand``, ...; a timm block Table A
does not have keeps the name it would have).  At width 1.0 Table A wins,
so the convs where Table A and timm differ there are listed here, each
with its reason (KNOWN_TABLE_A_DIFFERENCES).  A block is *shared* when its
expansion, depthwise and projection all agree with timm's at width 1.0
(SE convs may be missing on either side: Table A's SE marks are not
timm's); every conv of a shared block that both have, and the stem and
head where they agree, must have timm's (in, out, kernel, stride, groups)
at every other width in the file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from mbmicro.cli import main
from mbmicro.models.builder import channel_plan, scaled_plan, structure_from_config
from mbmicro.models.details import get_details
from mbmicro.models.options import check_options
from mbmicro.models.specs import MODEL_NAMES, get_spec

DATA = json.loads((Path(__file__).parent / "data" / "timm_shapes.json").read_text())
FAMILIES = DATA["families"]
SCALED_WIDTHS = [w for w in next(iter(FAMILIES.values()))["widths"] if w != "1.0"]

#: Where Table A's model (width 1.0) is not timm's: these convs are not shared.
KNOWN_TABLE_A_DIFFERENCES = {
    # Table A has 3 blocks at 64 channels, timm (and torchvision) 4: timm's s4b4 is extra
    "mobilenetv2": {"s4b4.expand", "s4b4.dw", "s4b4.project"},
    # Table A marks no SE for MnasNet-A1 (timm's semnasnet has it in 3 stages);
    # Table A's stage 4 has 3 blocks (timm: 4)
    "mnasnet-a1": {f"s{s}b{b}.se.{p}" for s, n in ((3, 3), (5, 2), (6, 3)) for b in range(1, n + 1)
                   for p in ("reduce", "expand")} | {"s4b4.expand", "s4b4.dw", "s4b4.project"},
    # Table A's stage 6 has 3 blocks (timm: 4)
    "mnasnet-b1": {"s6b4.expand", "s6b4.dw", "s6b4.project"},
    # no timm model: Table A's own blocks through timm's builder, nothing differs
    "fbnet-b": set(),
    "fbnet-c": {
        # timm's e1 blocks keep a 1x1 conv; Table A's Exp == input means no expansion conv
        "s1b1.expand", "s2b2.expand", "s2b3.expand",
        # Table A: 5x5 depthwise in s2b2 (timm: 3x3)
        "s2b2.dw",
        # Table A's stage 6 is 184 -> 192 -> 184 with Exp 1152 (timm: 184 -> 184 -> 184, 1104);
        # s6b3's depthwise and projection agree at 1.0 only by chance (192 x 5.75 = 184 x 6), so
        # the block is not shared
        "s6b2.expand", "s6b2.dw", "s6b2.project", "s6b3.expand",
    },
    "proxyless-r": set(),
    "single-path-nas": set(),
    # Table A's stem is 32 (timm, paper: 16): the stem and the first block's depthwise and projection
    "mobilenetv3-large": {"stem", "s1b1.dw", "s1b1.project"},
    # Table A marks SE on only some EfficientNet-B0 blocks (timm: every block)
    "efficientnet-b0": {f"s{s}b{b}.se.{p}" for s, b in ((2, 1), (2, 2), (3, 1), (3, 2), (4, 1), (4, 3))
                        for p in ("reduce", "expand")},
    "mixnet-m": {
        # Table A's stage-4 blocks 2-4 expand x3 to 240 (timm: x6 to 480): expansion, depthwise
        # groups, SE and projection of those blocks
        *{f"s4b{b}.{p}" for b in (2, 3, 4)
          for p in ("expand", "dw.g0", "dw.g1", "dw.g2", "dw.g3", "se.reduce", "se.expand", "project")},
        # Table A's fifth 200-channel block (stage 7) is not in timm
        *{f"s7b1.{p}" for p in ("expand", "dw.g0", "dw.g1", "dw.g2", "dw.g3", "se.reduce", "se.expand",
                                "project")},
    },
    # Table A has no SE on ReXNet's last block (timm: SE on it)
    "rexnet": {"s7b1.se.reduce", "s7b1.se.expand"},
}


def _block_names(model: str) -> list[tuple[int, int]]:
    """(stage, block) of every Table A block, in order."""
    return [(s, b) for s, stage in enumerate(get_spec(model)["stages"], start=1)
            for b in range(1, len(stage) + 1)]


_ROLES = {  # timm block class -> its conv's module name -> mbmicro node suffix
    "InvertedResidual": {"conv_pw": "expand", "conv_dw": "dw", "conv_pwl": "project"},
    "DepthwiseSeparableConv": {"conv_dw": "dw", "conv_pw": "project"},
    "ConvBnAct": {"conv": "conv"},
    "LinearBottleneck": {"conv_exp.conv": "expand", "conv_dw.conv": "dw", "conv_pwl.conv": "project"},
}
_SE_ROLES = {"se.conv_reduce": "se.reduce", "se.conv_expand": "se.expand",  # timm SqueezeExcite
             "se.fc1": "se.reduce", "se.fc2": "se.expand"}  # ReXNet's SEModule


def _mbmicro_name(model: str, timm_name: str, blocks: dict[str, str]) -> str:
    """The mbmicro node a timm conv corresponds to (or would, for a block Table A lacks).

    A MixedConv2d part keeps its index: ``conv_dw.2`` -> ``dw.g2``, ``conv_pw.1`` ->
    ``expand.g1`` (the 1x1 parts are merged into one grouped conv by :func:`_merge_groups`).
    """
    parts = timm_name.split(".")
    if parts[0] == "blocks":
        key, rest = ".".join(parts[:3]), parts[3:]
        stage, block = int(parts[1]) + 1, int(parts[2]) + 1
    elif parts[0] == "features":  # ReXNet: one flat list of blocks, then the head conv
        key, rest = ".".join(parts[:2]), parts[2:]
        flat = _block_names(model)
        if int(parts[1]) == len(flat):
            return "head.conv"
        stage, block = flat[int(parts[1])]
    else:
        return {"conv_stem": "stem", "stem.conv": "stem", "classifier": "classifier", "head.fc": "classifier",
                "conv_head": "head.fc" if model == "mobilenetv3-large" else "head.conv"}[timm_name]
    local = ".".join(rest)
    if local in _SE_ROLES:
        return f"s{stage}b{block}.{_SE_ROLES[local]}"
    roles = _ROLES[blocks[key]]
    index = ""
    if local not in roles and rest[-1].isdigit():  # a MixedConv2d part
        local, index = ".".join(rest[:-1]), f".g{rest[-1]}"
    return f"s{stage}b{block}.{roles[local]}{index}"


def _merge_groups(convs: dict[str, tuple]) -> dict[str, tuple]:
    """timm splits MixNet's grouped 1x1s into MixedConv2d parts; mbmicro has one conv
    with groups=2.  Equal 1x1 parts become (sum in, sum out, 1, stride, parts);
    unequal ones a shape no conv has (mbmicro builds those ungrouped)."""
    merged, parts = {}, {}
    for name, shape in convs.items():
        base, _, group = name.rpartition(".g")
        if group.isdigit() and not base.endswith(".dw"):
            parts.setdefault(base, []).append(shape)
        else:
            merged[name] = shape
    for base, shapes in parts.items():
        cin, out, k, stride, _ = shapes[0]
        even = all(s == shapes[0] for s in shapes)
        merged[base] = (cin * len(shapes), out * len(shapes), k, stride, len(shapes) if even else -1)
    return merged


def timm_convs(model: str, width: str) -> dict[str, tuple]:
    """mbmicro name -> timm's (in, out, kernel, stride, groups) at ``width``."""
    family = FAMILIES[model]
    convs = {}
    for name, *shape in family["widths"][width]:
        ours = _mbmicro_name(model, name, family["blocks"])
        assert ours not in convs, f"{model}: two timm convs map onto {ours}"
        convs[ours] = tuple(shape)
    return _merge_groups(convs)


@functools.lru_cache(maxsize=None)
def our_convs(model: str, width: str) -> dict[str, tuple]:
    """Node name -> (in, out, kernel, stride, groups) of every weighted node mbmicro builds."""
    g = structure_from_config(check_options(model, float(width), 32, 1000))
    convs = {}
    for n in g.nodes:
        cin = g.tensors[n.inputs[0]].shape[3]
        out = g.tensors[n.outputs[0]].shape[3]
        if n.op == "conv2d":
            convs[n.name] = (cin, out, n.attrs["kernel"][0], n.attrs["stride"], n.attrs["groups"])
        elif n.op == "depthwise":
            convs[n.name] = (cin, out, n.attrs["kernel"][0], n.attrs["stride"], cin)
        elif n.op == "fully_connected":
            convs[n.name] = (cin, out, 1, 1, 1)
    return convs


def _differing(model: str, width: str) -> set[str]:
    ours, theirs = our_convs(model, width), timm_convs(model, width)
    return {n for n in ours.keys() | theirs.keys() if ours.get(n) != theirs.get(n)}


def shared_convs(model: str) -> set[str]:
    """Convs both have in shared blocks, plus stem, head and classifier where they agree at 1.0."""
    known, ours, theirs = KNOWN_TABLE_A_DIFFERENCES[model], our_convs(model, "1.0"), timm_convs(model, "1.0")
    unshared_blocks = {n.split(".")[0] for n in known if ".se." not in n}
    return {n for n in ours.keys() & theirs.keys()
            if n not in known and n.split(".")[0] not in unshared_blocks}


def test_table_covers_every_model_and_says_where_it_came_from():
    assert tuple(FAMILIES) == MODEL_NAMES
    assert DATA["generated_by"] == "tools/timm_shapes.py" and DATA["torch"] and DATA["timm"]
    assert {"0.35", "0.5", "0.75", "1.0"} <= set(FAMILIES["mobilenetv2"]["widths"])
    assert all(f["source"] for f in FAMILIES.values())


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_table_a_differs_from_timm_only_where_documented(model):
    """At width 1.0 (Table A exactly) the only convs unlike timm's are Table A's known quirks."""
    assert _differing(model, "1.0") == KNOWN_TABLE_A_DIFFERENCES[model]


@pytest.mark.parametrize("width", SCALED_WIDTHS)
@pytest.mark.parametrize("model", MODEL_NAMES)
def test_shared_convs_have_timm_shapes_at_every_width(model, width):
    """Every conv Table A shares with timm has timm's shape at widths 0.35, 0.5, 0.75, 1.4."""
    ours, theirs = our_convs(model, width), timm_convs(model, width)
    shared = shared_convs(model)
    wrong = {n: (ours.get(n), theirs.get(n)) for n in sorted(shared) if ours.get(n) != theirs.get(n)}
    assert not wrong, f"{model} at width {width}: name: (mbmicro, timm) {wrong}"
    assert len(shared) >= 0.75 * len(ours)  # most of every model is compared


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_the_rules_give_table_a_at_width_one(model):
    """Width 1.0 takes Table A's numbers by a separate path; the scaling rules agree with it,
    so the widths around 1.0 are Table A scaled, not another model (ReXNet's schedule included)."""
    assert scaled_plan(model, 1.0) == channel_plan(model, 1.0)


def test_rexnet_schedule_is_table_as_at_width_one():
    """timm's linear schedule (16 + i * 180 / 16, rounded) reproduces Table A's odd ReXNet widths."""
    outs = [b["out"] for stage in get_spec("rexnet")["stages"] for b in stage]
    assert get_details("rexnet").width.outs(outs, 1.0) == outs == [
        16, 27, 38, 50, 61, 72, 84, 95, 106, 117, 128, 140, 151, 162, 174, 185]


def test_mobilenetv2_expands_the_rounded_input(capsys):
    """The issue's example: at 0.35 the first stride-2 block expands its 8 input channels
    x6 = 48 (the old builder scaled Table A's 96 to 32)."""
    assert main(["show", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["s2b1.expand"][2:4] == ["48x48x8", "48x48x48"]


def test_heads_follow_the_reference():
    """EfficientNet and ReXNet heads shrink with the width, MobileNetV2's and ProxylessNAS's
    only grow, the others' stay fixed (MobileNetV3: its 1280 FC)."""
    heads = {m: (channel_plan(m, 0.5).head_conv, channel_plan(m, 1.4).head_conv) for m in MODEL_NAMES}
    assert heads["efficientnet-b0"] == (640, 1792) and heads["rexnet"] == (640, 1792)
    assert heads["mobilenetv2"] == (1280, 1792) and heads["proxyless-r"] == (1280, 1792)
    assert heads["mnasnet-b1"] == (1280, 1280) and heads["mixnet-m"] == (1536, 1536)
    assert heads["fbnet-c"] == (1984, 1984)
    assert (channel_plan("mobilenetv3-large", 0.5).head_fc, channel_plan("mobilenetv3-large", 1.4).head_fc) \
        == (1280, 1280)
