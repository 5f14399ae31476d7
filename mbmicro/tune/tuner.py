"""Tune every unique kernel of a model: search rounds, measured by a pool, appended to the log.

Why rounds of a batch per kernel: one firmware per round measures a whole batch (mbmicro.tune.
measure), and a search round is exactly the batch the search proposes.  Kernels are tuned in
order of their share of the model's MACs, so a short time budget goes to the kernels that matter.
The default knobs are always the first candidate, so "tuned" is never worse than the default.
The pool (mbmicro.tune.worker) runs rounds of several kernels at once when it has several
workers; each finished round is written to the log before the next is proposed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from mbmicro.graph.ir import macs
from mbmicro.tune import log as tlog
from mbmicro.tune.measure import Kernel
from mbmicro.tune.search import Search


@dataclass
class KernelResult:
    """What the table shows for one kernel."""

    kernel: Kernel
    default: dict | None = None
    best: dict | None = None
    trials: int = 0
    errors: int = 0
    macs: int = 0


@dataclass
class Budget:
    trials: int = 64
    deadline: float | None = None  # time.monotonic() value
    batch: int = 16

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


@dataclass
class Cost:
    """What a run minimizes and where its workers measure: records of another cost key are
    neither resumed from nor compared with (mbmicro.tune.log.cost_key)."""

    name: str = "instructions"
    board: str | None = None  # the board whose workers measure (None: QEMU)

    @property
    def key(self) -> str:
        return tlog.make_key(self.name, self.board)

    def stamp(self, record: dict) -> dict:
        """The record as this run logs it: its cost named; a record that cannot be ranked by this
        cost (a board counts no instructions; a worker of another board) becomes an error."""
        mine = self.board or tlog.QEMU
        record = dict(record, cost=self.name)
        record.setdefault("measured_on", mine)  # e.g. a round lost on every worker
        if not record["ok"]:
            return dict(record, measured_on=mine)
        on = tlog.measured_on(record)
        if on != mine:  # logged under this run's key, so no other run skips the candidate for it
            return dict(record, ok=False, measured_on=mine,
                        error=f"cost: measured on {on}, this run tunes for {self.key}: "
                              "give the run's --board the workers' board")
        if not isinstance(record.get(self.name), int):
            return dict(record, ok=False, error=f"cost: {on} measured no {self.name}: tune a board with --cost cycles")
        return record


@dataclass
class _State:
    result: KernelResult
    search: Search
    records: list[dict] = field(default_factory=list)

    def trials_left(self, budget: Budget) -> int:
        return budget.trials - self.result.trials


def _mine(records: list[dict], kernel: Kernel, key: str) -> list[dict]:
    return [r for r in records if r["target"] == kernel.family and r["kernel"] == kernel.key
            and r["space"] == kernel.space_version and tlog.cost_key(r) == key]


def _update(state: _State, key: str) -> None:
    kernel, res = state.result.kernel, state.result
    res.trials = len(state.records)
    res.errors = sum(1 for r in state.records if not r["ok"])
    defaults = json.dumps(kernel.defaults, sort_keys=True)
    res.default = next((r for r in state.records if r["ok"] and json.dumps(r["knobs"], sort_keys=True) == defaults),
                       None)
    res.best = tlog.best(state.records, kernel.family, kernel.key, kernel.space_version, kernel.defaults, key=key)


def tune(kernels: list[Kernel], pool, writer, *, budget: Budget, seed: int = 0,
         previous: list[dict] | None = None, progress=None, cost: Cost | None = None,
         search=None) -> list[KernelResult]:
    """Tune ``kernels`` for ``cost`` (default: QEMU instructions); ``previous`` records (the log
    so far) of the same cost key count as measured.  ``search(kernel, seed)`` makes each
    kernel's search (default: mbmicro.tune.search.Search over its space).

    ``pool.map_rounds(jobs)`` measures (kernel, candidates) jobs, yielding (job, records) as
    they finish; ``progress(result, state)`` is called after each round.  An interruption
    (KeyboardInterrupt) propagates after the rounds already finished are in the log."""
    previous = previous or []
    cost = cost or Cost()
    search = search or (lambda kernel, seed: Search(kernel.space, seed=seed))
    states = []
    for kernel in kernels:
        weight = kernel.calls * macs(kernel.graph, kernel.graph.node(kernel.node))
        state = _State(KernelResult(kernel, macs=weight), search(kernel, seed))
        state.records = _mine(previous, kernel, cost.key)
        state.search.tell(state.records)
        _update(state, cost.key)
        states.append(state)
    states.sort(key=lambda s: -s.result.macs)

    def next_jobs(busy: set[int]) -> list[tuple[int, list[dict]]]:
        jobs = []
        for i, state in enumerate(states):
            if i in busy or budget.expired():
                continue
            left = state.trials_left(budget)
            candidates = state.search.propose(budget.batch, left) if left > 0 else []
            if candidates:
                jobs.append((i, candidates))
        return jobs

    def finished(i: int, records: list[dict]) -> None:
        records = [cost.stamp(r) for r in records]
        writer.append(records)
        state = states[i]
        state.records += records
        state.search.tell(records)
        _update(state, cost.key)
        if progress:
            progress(state.result, len(records))

    pool.run(next_jobs, lambda i: states[i].result.kernel, finished)
    return [s.result for s in states]


def totals(results: list[KernelResult], key: str) -> tuple[int, int]:
    """Whole-model (default, tuned) sums of ``key`` over every call of every tuned kernel (a row
    kernel runs once per row group of each of its layers)."""
    before = after = 0
    for r in results:
        if r.default is None or r.best is None or r.default.get(key) is None or r.best.get(key) is None:
            continue
        n = r.kernel.calls
        before += n * r.default[key]
        after += n * r.best[key]
    return before, after

