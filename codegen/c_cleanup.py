"""Textual clean-up: TVM's C output -> one standalone C99 function.

Why text and not a codegen option: TVM 0.27's C host codegen always prints
its runtime includes, ``TVM_DLL``, ``__tvm_ffi__library_ctx`` and an entry
trampoline, and never prints ``const``/``restrict``.  We keep only the body
of the one function we asked for and write its signature ourselves from the
kernel's argument list, so the result depends on nothing but ``stdint.h``.

Every step is checked: a parameter list that does not match the expected
arguments, or a TVM runtime symbol left in the body, raises instead of
producing C that would fail later in someone else's build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mbmicro.codegen.microkernels import include_lines

#: Tokens that must not survive: TVM runtime, heap, workspaces.
_FORBIDDEN = re.compile(r"tvm|TVM|malloc|free\(|Workspace|__builtin_assume|bool\b|math\.h")
_LOCAL_ARRAY = re.compile(r"^\s+(u?int(?:8|16|32|64))_t\s+\w+\[(\d+)\];", re.M)


@dataclass(frozen=True)
class CParam:
    """One C parameter as the kernel wants it printed."""

    name: str
    ctype: str  # e.g. "const int8_t *" or "int32_t"


def _extract(raw: str, name: str) -> tuple[str, str]:
    """Return (raw parameter list, body lines) of the definition of ``name``."""
    pattern = re.compile(r"^TVM_DLL void " + re.escape(name) + r"\((.*)\) \{$", re.M)
    match = pattern.search(raw)
    if match is None:
        raise ValueError(f"definition of {name} not found in TVM output")
    start = match.end() + 1
    end = raw.find("\n}\n", start)
    if end < 0:
        raise ValueError(f"end of {name} not found in TVM output")
    return match.group(1), raw[start:end + 1]


def _check_params(raw_params: str, params: list[CParam]) -> None:
    got = [p.strip() for p in raw_params.split(",")] if raw_params.strip() else []
    names = [re.split(r"[\s*]+", g)[-1] for g in got]
    want = [p.name for p in params]
    if names != want:
        raise ValueError(f"TVM printed parameters {names}, expected {want}")


def _signature(name: str, params: list[CParam], restrict: bool) -> str:
    parts = []
    for p in params:
        if p.ctype.endswith("*"):
            qual = "restrict " if restrict else ""
            parts.append(f"{p.ctype}{qual}{p.name}")
        else:
            parts.append(f"{p.ctype} {p.name}")
    return f"void {name}({', '.join(parts)})"


def scratch_bytes(body: str) -> int:
    """Bytes of local (stack) arrays declared in a function body."""
    return sum(int(n) * int(bits.lstrip("uint")) // 8 for bits, n in _LOCAL_ARRAY.findall(body))


def standalone_c(raw: str, name: str, params: list[CParam], *, restrict: bool = True,
                 doc: str = "", headers: tuple[str, ...] = ()) -> tuple[str, int]:
    """Cut ``name`` out of TVM's C text; return (C99 source, scratch bytes).

    ``restrict`` is put on every pointer unless the kernel may run in place
    (then ``out`` legitimately aliases an input and ``restrict`` would be UB).
    ``headers`` are the micro-kernel headers (codegen/microkernels) whose
    functions the body calls: each is included after ``<stdint.h>``.
    """
    raw_params, body = _extract(raw, name)
    _check_params(raw_params, params)
    bad = _FORBIDDEN.search(body)
    if bad:
        raise ValueError(f"{name}: TVM output still uses {bad.group(0)!r}")
    comment = "".join(f" * {line}".rstrip() + "\n" for line in doc.splitlines())
    header = "#include <stdint.h>\n" + include_lines(headers) + "\n"
    if comment:
        header += "/*\n" + comment + " */\n"
    source = header + _signature(name, params, restrict) + " {\n" + body + "}\n"
    return source, scratch_bytes(body)
