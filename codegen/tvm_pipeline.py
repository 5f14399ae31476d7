"""From a scheduled TIR PrimFunc to the raw C text TVM prints for it.

Why a pipeline of our own: the stock host finalization runs
``LowerTVMBuiltin``, which turns scratch buffers above ~1 KB into
``TVMBackendAllocWorkspace`` calls, and ``MakePackedAPI`` wraps every
function with ``calling_conv == 0`` in the packed-FFI calling convention.  A
microcontroller kernel wants neither: it wants a plain C function taking
plain pointers, with its (small, bounded) scratch as local arrays.  So we

1. turn every buffer parameter into a plain typed pointer plus a
   ``DeclBuffer`` (the only form ``MakePackedAPI`` leaves alone),
2. mark the function ``calling_conv = 1`` (not the default), and
3. register a TIR pipeline that is the stock S-TIR lowering with a host
   finalization reduced to ``LowerIntrin`` (no ``LowerTVMBuiltin``).

The text that comes out still carries TVM's includes, ``TVM_DLL`` and an
FFI trampoline; :mod:`mbmicro.codegen.c_cleanup` strips those.
"""

from __future__ import annotations

import tvm
from tvm import tirx
from tvm.ir import PointerType, PrimType
from tvm.tirx import compilation_pipeline as _cp

PIPELINE_NAME = "mbmicro_c"

#: PassContext config for every kernel build.  Assertions would need the
#: TVM runtime; vectorized TIR prints invalid C (``int32_t4``), and gcc
#: auto-vectorizes the scalar loops anyway.
BUILD_CONFIG = {
    "tirx.disable_assert": True,
    "tirx.disable_vectorize": True,
}


def _host_finalize() -> tvm.transform.Pass:
    """Host finalization without LowerTVMBuiltin: scratch stays a C array."""
    return tvm.ir.transform.Sequential([tirx.transform.LowerIntrin()])


def _pipeline_factory():
    base, _host, device = _cp.PIPELINE_MAP["s_tir"]()
    return base, _host_finalize, device


def _register() -> None:
    if PIPELINE_NAME not in _cp.PIPELINE_MAP:
        _cp.register_tir_pipeline(PIPELINE_NAME, _pipeline_factory)


_register()


def _pointer_type(buffer_type) -> PointerType:
    dtype = buffer_type.dtype
    return PointerType(dtype if isinstance(dtype, PrimType) else PrimType(dtype))


def to_pointer_params(func: tirx.PrimFunc) -> tirx.PrimFunc:
    """Replace buffer parameters by typed pointers bound with DeclBuffer.

    Scalar parameters (int32 zero points, clamp bounds) are kept as is.  The
    buffer variables themselves are reused, so the body needs no rewriting.
    """
    params, decls = [], []
    for param in func.params:
        if isinstance(param.ty, tirx.BufferType):
            ptr = tirx.Var(param.name, _pointer_type(param.ty))
            params.append(ptr)
            decls.append(tirx.DeclBuffer(param, data=ptr))
        else:
            params.append(param)
    body = tirx.SeqStmt(decls + [func.body])
    return tirx.PrimFunc(params, body, func.ret_type, func.attrs)


def build_raw_c(func: tirx.PrimFunc, name: str) -> str:
    """Lower a scheduled PrimFunc named ``name`` and return TVM's C text."""
    func = to_pointer_params(func)
    func = func.with_attr("global_symbol", name).with_attr("calling_conv", 1)
    func = func.with_attr("tirx.noalias", True)
    with tvm.transform.PassContext(opt_level=3, config=BUILD_CONFIG):
        module = tvm.tirx.build(func, target="c", pipeline=PIPELINE_NAME)
    return module.inspect_source()
