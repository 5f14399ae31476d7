"""TensorIntrins whose implementation calls a micro-kernel of this folder.

Why a registry helper: ``tvm.s_tir.TensorIntrin.register`` is global and
refuses a second registration of a name, while op templates build the same
intrinsic for every layer of a shape (and tests build them from several
threads).  :func:`ensure` registers a name once; the name encodes every
constant the description depends on, so equal names mean equal intrinsics.

Use from a schedule (TVM 0.27 names)::

    name = intrin.gemm("dsp", tp, to, C, xs, ws)   # registered on first use
    sch.tensorize(loop, name)                       # loop: the tp x to x C nest

The impl is ``T.call_extern("void", "mbmicro_<family>_<what>", ...)``; the
op's plan lists the header (``OpPlan.headers``) so the kernel source includes it.
"""

from __future__ import annotations

import threading
from typing import Callable

from tvm import s_tir

_LOCK = threading.Lock()


def ensure(name: str, make: Callable[[], tuple]) -> str:
    """Register ``make() -> (desc, impl)`` as TensorIntrin ``name`` unless it exists."""
    with _LOCK:
        if s_tir.TensorIntrin.get(name, allow_missing=True) is None:
            desc, impl = make()
            s_tir.TensorIntrin.register(name, desc, impl)
    return name


def gemm_function(micro: str, tp: int, to: int) -> str:
    """C name of the GEMM tile micro-kernel (mbmicro_gemm.h)."""
    return f"mbmicro_gemm_{micro}_{tp}x{to}"


def gemm(micro: str, tp: int, to: int, C: int, xs: int, ws: int) -> str:
    """``acc[tp][to] += x[tp][C] * w[to][C]^T`` (int8 -> int32; rows xs / ws apart).

    The description is the reduction block of the pointwise schedule after
    ``decompose_reduction``: spatial i < tp, j < to, reduction k < C.
    """
    func = gemm_function(micro, tp, to)
    return ensure(f"{func}_c{C}_xs{xs}_ws{ws}", lambda: _gemm_pair(func, tp, to, C, xs, ws))


#: TVMScript of the GEMM tile: the description (BODY = the MAC block) and the
#: implementation (BODY = the call).  Text, because a unit axis (a 1-pixel tile, one
#: output channel, C = 1) must keep its loop but get no block iterator -- blockize moves
#: it out of the region, so the workload's block lacks it too -- and the set of
#: iterators is a property of the shape.
_GEMM_SCRIPT = """

@T.prim_func(s_tir=True)
def func(a: T.handle, b: T.handle, c: T.handle):
    X = T.match_buffer(a, ({tp}, {C}), "int8", offset_factor=1, strides=[{xs}, 1])
    W = T.match_buffer(b, ({to}, {C}), "int8", offset_factor=1, strides=[{ws}, 1])
    A = T.match_buffer(c, ({tp}, {to}), "int32", offset_factor=1, strides=[{to}, 1])
    with T.sblock("root"):
        T.reads(A[0:{tp}, 0:{to}], X[0:{tp}, 0:{C}], W[0:{to}, 0:{C}])
        T.writes(A[0:{tp}, 0:{to}])
{body}
"""


def _gemm_pair(func: str, tp: int, to: int, C: int, xs: int, ws: int):
    from tvm.script import parser

    dims = [("i", tp, "S"), ("j", to, "S"), ("k", C, "R")]
    live = [(name, kind) for name, extent, kind in dims if extent > 1]
    at = {name: (f"v{name}" if extent > 1 else "0") for name, extent, _ in dims}
    remap = ""
    if live:
        remap = (f"                {', '.join('v' + n for n, _ in live)} = T.axis.remap("
                 f"\"{''.join(k for _, k in live)}\", [{', '.join(n for n, _ in live)}])\n")
    mac = (f"                A[{at['i']}, {at['j']}] = A[{at['i']}, {at['j']}] + T.Cast(\"int32\", "
           f"X[{at['i']}, {at['k']}]) * T.Cast(\"int32\", W[{at['j']}, {at['k']}])\n")
    desc = (f"        for i, j, k in T.grid({tp}, {to}, {C}):\n"
            f"            with T.sblock(\"update\"):\n" + remap + mac)
    impl = (f"        T.evaluate(T.call_extern(\"void\", \"{func}\", A.access_ptr(\"rw\"), X.access_ptr(\"r\"), "
            f"W.access_ptr(\"r\"), {C}, {xs}, {ws}))\n")
    shape = dict(tp=tp, to=to, C=C, xs=xs, ws=ws)
    return tuple(parser.parse(_GEMM_SCRIPT.format(body=body, **shape), s_tir=True) for body in (desc, impl))
