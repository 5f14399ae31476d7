"""Table A (tests/data/table_a_mbconv_specs.txt) transcribed as data.

Why a transcription and not a parser: the table is the source of truth for
the architectures and it never changes, so the package keeps it as plain
Python data that needs no file at run time; tests/test_specs.py parses the
text file independently and checks this copy block by block.

Quirks are kept exactly as printed (Table A wins over the papers):
MobileNetV3-Large's stem is 32 (paper: 16), MnasNet-A1 has no SE, EfficientNet-B0
has SE only on the starred blocks, MixNet-M's stage 4 expands to 240 and has
a fifth 200-channel block, FBNet's 184 -> 192 -> 184 stage, ReXNet's odd widths.

Shape of a spec (also the JSON of ``mbmicro show MODEL --json``)::

    {"name": "mobilenetv2", "stem": 32,
     "stages": [[{"op": "mbconv", "exp": 32, "out": 16, "stride": 1,
                  "kernel": [3], "se": False}], ...]}   # 7 stages

MobileNetV3-Large's stage 7 is a plain 1x1 conv:
``{"op": "conv", "out": 960, "stride": 1, "kernel": [1], "se": False}``.
"""

from __future__ import annotations

import copy

from mbmicro.errors import UserError

#: Model names in Table A order.
MODEL_NAMES = (
    "mobilenetv2",
    "mnasnet-a1",
    "mnasnet-b1",
    "fbnet-b",
    "fbnet-c",
    "proxyless-r",
    "single-path-nas",
    "mobilenetv3-large",
    "efficientnet-b0",
    "mixnet-m",
    "rexnet",
)


def _b(exp: int, out: int, stride: int, kernel: int | tuple[int, ...], se: bool = False) -> dict:
    """One MBConv block: (Exp-Out, Stride, Kernel) and the table's ``*`` as se."""
    kernels = [kernel] if isinstance(kernel, int) else list(kernel)
    return {"op": "mbconv", "exp": exp, "out": out, "stride": stride, "kernel": kernels, "se": se}


_SE = True
_MIX4 = (3, 5, 7, 9)

_TABLE_A: dict[str, tuple[int, list[list[dict]]]] = {
    "mobilenetv2": (32, [
        [_b(32, 16, 1, 3)],
        [_b(96, 24, 2, 3), _b(144, 24, 1, 3)],
        [_b(144, 32, 2, 3), _b(192, 32, 1, 3), _b(192, 32, 1, 3)],
        [_b(192, 64, 2, 3), _b(384, 64, 1, 3), _b(384, 64, 1, 3)],
        [_b(384, 96, 1, 3), _b(576, 96, 1, 3), _b(576, 96, 1, 3)],
        [_b(576, 160, 2, 3), _b(960, 160, 1, 3), _b(960, 160, 1, 3)],
        [_b(960, 320, 1, 3)],
    ]),
    "mnasnet-a1": (32, [
        [_b(32, 16, 1, 3)],
        [_b(96, 24, 2, 3), _b(144, 24, 1, 3)],
        [_b(72, 40, 2, 5), _b(120, 40, 1, 5), _b(120, 40, 1, 5)],
        [_b(240, 80, 2, 3), _b(480, 80, 1, 3), _b(480, 80, 1, 3)],
        [_b(480, 112, 1, 3), _b(672, 112, 1, 3)],
        [_b(672, 160, 2, 5), _b(960, 160, 1, 5), _b(960, 160, 1, 5)],
        [_b(960, 320, 1, 3)],
    ]),
    "mnasnet-b1": (32, [
        [_b(32, 16, 1, 3)],
        [_b(48, 24, 2, 3), _b(72, 24, 1, 3), _b(72, 24, 1, 3)],
        [_b(72, 40, 2, 5), _b(120, 40, 1, 5), _b(120, 40, 1, 5)],
        [_b(240, 80, 2, 5), _b(480, 80, 1, 5), _b(480, 80, 1, 5)],
        [_b(480, 96, 1, 3), _b(576, 96, 1, 3)],
        [_b(576, 192, 2, 5), _b(1152, 192, 1, 5), _b(1152, 192, 1, 5)],
        [_b(1152, 320, 1, 3)],
    ]),
    "fbnet-b": (16, [
        [_b(16, 16, 1, 3)],
        [_b(96, 24, 2, 3), _b(24, 24, 1, 5), _b(24, 24, 1, 3), _b(24, 24, 1, 3)],
        [_b(144, 32, 2, 5), _b(96, 32, 1, 5), _b(192, 32, 1, 3), _b(192, 32, 1, 5)],
        [_b(192, 64, 2, 5), _b(64, 64, 1, 5), _b(192, 64, 1, 5)],
        [_b(384, 112, 1, 5), _b(112, 112, 1, 3), _b(112, 112, 1, 5), _b(336, 112, 1, 5)],
        [_b(672, 184, 2, 5), _b(1152, 192, 1, 5), _b(1104, 184, 1, 5), _b(1104, 184, 1, 5)],
        [_b(1104, 352, 1, 3)],
    ]),
    "fbnet-c": (16, [
        [_b(16, 16, 1, 3)],
        [_b(96, 24, 2, 3), _b(24, 24, 1, 5), _b(24, 24, 1, 3)],
        [_b(144, 32, 2, 5), _b(96, 32, 1, 5), _b(192, 32, 1, 5), _b(192, 32, 1, 3)],
        [_b(192, 64, 2, 5), _b(192, 64, 1, 5), _b(384, 64, 1, 5), _b(384, 64, 1, 5)],
        [_b(384, 112, 1, 5), _b(672, 112, 1, 5), _b(672, 112, 1, 5), _b(336, 112, 1, 5)],
        [_b(672, 184, 2, 5), _b(1152, 192, 1, 5), _b(1104, 184, 1, 5), _b(1104, 184, 1, 5)],
        [_b(1104, 352, 1, 3)],
    ]),
    "proxyless-r": (32, [
        [_b(32, 16, 1, 3)],
        [_b(48, 32, 2, 5), _b(96, 32, 1, 3)],
        [_b(96, 40, 2, 7), _b(120, 40, 1, 3), _b(120, 40, 1, 5), _b(120, 40, 1, 5)],
        [_b(240, 80, 2, 7), _b(240, 80, 1, 5), _b(240, 80, 1, 5), _b(240, 80, 1, 5)],
        [_b(480, 96, 1, 5), _b(288, 96, 1, 5), _b(288, 96, 1, 5), _b(288, 96, 1, 5)],
        [_b(576, 192, 2, 7), _b(1152, 192, 1, 7), _b(576, 192, 1, 7), _b(576, 192, 1, 7)],
        [_b(1152, 320, 1, 7)],
    ]),
    "single-path-nas": (32, [
        [_b(32, 16, 1, 3)],
        [_b(48, 24, 2, 3), _b(72, 24, 1, 3), _b(72, 24, 1, 3)],
        [_b(144, 40, 2, 5), _b(120, 40, 1, 3), _b(120, 40, 1, 3), _b(120, 40, 1, 3)],
        [_b(240, 80, 2, 5), _b(240, 80, 1, 3), _b(240, 80, 1, 3), _b(240, 80, 1, 3)],
        [_b(480, 96, 1, 5), _b(288, 96, 1, 5), _b(288, 96, 1, 5), _b(288, 96, 1, 5)],
        [_b(576, 192, 2, 5), _b(1152, 192, 1, 5), _b(1152, 192, 1, 5), _b(1152, 192, 1, 5)],
        [_b(1152, 320, 1, 3)],
    ]),
    "mobilenetv3-large": (32, [
        [_b(32, 16, 1, 3)],
        [_b(64, 24, 2, 3), _b(72, 24, 1, 3)],
        [_b(72, 40, 2, 5, _SE), _b(120, 40, 1, 5, _SE), _b(120, 40, 1, 5, _SE)],
        [_b(240, 80, 2, 3), _b(200, 80, 1, 3), _b(184, 80, 1, 3), _b(184, 80, 1, 3)],
        [_b(480, 112, 1, 3, _SE), _b(672, 112, 1, 3, _SE)],
        [_b(672, 160, 2, 5, _SE), _b(960, 160, 1, 5, _SE), _b(960, 160, 1, 5, _SE)],
        [{"op": "conv", "out": 960, "stride": 1, "kernel": [1], "se": False}],
    ]),
    "efficientnet-b0": (32, [
        [_b(32, 16, 1, 3, _SE)],
        [_b(96, 24, 2, 3), _b(144, 24, 1, 3)],
        [_b(144, 40, 2, 5), _b(240, 40, 1, 5)],
        [_b(240, 80, 2, 3), _b(480, 80, 1, 3, _SE), _b(480, 80, 1, 3)],
        [_b(480, 112, 1, 5, _SE), _b(672, 112, 1, 5, _SE), _b(672, 112, 1, 5, _SE)],
        [_b(672, 192, 2, 5, _SE), _b(1152, 192, 1, 5, _SE), _b(1152, 192, 1, 5, _SE),
         _b(1152, 192, 1, 5, _SE)],
        [_b(1152, 320, 1, 3, _SE)],
    ]),
    "mixnet-m": (24, [
        [_b(24, 24, 1, 3)],
        [_b(144, 32, 2, (3, 5, 7)), _b(96, 32, 1, 3)],
        [_b(192, 40, 2, _MIX4, _SE), _b(240, 40, 1, (3, 5), _SE), _b(240, 40, 1, (3, 5), _SE),
         _b(240, 40, 1, (3, 5), _SE)],
        [_b(240, 80, 2, (3, 5, 7), _SE), _b(240, 80, 1, _MIX4, _SE), _b(240, 80, 1, _MIX4, _SE),
         _b(240, 80, 1, _MIX4, _SE)],
        [_b(480, 120, 1, 3, _SE), _b(360, 120, 1, _MIX4, _SE), _b(360, 120, 1, _MIX4, _SE),
         _b(360, 120, 1, _MIX4, _SE)],
        [_b(720, 200, 2, _MIX4, _SE), _b(1200, 200, 1, _MIX4, _SE), _b(1200, 200, 1, _MIX4, _SE),
         _b(1200, 200, 1, _MIX4, _SE)],
        [_b(1200, 200, 1, _MIX4, _SE)],
    ]),
    "rexnet": (32, [
        [_b(32, 16, 1, 3)],
        [_b(96, 27, 2, 3), _b(162, 38, 1, 3)],
        [_b(228, 50, 2, 3, _SE), _b(300, 61, 1, 3, _SE)],
        [_b(366, 72, 2, 3, _SE), _b(432, 84, 1, 3, _SE), _b(504, 95, 1, 3, _SE)],
        [_b(570, 106, 1, 3, _SE), _b(636, 117, 1, 3, _SE), _b(702, 128, 1, 3, _SE)],
        [_b(768, 140, 2, 3, _SE), _b(840, 151, 1, 3, _SE), _b(906, 162, 1, 3, _SE),
         _b(972, 174, 1, 3, _SE)],
        [_b(1044, 185, 1, 3)],
    ]),
}


def check_model_name(name: str) -> str:
    """Return the canonical model name; unknown names are a UserError.

    Case and ``_`` vs ``-`` are forgiven (``MobileNetV2``, ``mnasnet_a1``).
    """
    canonical = str(name).strip().lower().replace("_", "-")
    if canonical not in _TABLE_A:
        raise UserError(f"unknown model '{name}': choose one of {', '.join(MODEL_NAMES)} "
                        "(see 'mbmicro models')")
    return canonical


def get_spec(name: str) -> dict:
    """Table A entry of one model at width 1.0 (a fresh copy the caller may change)."""
    canonical = check_model_name(name)
    stem, stages = _TABLE_A[canonical]
    return {"name": canonical, "stem": stem, "stages": copy.deepcopy(stages)}
