"""benchmarks/memory.py's per-region table: a fused region's profile step against the sum of
the same layers in the fast build (no build here: the profile and report rows are given).

Why a test: the table decides issue 12's "5% per fused block"; pairing a region with the
wrong layers (or dropping one) would give a plausible but wrong ratio.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load_script():
    """benchmarks/ is not a package (tests/test_bench_cmsis.py loads its script the same way)."""
    spec = importlib.util.spec_from_file_location("mbmicro_bench_memory", BENCH / "memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _fast():
    names = ["c0", "pw1", "dw1", "pj1", "pw2", "dw2", "pj2", "fc"]
    return {"steps": [{"name": n, "instructions": 100 * (i + 1)} for i, n in enumerate(names)]}


def _fused():
    layers = [{"name": "c0"}, {"name": "pw1", "fused_region": 0}, {"name": "dw1", "fused_region": 0},
              {"name": "pj1", "fused_region": 0}, {"name": "pw2"}, {"name": "dw2", "fused_region": 1},
              {"name": "pj2", "fused_region": 1}, {"name": "fc"}]
    steps = [{"name": "c0", "instructions": 100}, {"name": "[fused] pw1 .. pj1", "instructions": 1000},
             {"name": "pw2", "instructions": 500}, {"name": "[fused] dw2 .. pj2", "instructions": 1400},
             {"name": "fc", "instructions": 800}]
    return {"steps": steps, "layers": layers}


def test_region_rows_sum_the_fast_layers_of_each_region():
    rows = _load_script().region_rows(_fused(), _fast())
    assert [(r["first"], r["last"], r["layers"]) for r in rows] == [("pw1", "pj1", 3), ("dw2", "pj2", 2)]
    assert [r["unfused"] for r in rows] == [200 + 300 + 400, 600 + 700]
    assert [r["fused"] for r in rows] == [1000, 1400]
    assert rows[0]["ratio"] == pytest.approx(1000 / 900) and rows[1]["ratio"] == pytest.approx(1400 / 1300)


def test_region_rows_refuse_a_profile_of_other_regions():
    fused = _fused()
    fused["steps"][3]["name"] = "[fused] pw2 .. pj2"
    with pytest.raises(RuntimeError, match="not region dw2"):
        _load_script().region_rows(fused, _fast())
