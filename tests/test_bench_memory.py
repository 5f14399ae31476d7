"""benchmarks/memory.py's per-region table: a fused region's profile step against the sum of
the same layers in the fast build (no build here: the profile and report rows are given).

Why a test: the table decides issue 12's "5% per fused block"; pairing a region with the
wrong layers (or dropping one) would give a plausible but wrong ratio.
"""

from __future__ import annotations


import pytest
from bench_scripts import load


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
    rows = load("memory").region_rows(_fused(), _fast())
    assert [(r["first"], r["last"], r["layers"]) for r in rows] == [("pw1", "pj1", 3), ("dw2", "pj2", 2)]
    assert [r["unfused"] for r in rows] == [200 + 300 + 400, 600 + 700]
    assert [r["fused"] for r in rows] == [1000, 1400]
    assert rows[0]["ratio"] == pytest.approx(1000 / 900) and rows[1]["ratio"] == pytest.approx(1400 / 1300)


def test_region_rows_refuse_a_profile_of_other_regions():
    fused = _fused()
    fused["steps"][3]["name"] = "[fused] pw2 .. pj2"
    with pytest.raises(RuntimeError, match="not region dw2"):
        load("memory").region_rows(fused, _fast())


def _regions(constants: dict, per_mac: float) -> list[dict]:
    """Measured regions as benchmarks/memory.py records them, whose extra instructions are exactly
    the estimate under ``constants`` (terms: row calls, re-read and copied bytes, tile MACs)."""
    terms = [(40, 9000, 3000, 0), (96, 2000, 12000, 500), (12, 30000, 800, 2000), (200, 500, 500, 0)]
    out = []
    for calls, reread, copied, tile in terms:
        extra = (constants["row_call"] * calls + constants["reread_per_byte"] * reread
                 + constants["copy_per_byte"] * copied + per_mac * tile)
        out.append({"row_call": calls, "reread_per_byte": reread, "copy_per_byte": copied, "tile_macs": tile,
                    "extra": round(extra), "unfused": 10 * (calls + reread), "per_mac": per_mac})
    return out


def test_fit_cost_recovers_the_constants_the_regions_were_made_with():
    constants = {"row_call": 350.0, "reread_per_byte": 0.5, "copy_per_byte": 0.2}
    fitted, estimates = load("memory").fit_cost(_regions(constants, 0.45))
    for name, value in constants.items():
        assert fitted[name] == pytest.approx(value, rel=1e-3)
    assert fitted["work_per_mac"] == pytest.approx(0.45)
    assert estimates == pytest.approx([r["extra"] for r in _regions(constants, 0.45)], abs=2)


def test_fit_cost_keeps_every_constant_non_negative():
    regions = _regions({"row_call": 300.0, "reread_per_byte": 0.0, "copy_per_byte": 0.4}, 1.7)
    regions[2]["extra"] -= 12000  # a region cheaper than its calls and copies: pulls reread below 0
    fitted, _ = load("memory").fit_cost(regions)
    assert min(fitted[k] for k in ("row_call", "reread_per_byte", "copy_per_byte")) >= 0
