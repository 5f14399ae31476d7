"""Schedule knobs: named, per-target defaults, and deterministic kernel names.

Why knobs are plain dicts of small ints/strings: a later tuner only has to
enumerate ``knob_space`` values and call ``lower_node(..., knobs=...)``; it
never touches a schedule.  Defaults are picked per *target family* (the core
name), because what matters is the register file and SIMD width:

* ``cortex-m4`` / ``cortex-m7``: 13 usable core registers and 32-bit DSP
  SIMD only, so register tiles stay small (2x4 pointwise, 4-channel blocks);
* ``cortex-m55``: Helium has 8 vector registers of 16 int8 lanes, but GCC
  12's MVE auto-vectorizer has no int8 widening (int8 -> int16/int32) at
  all, so the int8 MAC loops TVM prints stay scalar; pointwise, fully
  connected, depthwise and the stem therefore default to ``micro="mve"``,
  hand-written Helium micro-kernels (codegen/microkernels/mbmicro_mve.h,
  codegen/ops/mve.py); the scalar knobs keep the measured-best scalar
  schedules for ``micro="none"``;
* ``cortex-a53`` / ``host``: 31 (or 16) 128-bit registers, larger tiles.
"""

from __future__ import annotations

import hashlib
from typing import Any

FAMILIES = ("host", "cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53")

#: Kernel names longer than this get a stable sha1 suffix instead of a tail.
MAX_NAME = 64


def target_family(target: Any) -> str:
    """Map a :class:`mbmicro.targets.target.Target` (or a name) to a family."""
    if isinstance(target, str):
        texts = [target]
    else:
        tvm_target = getattr(target, "tvm_target", {}) or {}
        texts = [str(tvm_target.get("mcpu", "")), getattr(target, "name", ""),
                 getattr(target, "core", ""), getattr(target, "board_name", "")]
    for text in texts:
        low = text.lower()
        for fam in ("cortex-m55", "cortex-m4", "cortex-m7", "cortex-a53"):
            if fam in low or fam.replace("cortex-", "") == low:
                return fam
    return "host"


def resolve(space: dict[str, list], defaults: dict[str, Any], given: dict | None) -> dict:
    """Defaults overridden by ``given``; every value must be in ``space``."""
    knobs = dict(defaults)
    for key, value in (given or {}).items():
        if key not in space:
            raise ValueError(f"unknown knob {key!r}; known: {sorted(space)}")
        knobs[key] = value
    for key, value in knobs.items():
        if value not in space[key]:
            raise ValueError(f"knob {key}={value!r} not in {space[key]}")
    return knobs


def fit(values: list[int], limit: int) -> list[int]:
    """Values not above ``limit`` (at least the smallest one)."""
    kept = [v for v in values if v <= limit]
    return kept or [min(values)]


def pick(space_values: list, wanted):
    """The largest space value not above ``wanted`` (numbers) or ``wanted``."""
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        below = [v for v in space_values if v <= wanted]
        return max(below) if below else min(space_values)
    return wanted if wanted in space_values else space_values[0]


def kernel_name(prefix: str, spec: str, tag: str) -> str:
    """``mbk_<prefix>_<spec>_<tag>``, or a sha1-suffixed short form if long.

    Deterministic by construction: same inputs, same name; the hash is of the
    full name, so two different long names never collide in practice.
    """
    full = f"mbk_{prefix}_{spec}_{tag}" if tag else f"mbk_{prefix}_{spec}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha1(full.encode()).hexdigest()[:10]
    return f"{full[:MAX_NAME - 11]}_{digest}"
