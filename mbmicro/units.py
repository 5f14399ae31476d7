"""Byte sizes: one way to read them from the command line and one way to print them.

Why binary units only: microcontroller datasheets and linker scripts count
memory in powers of two ("256 KB SRAM" is 262,144 bytes), so ``K``, ``KB`` and
``KiB`` all mean 1024 here, ``M``/``MB``/``MiB`` 1024**2 and ``G``/``GB``/``GiB``
1024**3, in any letter case.  A decimal (``1.5M``) is accepted when it names a
whole number of bytes, and digit groups (``65,536``) when they are well formed,
so every size mbmicro prints can be pasted back into a flag.

Printing has two forms, one per purpose: :func:`format_bytes` for a count that
must be exact (``65,536 B``: what a model needs, what a file holds) and
:func:`format_size` for a round capacity in a table (``64 KiB``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from mbmicro.errors import UserError

#: suffix (lower case) -> bytes
UNITS = {"": 1, "b": 1,
         "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
         "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
         "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}

#: the largest size any flag takes: a bound so a typo of twenty digits cannot reach a linker script
MAX_BYTES = 1 << 40

_SIZE = re.compile(r"([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+(?:\.[0-9]+)?) ?([a-z]*)", re.I | re.ASCII)


def parse_bytes(text: str, flag: str, minimum: int = 1, maximum: int = MAX_BYTES) -> int:
    """'65536', '64K', '64KB', '64KiB', '1.5M', '65,536 B' -> bytes; anything else is a UserError
    (one line naming ``flag``, the value and what to write instead)."""
    m = _SIZE.fullmatch(str(text).strip(" "))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in UNITS:
        raise UserError(f"{flag} {text!r} is not a size: pass a number of bytes with an optional unit "
                        f"K/KB/KiB, M/MB/MiB or G/GB/GiB (all binary: K = 1024), e.g. {flag} 256K")
    try:
        exact = Decimal(m.group(1).replace(",", "")) * UNITS[unit]
    except InvalidOperation:  # unreachable for what the pattern admits; kept so no traceback can escape
        raise UserError(f"{flag} {text!r} is not a size: write e.g. {flag} 256K") from None
    if exact != exact.to_integral_value():
        raise UserError(f"{flag} {text!r} is {exact} bytes, not a whole number: pass whole bytes, "
                        f"e.g. {flag} {int(exact):,}")
    value = int(exact)
    if not minimum <= value <= maximum:
        raise UserError(f"{flag} {text!r} is {format_bytes(value)}: pass {format_bytes(minimum)} "
                        f"to {format_size(maximum)}")
    return value


def format_bytes(n: int) -> str:
    """An exact byte count: 65536 -> '65,536 B'."""
    return f"{int(n):,} B"


def format_size(n: int) -> str:
    """A size in the largest binary unit it reaches, at most two decimals: 65536 -> '64 KiB',
    5767168 -> '5.5 MiB', 1000 -> '1000 B'.  Rounded: use format_bytes where exactness matters."""
    n = int(n)
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.2f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{n} B"
