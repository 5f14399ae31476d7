"""The stack high-water mark the profile program prints after painting its stack.

Why a line on stdout: the profile program (codegen/runtime/mbmicro_main.c built with
-DMBMICRO_PROFILE, painting in mbmicro_stack.c) runs the same way under QEMU system mode
(semihosting) and user mode, and stdout is the one channel both hand back.  The line is
``MBMICRO STACK used=<bytes> window=<bytes> floor=<bytes>``: bytes from main's frame down to
the deepest word the model call touched, down to the bottom of the painted window (used
equal to window: the run went at least that deep), and down to its top (used equal to
floor: no painted word was touched, the run needed at most that much; the painting
function's own frame lies above the window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^MBMICRO STACK used=(\d+) window=(\d+) floor=(\d+)\r?$", re.M)


@dataclass(frozen=True)
class PaintedStack:
    used: int     #: bytes below main's frame the model call touched (a few words of main's frame included)
    window: int   #: bytes below main's frame down to the bottom of the painted window
    floor: int    #: bytes below main's frame down to its top: the smallest figure painting tells apart

    @property
    def overflowed(self) -> bool:
        """The whole window was touched: the run needed at least ``window`` bytes."""
        return self.used >= self.window

    @property
    def untouched(self) -> bool:
        """No painted word was touched: the run needed at most ``floor`` bytes."""
        return self.used <= self.floor


def parse(stdout: str) -> PaintedStack | None:
    """The last stack line in ``stdout``; None if the program printed none (a folder built
    before stack painting, or a program without -DMBMICRO_PROFILE)."""
    found = _LINE.findall(stdout)
    if not found:
        return None
    return PaintedStack(*map(int, found[-1]))
