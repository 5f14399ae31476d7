"""Knobs for a build from tuning logs: the best verified record per kernel, defaults elsewhere.

Why matched by (core family, kernel key, knob space version): the key encodes everything the
kernel's source depends on besides the knobs, and the version changes whenever a schedule's
knob space does, so a record is only applied to exactly the kernel it measured.  A fused
layer runs a row kernel (codegen/fused.py), whose key has the row shapes: it takes the records
of that row kernel (``tune --memory``), never its whole-tensor kernel's.
"""

from __future__ import annotations

from mbmicro.tune import log as tlog
from mbmicro.tune.measure import kernel_of


def _record(graph, node, target, records: list[dict]) -> dict | None:
    """The best verified record of ``node``'s kernel in ``graph`` (with ``"changed"``), or None."""
    board = target.name if getattr(target, "board", None) is not None else None
    kernel = kernel_of(graph, node, target)
    record = tlog.best_for_build(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults,
                                 board=board)
    return None if record is None else dict(record, changed=record["knobs"] != kernel.defaults)


def tuned_knobs(graph, target, records: list[dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(knobs per node name for codegen.aot.lower_graph, the record used per node name; a record
    carries ``"changed"``: whether its knobs differ from the defaults)."""
    knobs, used = {}, {}
    for node in graph.nodes:
        record = _record(graph, node, target, records)
        if record is not None:
            knobs[node.name] = dict(record["knobs"])
            used[node.name] = record
    return knobs, used


class RowKnobs:
    """``row_knobs`` of codegen.aot.lower_graph: a row kernel's knobs from the logs, by its own key.

    Why a callable and not a dict: the rows of a region (and so the row kernels' keys) are only
    known once the build has chosen its regions, which it may do twice (a retry with --memory
    min).  ``used`` holds the record applied to each node's row kernel in the latest lowering
    (a node lowered again without a record is dropped from it)."""

    def __init__(self, target, records: list[dict]):
        self.target, self.records = target, records
        self.used: dict[str, dict] = {}

    def __call__(self, row_graph, node) -> dict | None:
        record = _record(row_graph, node, self.target, self.records)
        if record is None:
            self.used.pop(node.name, None)
            return None
        self.used[node.name] = record
        return dict(record["knobs"])


def summary(paths: list[str], used: dict[str, dict], graph, fused: frozenset[str] = frozenset(),
            row_used: dict[str, dict] | None = None) -> dict:
    """What build.json and the report say about the logs: which layers' kernels came from them.

    ``fused``: the layers that run as row kernels of a fused region (``--memory``,
    codegen/fused.py); ``row_used``: the records applied to their row kernels (RowKnobs.used).
    A fused layer whose row kernel got a record is in ``layers_from_log_fused``; one whose
    whole-tensor kernel is in the log but not its row kernel takes the row kernel's defaults and
    is in ``layers_fused``: the summary never claims a knob that is not in the C."""
    applied = {name: r for name, r in used.items() if name not in fused}
    rows = {name: r for name, r in (row_used or {}).items() if name in fused}
    both = [*applied.values(), *rows.values()]
    return {"logs": list(paths), "layers_from_log": [n.name for n in graph.nodes if n.name in applied],
            "layers_from_log_fused": [n.name for n in graph.nodes if n.name in rows],
            "kernels_from_log": sorted({r["kernel"] for r in both}),
            "costs": {k: tlog.cost_key(r) for k, r in sorted({r["kernel"]: r for r in both}.items())},
            "layers_changed": sum(1 for r in both if r["changed"]),
            "layers_fused": [n.name for n in graph.nodes if n.name in used and n.name in fused and n.name not in rows],
            "layers_default": sum(1 for n in graph.nodes if n.name not in used and n.name not in rows)}
