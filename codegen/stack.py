"""The model's own stack need: the worst call chain through its functions, from the compiler.

Why from the compiler: the kernels keep their scratch on the stack
(NodeKernel.scratch_bytes), and how much of it the compiler keeps in
registers, spills or inlines is known only after compiling.  gcc's
``-fstack-usage`` gives each function's frame and ``-fcallgraph-info=su``
who calls whom (a ``.ci`` file per object, VCG text); the need is the
largest sum of frames along a call chain from ``<prefix>_run`` or
``<prefix>_run_with_arena``.  Functions outside the model (``memset``,
which gcc may call for a zeroing loop) have no frame in these files: they
are named in the result, not counted.  This is the model's stack only; the
test program's stack and heap allowances are the target's (target.json).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: Flags that make gcc write ``.su`` and ``.ci`` files beside each object (gcc >= 10).
STACK_FLAGS = "-fstack-usage -fcallgraph-info=su"

_NODE = re.compile(r'^node: \{ title: "([^"]+)" label: "([^"]*)"', re.M)
_EDGE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', re.M)
_FRAME = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


@dataclass
class StackNeed:
    """Bytes of the worst chain (None: not measured or unbounded), and why."""

    bytes: int | None
    method: str
    chain: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"bytes": self.bytes, "method": self.method, "chain": self.chain, "external": self.external}


def parse_callgraph(texts: list[str]) -> tuple[dict[str, tuple[int, str]], dict[str, set[str]]]:
    """(function -> (frame bytes, qualifier), caller -> callees) of gcc .ci files."""
    frames: dict[str, tuple[int, str]] = {}
    calls: dict[str, set[str]] = {}
    for text in texts:
        for name, label in _NODE.findall(text):
            m = _FRAME.search(label)
            if m:
                frames[name] = (int(m.group(1)), m.group(2))
        for src, dst in _EDGE.findall(text):
            calls.setdefault(src, set()).add(dst)
    return frames, calls


def worst_chain(entries: list[str], frames: dict[str, tuple[int, str]], calls: dict[str, set[str]],
                how: str) -> StackNeed:
    """The largest sum of frames on a call chain from any of ``entries``.

    Recursion or a frame of unbounded dynamic size gives ``bytes=None`` with the reason.
    """
    best: dict[str, tuple[int, list[str]]] = {}
    external: set[str] = set()

    def visit(fn: str, path: tuple[str, ...]) -> tuple[int, list[str]]:
        if fn in path:
            raise _Unbounded(f"recursion through {fn}")
        if fn in best:
            return best[fn]
        if fn not in frames:
            external.add(fn)
            return 0, []
        size, kind = frames[fn]
        if "dynamic" in kind and "bounded" not in kind:
            raise _Unbounded(f"{fn} allocates a dynamic amount of stack")
        below = max((visit(c, path + (fn,)) for c in sorted(calls.get(fn, ()))), default=(0, []),
                    key=lambda r: r[0])
        best[fn] = (size + below[0], [fn, *below[1]])
        return best[fn]

    present = [e for e in entries if e in frames]
    if not present:
        return StackNeed(None, f"not measured: {' / '.join(entries)} not in the call graph")
    try:
        total, chain = max((visit(e, ()) for e in present), key=lambda r: r[0])
    except _Unbounded as exc:
        return StackNeed(None, f"unbounded: {exc} ({how})")
    return StackNeed(total, how, chain, sorted(external))


class _Unbounded(Exception):
    pass


def measure(folder: Path, objects: list[str], prefix: str) -> StackNeed:
    """Read the .ci files gcc wrote beside ``objects`` in ``folder`` and remove them with the .su files.

    Why remove: they are compiler products like the objects, and the result is in the report.
    """
    texts = []
    for obj in objects:
        for suffix in (".ci", ".su"):
            path = folder / Path(obj).with_suffix(suffix)
            if suffix == ".ci" and path.is_file():
                texts.append(path.read_text())
            path.unlink(missing_ok=True)
    if len(texts) != len(objects):
        return StackNeed(None, "not measured: the compiler wrote no call graph (-fcallgraph-info)")
    frames, calls = parse_callgraph(texts)
    how = f"measured: {STACK_FLAGS}, worst call chain of {' + '.join(objects)}"
    return worst_chain([f"{prefix}_run", f"{prefix}_run_with_arena"], frames, calls, how)
