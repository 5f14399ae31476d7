"""The data the kernel generator hands to the graph-level C emitter.

Kept apart from :mod:`mbmicro.codegen.kernels` so op templates can build
arguments without importing the dispatcher (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelArg:
    """One C parameter of a kernel, in call order.

    kind: "input" | "output" | "const" | "int" | "row" (an int32 the caller passes per call:
          a fused region's loop value, e.g. the wide-ring kernel's first window row)
    name: C parameter name
    ctype: e.g. "const int8_t *", "int8_t *", "const int32_t *", "int32_t"
    value: tensor name (input/output), np.ndarray (const, already in the
           kernel's layout and dtype), int (int)
    """

    kind: str
    name: str
    ctype: str
    value: object


@dataclass
class NodeKernel:
    """One lowered graph node: a C function and how to call it."""

    node: str              # graph node name
    function: str          # C function name (same name => same source)
    source: str            # standalone C99 text, starting with #include <stdint.h> (+ headers)
    args: list[KernelArg]  # in C call order
    knobs: dict            # schedule knob values used
    scratch_bytes: int     # stack scratch the kernel uses (0 if none)
    headers: tuple[str, ...] = ()  # micro-kernel headers the source includes (codegen/microkernels)
