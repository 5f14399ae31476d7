"""Estimated cycles: the plugin's instruction mix weighted by a core's cycles per class.

Why an estimate beside the instruction count: QEMU has no timing model, and instructions
alone flatter some cores (a Helium instruction takes two beats, an M4 load two cycles).
The counting plugin puts every executed instruction in a class (targets/common/
insn_class.h); ``targets/<core>/cycles.json`` gives cycles per class from the core's
Technical Reference Manual, with its approximations written next to the numbers. The
result is labelled an estimate wherever it is shown: no caches, no stalls, no overlap.
"""

from __future__ import annotations

import json
from pathlib import Path

from mbmicro.targets.target import Target

TABLE_FILE = "cycles.json"
EXTRA = "extra_registers"


def table_path(target: Target) -> Path:
    """The core's table: a board uses its core's (same instructions, same costs)."""
    return (target.core_folder or target.folder) / TABLE_FILE


def load_table(target: Target) -> dict | None:
    """The core's cycles-per-class table, or None when the target has none (e.g. the host)."""
    path = table_path(target)
    if not path.is_file():
        return None
    table = json.loads(path.read_text())
    if not isinstance(table.get("cycles"), dict) or "extra_register" not in table:
        raise RuntimeError(f"{path} needs 'cycles' (cycles per class) and 'extra_register'")
    return table


def estimate(mix: dict[str, int], table: dict) -> int:
    """Estimated cycles of one region's mix (rounded to whole cycles).

    A class in the mix that the table does not price is a bug in the table (the plugin and
    the table must name the same classes), so it raises instead of guessing."""
    cycles = table["cycles"]
    missing = [c for c in mix if c != EXTRA and c not in cycles]
    if missing:
        raise RuntimeError(f"cycles table has no entry for instruction class(es) {', '.join(missing)}")
    total = sum(n * cycles[c] for c, n in mix.items() if c != EXTRA)
    total += mix.get(EXTRA, 0) * table["extra_register"]
    return int(round(total))


def instructions(mix: dict[str, int]) -> int:
    """Instructions of a mix (every class; the extra registers are not instructions)."""
    return sum(n for c, n in mix.items() if c != EXTRA)
