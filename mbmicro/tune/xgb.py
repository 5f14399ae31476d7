"""``mbmicro tune --search xgb``: rank many unmeasured candidates with an XGBoost cost model, measure the top ones.

Why a cost model at all: a measurement is a compile and a simulator (or board) run, while a
prediction costs microseconds, so once a few settings of a kernel are measured, a model of
cost over the knobs can look at hundreds of settings and send only the promising ones to be
measured (what TVM's MetaSchedule and AutoTVM do with XGBoost).  Why it is optional (the
``tune-xgb`` extra): the knob spaces are small today, and the evolutionary search
(mbmicro.tune.search) reaches their good settings without it; the model pays off on larger
spaces and many kernels.

How: the first round of a kernel is the evolutionary search's (the defaults, mutations,
random settings) because a model needs data.  Then, each round, every unmeasured setting (a
seeded random sample of them when the space is large) is scored by a gradient-boosted tree
regressor trained on log(cost) of every verified record of kernels of the same op and the
same knobs seen so far in the run (features: each knob one-hot, numeric knobs also by value,
and the kernel's shapes, so kernels share one model); the best-predicted settings are
measured.  Error records are not training data; their settings are never proposed again.
Seeded and single-threaded: the same seed and log give the same candidates.
"""

from __future__ import annotations

import json
import math
import random

from mbmicro.errors import UserError
from mbmicro.tune import log as tlog
from mbmicro.tune.search import Search, _key, every_setting

#: unmeasured settings scored per round at most (a seeded sample of larger spaces)
POOL = 2048
#: verified records a model needs before it proposes (fewer: the evolutionary search does)
MIN_TRAIN = 4


def require():
    """The xgboost module, or a UserError saying how to install it."""
    try:
        import xgboost
    except ImportError:
        raise UserError("--search xgb needs XGBoost, which is not installed: pip install 'mbmicro[tune-xgb]' "
                        "(or xgboost-cpu), or use --search evolution") from None
    return xgboost


def _features(kernel, knobs: dict) -> list[float]:
    """One-hot of every knob value, the value itself for numeric knobs, then the kernel's shapes."""
    row: list[float] = []
    for name, values in kernel.space.items():
        row += [1.0 if knobs.get(name) == v else 0.0 for v in values]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            row.append(float(knobs.get(name, 0)))
    shape = kernel.shape()
    dims = [d for s in shape["inputs"] for d in s] + list(shape["output"])
    return row + [float(d) for d in dims[:12]] + [0.0] * (12 - min(len(dims), 12))


class SharedModel:
    """The training data of every kernel of one op and knob space layout in a run."""

    def __init__(self, seed: int):
        self.rows: dict[str, tuple[list[float], float]] = {}  # record identity -> (features, log cost)
        self.seed = seed

    def add(self, kernel, record: dict) -> None:
        if record["ok"]:
            value = record[tlog.cost_of(record)]
            self.rows[repr(tlog.identity(record))] = (_features(kernel, record["knobs"]), math.log(max(value, 1)))

    def predict(self, kernel, settings: list[dict]) -> list[float]:
        import numpy as np

        xgboost = require()
        x = np.array([r[0] for r in self.rows.values()], dtype=np.float64)
        y = np.array([r[1] for r in self.rows.values()], dtype=np.float64)
        params = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3, "seed": self.seed,
                  "nthread": 1, "tree_method": "exact", "min_child_weight": 0}
        booster = xgboost.train(params, xgboost.DMatrix(x, label=y), num_boost_round=60)
        test = xgboost.DMatrix(np.array([_features(kernel, s) for s in settings], dtype=np.float64))
        return [float(p) for p in booster.predict(test)]


class XgbSearch(Search):
    """The evolutionary search's interface (tell, propose, done), proposing by a cost model."""

    def __init__(self, kernel, model: SharedModel, seed: int = 0):
        super().__init__(kernel.space, seed=seed)
        self.kernel, self.model = kernel, model
        self.pick = random.Random(seed + 1)

    def tell(self, records: list[dict]) -> None:
        super().tell(records)
        for r in records:
            self.model.add(self.kernel, r)

    def propose(self, n: int, trials_left: int) -> list[dict]:
        n = min(n, trials_left, self.size - len(self.costs))
        if n <= 0:
            return []
        measured_ok = sum(1 for c in self.costs.values() if c is not None)
        if self.size <= len(self.costs) + trials_left or measured_ok < MIN_TRAIN or len(self.model.rows) < MIN_TRAIN:
            return super().propose(n, trials_left)
        pool = self._pool()
        scores = self.model.predict(self.kernel, pool)
        ranked = sorted(range(len(pool)), key=lambda i: (scores[i], i))
        return [pool[i] for i in ranked[:n]]

    def _pool(self) -> list[dict]:
        """Every unmeasured setting, or a seeded sample of POOL of them for a large space."""
        if self.size <= POOL * 4:
            return [s for s in every_setting(self.space) if _key(s) not in self.costs]
        seen, out = set(self.costs), []
        for _ in range(POOL * 4):
            s = {k: self.pick.choice(v) for k, v in self.space.items()}
            if _key(s) not in seen:
                seen.add(_key(s))
                out.append(s)
                if len(out) >= POOL:
                    break
        return out


def factory(seed: int = 0):
    """``tune(search=...)``: an XgbSearch per kernel, one shared model per op and knob space."""
    require()
    models: dict[tuple, SharedModel] = {}

    def make(kernel, kernel_seed: int):
        key = (kernel.op, json.dumps(kernel.space, default=str))  # same features: same knobs and values
        model = models.setdefault(key, SharedModel(seed))
        return XgbSearch(kernel, model, seed=kernel_seed)

    return make
