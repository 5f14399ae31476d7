"""Fill a target's linker script with the build's memory budgets.

Why placeholders instead of fixed LENGTHs: ``mbmicro build --sram/--flash``
overrides the board budgets, and the image QEMU runs must be linked against
the same numbers the build was checked against; otherwise a model could be
refused by the check yet link (or the reverse).  The script's ``@NAME@``
fields are replaced with plain byte counts from the (possibly overridden)
Target; stack and heap come from target.json.
"""

from __future__ import annotations

import re

from mbmicro.targets.target import Target


def values(target: Target) -> dict[str, int]:
    """Placeholder name -> bytes for ``target``."""
    return {
        "SRAM_BYTES": target.sram_bytes,
        "FLASH_BYTES": target.flash_bytes,
        "STACK_BYTES": int(target.extra.get("stack_bytes", 0)),
        "HEAP_BYTES": int(target.extra.get("heap_bytes", 0)),
    }


def render(text: str, target: Target) -> str:
    """``text`` with every @NAME@ replaced; an unknown placeholder is a bug in the target folder."""
    table = values(target)

    def fill(m: re.Match) -> str:
        if m.group(1) not in table:
            raise ValueError(f"linker script of {target.name} has unknown placeholder @{m.group(1)}@")
        return str(table[m.group(1)])

    return re.sub(r"@([A-Z_]+)@", fill, text)
