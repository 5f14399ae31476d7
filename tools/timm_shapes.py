"""Write tests/data/timm_shapes.json: the conv shapes of the timm model of
every Table A family at several widths.

Why: at width != 1 a Table A model must have the shapes its family's
reference implementation has (docs/MODELS.md, "Width").  timm implements
all of them with one set of channel rules; this script records what timm
actually builds, so tests/test_width_scaling.py can compare mbmicro's
builder with it without torch.

Every nn.Conv2d and nn.Linear of the timm model (random init, no weights
downloaded) is written in module order as
``[module name, in, out, kernel, stride, groups]`` (a Linear is a 1x1 conv),
under ``families[model]["widths"]["0.35"]`` and so on.  The timm class of
each block is in ``families[model]["blocks"]`` (``{"blocks.2.0":
"InvertedResidual", ...}``) because the meaning of a name depends on it
(``conv_pw`` is the expansion of an InvertedResidual but the projection of
a DepthwiseSeparableConv).

timm has no FBNet-B and no ProxylessNAS-R: for those two the script
builds *Table A's blocks* with timm's EfficientNet builder (``ir`` blocks
with Table A's Exp / input ratio, ``ds`` where Table A has no expansion),
stem and head as timm's FBNet-C and ProxylessNAS's reference code (head
1280 up to width 1). That checks the rules, not an independent
architecture; the file says so in each family's ``source``.

Run it in a venv with torch and timm (not a dependency of mbmicro)::

    python3 -m venv /tmp/timm-venv
    /tmp/timm-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/timm-venv/bin/pip install timm --no-deps
    /tmp/timm-venv/bin/pip install huggingface_hub safetensors pyyaml
    PYTHONPATH=. /tmp/timm-venv/bin/python tools/timm_shapes.py [-o tests/data/timm_shapes.json]

(``PYTHONPATH=.`` lets it read Table A from mbmicro/models/specs.py, which
imports nothing but the standard library and mbmicro.errors.)
"""

from __future__ import annotations

import argparse
import json
import re
from functools import partial
from pathlib import Path

import timm
import torch
from timm.models import efficientnet as tefn
from timm.models import mobilenetv3 as tmnv3
from timm.models._efficientnet_builder import decode_arch_def, round_channels

from mbmicro.models.specs import get_spec

WIDTHS = (0.35, 0.5, 0.75, 1.0, 1.4)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "timm_shapes.json"


def _effnet(gen, variant: str):
    """A timm EfficientNet-builder family: its private generator takes channel_multiplier
    (``kwargs`` such as num_classes go to the model, for tools/timm_export.py)."""
    return lambda w, **kwargs: gen(variant, channel_multiplier=w, pretrained=False, **kwargs)


def _table_a_arch(model: str) -> list[list[str]]:
    """Table A's blocks of ``model`` as timm arch strings (one stage per Table A stage)."""
    spec = get_spec(model)
    cin, stages = spec["stem"], []
    for stage in spec["stages"]:
        strings = []
        for b in stage:
            (k,) = b["kernel"]
            if b["exp"] == cin:
                strings.append(f"ds_r1_k{k}_s{b['stride']}_c{b['out']}")
            else:
                strings.append(f"ir_r1_k{k}_s{b['stride']}_e{b['exp'] / cin!r}_c{b['out']}")
            cin = b["out"]
        stages.append(strings)
    return stages


def _table_a_with_timm(model: str, stem: int, head: int, head_rule):
    """Table A's ``model`` built by timm's EfficientNet builder at width w."""
    def build(w: float, **kwargs):
        return tefn.EfficientNet(
            block_args=decode_arch_def(_table_a_arch(model)), stem_size=stem,
            num_features=head_rule(head, w), round_chs_fn=partial(round_channels, multiplier=w), **kwargs)
    return build


#: family -> (what was built, how to build it at width w)
FAMILIES = {
    "mobilenetv2": ("timm mobilenetv2_100 (timm.models.efficientnet._gen_mobilenet_v2)",
                    _effnet(tefn._gen_mobilenet_v2, "mobilenetv2_100")),
    "mnasnet-a1": ("timm semnasnet_100 (timm.models.efficientnet._gen_mnasnet_a1)",
                   _effnet(tefn._gen_mnasnet_a1, "semnasnet_100")),
    "mnasnet-b1": ("timm mnasnet_100 (timm.models.efficientnet._gen_mnasnet_b1)",
                   _effnet(tefn._gen_mnasnet_b1, "mnasnet_100")),
    "fbnet-b": ("no timm model: Table A's FBNet-B blocks through timm's EfficientNet builder, "
                "stem 16 and head 1984 as timm's fbnetc_100",
                _table_a_with_timm("fbnet-b", 16, 1984, lambda h, w: h)),
    "fbnet-c": ("timm fbnetc_100 (timm.models.efficientnet._gen_fbnetc)",
                _effnet(tefn._gen_fbnetc, "fbnetc_100")),
    "proxyless-r": ("no timm model: Table A's ProxylessNAS-R blocks through timm's EfficientNet builder, "
                    "head 1280 up to width 1 and make_divisible(1280 w, 8) above "
                    "(mit-han-lab/proxylessnas, search/models/super_nets/super_proxyless.py)",
                    _table_a_with_timm("proxyless-r", 32, 1280,
                                       lambda h, w: h if w <= 1.0 else round_channels(h, w))),
    "single-path-nas": ("timm spnasnet_100 (timm.models.efficientnet._gen_spnasnet)",
                        _effnet(tefn._gen_spnasnet, "spnasnet_100")),
    "mobilenetv3-large": ("timm mobilenetv3_large_100 (timm.models.mobilenetv3._gen_mobilenet_v3)",
                          _effnet(tmnv3._gen_mobilenet_v3, "mobilenetv3_large_100")),
    "efficientnet-b0": ("timm efficientnet_b0 (timm.models.efficientnet._gen_efficientnet)",
                        _effnet(tefn._gen_efficientnet, "efficientnet_b0")),
    "mixnet-m": ("timm mixnet_m (timm.models.efficientnet._gen_mixnet_m)",
                 _effnet(tefn._gen_mixnet_m, "mixnet_m")),
    "rexnet": ("timm rexnet_100 (timm.create_model('rexnet_100', width_mult=w))",
               lambda w, **kwargs: timm.create_model("rexnet_100", pretrained=False, width_mult=w, **kwargs)),
}

#: timm's own multiplier variants, checked against the generator at the same width
NAMED_VARIANTS = {
    ("mobilenetv2", 0.35): "mobilenetv2_035", ("mobilenetv2", 0.5): "mobilenetv2_050",
    ("mobilenetv2", 0.75): "mobilenetv2_075", ("mobilenetv2", 1.4): "mobilenetv2_140",
    ("mnasnet-a1", 0.5): "semnasnet_050", ("mnasnet-a1", 0.75): "semnasnet_075",
    ("mnasnet-a1", 1.4): "semnasnet_140", ("mnasnet-b1", 0.5): "mnasnet_050",
    ("mnasnet-b1", 0.75): "mnasnet_075", ("mnasnet-b1", 1.4): "mnasnet_140",
    ("mobilenetv3-large", 0.75): "mobilenetv3_large_075",
}


def _square(v) -> int:
    """A conv's kernel or stride as one int (every conv here is square)."""
    if isinstance(v, int):
        return v
    assert v[0] == v[1], v
    return int(v[0])


def conv_shapes(model: torch.nn.Module) -> list[list]:
    """[name, in, out, kernel, stride, groups] of every Conv2d / Linear, in module order."""
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            rows.append([name, m.in_channels, m.out_channels, _square(m.kernel_size),
                         _square(m.stride), m.groups])
        elif isinstance(m, torch.nn.Linear):
            rows.append([name, m.in_features, m.out_features, 1, 1, 1])
    return rows


def block_classes(model: torch.nn.Module, convs: list[list]) -> dict[str, str]:
    """Class name of the block (``blocks.S.B`` or ReXNet's ``features.I``) holding each conv."""
    modules = dict(model.named_modules())
    out = {}
    for name, *_ in convs:
        parts = name.split(".")
        depth = 3 if parts[0] == "blocks" else 2 if parts[0] == "features" else 0
        if depth and len(parts) > depth:
            key = ".".join(parts[:depth])
            out[key] = type(modules[key]).__name__
    return out


def table() -> dict:
    """The whole file: versions, then per family its source and shapes per width."""
    families = {}
    for name, (source, build) in FAMILIES.items():
        widths, blocks = {}, None
        for w in WIDTHS:
            model = build(w)
            convs = conv_shapes(model)
            variant = NAMED_VARIANTS.get((name, w))
            if variant:
                named = conv_shapes(timm.create_model(variant, pretrained=False))
                assert named == convs, f"{variant} differs from {name} at width {w}"
            classes = block_classes(model, convs)
            assert blocks in (None, classes), f"{name}: blocks change with the width"
            blocks, widths[repr(w)] = classes, convs
        families[name] = {"source": source, "blocks": blocks, "widths": widths}
    return {"generated_by": "tools/timm_shapes.py", "torch": torch.__version__, "timm": timm.__version__,
            "row": "[timm module name, in, out, kernel, stride, groups]", "families": families}


def dump(data: dict) -> str:
    """JSON with one conv row per line: readable, and small diffs when timm changes."""
    text = json.dumps(data, indent=1)
    row = re.compile(r'\[\s*("[^"]*"(?:,\s*-?\d+)+)\s*\]')
    return row.sub(lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    torch.manual_seed(0)
    data = table()
    args.out.write_text(dump(data))
    print(f"wrote {args.out}: {len(data['families'])} families, widths {', '.join(map(repr, WIDTHS))}, "
          f"torch {data['torch']}, timm {data['timm']}")


if __name__ == "__main__":
    main()
