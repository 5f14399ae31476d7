"""Knobs for a build from tuning logs: the best verified record per kernel, defaults elsewhere.

Why matched by (core family, kernel key, knob space version): the key encodes everything the
kernel's source depends on besides the knobs, and the version changes whenever a schedule's
knob space does, so a record is only applied to exactly the kernel it measured.
"""

from __future__ import annotations

from mbmicro.tune import log as tlog
from mbmicro.tune.measure import kernel_of


def tuned_knobs(graph, target, records: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(knobs per node name for codegen.aot.lower_graph, the record used per node name; a record
    carries ``"changed"``: whether its knobs differ from the defaults)."""
    knobs, used = {}, {}
    board = target.name if getattr(target, "board", None) is not None else None
    for node in graph.nodes:
        kernel = kernel_of(graph, node, target)
        record = tlog.best_for_build(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults,
                                     board=board)
        if record is not None:
            knobs[node.name] = dict(record["knobs"])
            used[node.name] = dict(record, changed=record["knobs"] != kernel.defaults)
    return knobs, used


def summary(paths: list[str], used: dict[str, dict], graph, fused: frozenset[str] = frozenset()) -> dict:
    """What build.json and the report say about the logs: which layers' kernels came from them.

    ``fused``: the layers that run as row kernels of a fused region (``--memory``,
    codegen/fused.py). Their records were measured on the whole-tensor kernel, which the
    build does not use for them, so they take the row kernel's defaults and are listed
    as ``layers_fused`` instead of ``layers_from_log``: the summary never claims a knob
    that is not in the C."""
    applied = {name: r for name, r in used.items() if name not in fused}
    return {"logs": list(paths), "layers_from_log": [n.name for n in graph.nodes if n.name in applied],
            "kernels_from_log": sorted({r["kernel"] for r in applied.values()}),
            "costs": {k: tlog.cost_key(r) for k, r in sorted({r["kernel"]: r for r in applied.values()}.items())},
            "layers_changed": sum(1 for r in applied.values() if r["changed"]),
            "layers_fused": [n.name for n in graph.nodes if n.name in used and n.name in fused],
            "layers_default": sum(1 for n in graph.nodes if n.name not in used)}
