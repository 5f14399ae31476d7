"""Which knob settings to measure next for one kernel.

Why our own search and not MetaSchedule (docs/TUNING.md): the knobs are plain values a schedule
reads (tile sizes from a fixed list, unroll on/off, micro-kernel choice), not TIR sampling
decisions, and the spaces are small (tens to a few hundred points), so a seeded search over the
knob values is enough and needs no TuneContext.

* A space no larger than the trial budget is measured exhaustively, defaults first.
* A larger one: the defaults, then a seeded random sample for the first round, then rounds of
  evolution: each of the best few settings measured so far changes one knob to another value
  (mutations of better parents first) for half of the round, and unmeasured random settings
  fill the other half (and any round without unmeasured mutations): the knob landscapes have
  several local minima (a 4x2 tile and a 1x8 tile may both beat their neighbours), which pure
  hill-climbing would never leave.  Same seed, same results, same order.
"""

from __future__ import annotations

import itertools
import json
import random

from mbmicro.tune import log as tlog


def _key(knobs: dict) -> str:
    return json.dumps(knobs, sort_keys=True)


def every_setting(space: dict[str, list]) -> list[dict]:
    """The whole space in order, the defaults (first values) first."""
    names = list(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]


class Search:
    """Propose candidates in rounds; ``tell`` it what was measured (a resumed log included)."""

    def __init__(self, space: dict[str, list], seed: int = 0, parents: int = 4):
        self.space = space
        self.rng = random.Random(seed)
        self.parents = parents
        self.size = 1
        for values in space.values():
            self.size *= len(values)
        self.costs: dict[str, tuple] = {}  # measured: key -> cost (None for an error)
        self.settings: dict[str, dict] = {}

    def tell(self, records: list[dict]) -> None:
        for r in records:
            key = _key(r["knobs"])
            self.settings[key] = dict(r["knobs"])
            self.costs[key] = tlog.rank(r) if r["ok"] else None

    def done(self) -> bool:
        return len(self.costs) >= self.size

    def _random(self) -> dict:
        return {k: self.rng.choice(v) for k, v in self.space.items()}

    def _mutations(self) -> list[dict]:
        ranked = sorted((c, k) for k, c in self.costs.items() if c is not None)
        out = []
        for _, key in ranked[:self.parents]:
            parent = self.settings[key]
            names = list(self.space)
            self.rng.shuffle(names)
            for name in names:
                values = [v for v in self.space[name] if v != parent[name]]
                self.rng.shuffle(values)
                out += [{**parent, name: v} for v in values]
        return out

    def propose(self, n: int, trials_left: int) -> list[dict]:
        """Up to ``n`` unmeasured settings (fewer when the space or ``trials_left`` runs out)."""
        n = min(n, trials_left, self.size - len(self.costs))
        if n <= 0:
            return []
        if self.size <= len(self.costs) + trials_left:  # the rest of the space fits the budget
            pool, exploit = every_setting(self.space), n
        else:  # the defaults first, then half mutations, half random
            pool, exploit = [{k: v[0] for k, v in self.space.items()}] + self._mutations(), (n + 1) // 2
        chosen: dict[str, dict] = {}
        for knobs in pool:
            key = _key(knobs)
            if key not in self.costs and key not in chosen:
                chosen[key] = knobs
            if len(chosen) >= exploit:
                break
        if len(chosen) == n:
            return list(chosen.values())
        misses = 0
        while len(chosen) < n and misses < 1000:
            knobs = self._random()
            key = _key(knobs)
            if key in self.costs or key in chosen:
                misses += 1
                continue
            chosen[key] = knobs
        for knobs in every_setting(self.space) if len(chosen) < n else ():  # random keeps missing
            key = _key(knobs)
            if key not in self.costs and key not in chosen and len(chosen) < n:
                chosen[key] = knobs
        return list(chosen.values())
