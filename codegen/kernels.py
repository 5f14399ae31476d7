"""Public API: one int8 graph node -> one standalone C99 function.

    lower_node(graph, node, target, knobs=None) -> NodeKernel
    knob_space(graph, node, target) -> dict[str, list]

The graph-level emitter (AOT code, memory planner) codes against exactly
these two calls and the :class:`KernelArg` / :class:`NodeKernel` records.

Why kernels are shared by name: the C function name encodes the op, every
shape constant and every knob value (see ``knobs.kernel_name``), while
per-layer values (weights, folded bias, multipliers, zero points, clamp
bounds) are arguments.  Two layers with the same name therefore have the
same source, and the emitter needs to print it once.  Lowered sources are
cached in-process by name, so identical shapes are built by TVM once.
"""

from __future__ import annotations

import threading

from mbmicro.codegen.c_cleanup import CParam, standalone_c
from mbmicro.codegen.kernel_types import KernelArg, NodeKernel
from mbmicro.codegen.knobs import kernel_name, resolve, target_family
from mbmicro.codegen.ops import plan_for

__all__ = ["KernelArg", "NodeKernel", "lower_node", "knob_space", "clear_cache"]

_CACHE: dict[str, tuple[str, int]] = {}
_LOCK = threading.Lock()


def _node(graph, node):
    return graph.node(node) if isinstance(node, str) else node


def knob_space(graph, node, target) -> dict[str, list]:
    """The knob values a tuner may try for this node (defaults first)."""
    plan = plan_for(graph, _node(graph, node), target_family(target))
    return {k: [plan.defaults[k]] + [v for v in vals if v != plan.defaults[k]]
            for k, vals in plan.space.items()}


def _lower_source(plan, name: str, knobs: dict) -> tuple[str, int]:
    # Imported here: TVM takes ~1 s to import; knob_space does not need it.
    from mbmicro.codegen.tvm_pipeline import build_raw_c

    with _LOCK:
        hit = _CACHE.get(name)
    if hit is not None:
        return hit
    raw = build_raw_c(plan.build(knobs), name)
    params = [CParam(a.name, a.ctype) for a in plan.args_for(knobs)]
    result = standalone_c(raw, name, params, restrict=not plan.inplace, doc=plan.doc,
                          headers=tuple(plan.headers(knobs)))
    with _LOCK:
        _CACHE[name] = result
    return result


def lower_node(graph, node, target, knobs: dict | None = None) -> NodeKernel:
    """Lower one int8 node for ``target`` (a mbmicro.targets.target.Target)."""
    node = _node(graph, node)
    plan = plan_for(graph, node, target_family(target))
    used = resolve(plan.space, plan.defaults, knobs)
    name = kernel_name(plan.prefix, plan.spec, plan.tag(used))
    source, scratch = _lower_source(plan, name, used)
    return NodeKernel(node=node.name, function=name, source=source, args=list(plan.args_for(used)),
                      knobs=used, scratch_bytes=scratch, headers=tuple(sorted(set(plan.headers(used)))))


def clear_cache() -> None:
    """Forget lowered sources (tests use it to check determinism)."""
    with _LOCK:
        _CACHE.clear()
