"""Balanced mode's cost model per kernel family (mbmicro/graph/fusion/cost.py, docs/MEMORY.md "Costs").

Why tests: a target mapped to the wrong family budgets its fused regions with another core's
constants (balanced then breaks its 5% on that core, as the A53 did with the M4's), and a cost
model that did not steer find_regions would make the per-family constants decoration.
"""

from __future__ import annotations

import dataclasses

import pytest

from mbmicro.codegen.planner import plan_graph
from mbmicro.graph import fusion
from mbmicro.targets.target import load_target, target_names

#: The kernel family of each CPU a target compiles for (its -mcpu): the DSP-extension
#: Cortex-M cores, Helium on the M55, NEON on the application cores, portable C elsewhere.
FAMILY_OF_CPU = {"cortex-m4": "dsp", "cortex-m7": "dsp", "cortex-m55": "mve",
                 "cortex-a53": "neon", "cortex-a72": "neon", None: "host"}


def _cpu(target) -> str | None:
    flags = [f.split("=", 1)[1] for f in target.cflags if f.startswith("-mcpu=")]
    return flags[-1] if flags else None


@pytest.mark.parametrize("name", target_names())
def test_every_target_folder_maps_to_its_cpus_family(name):
    target = load_target(name)  # a board: its core's target.json with the board's keys on top
    cpu = _cpu(target)
    assert cpu in FAMILY_OF_CPU, f"targets/{name}: no family known for -mcpu={cpu}"
    assert fusion.family_of(target.features) == FAMILY_OF_CPU[cpu]
    assert fusion.family_of(target.features) in fusion.COST_MODELS


@pytest.fixture(scope="module")
def mobilenetv2():
    from mbmicro.pipeline import make_model

    return make_model("mobilenetv2", 0.35, 96, 10)[1]


def _scaled(model: fusion.CostModel, factor: float) -> fusion.CostModel:
    """``model`` with every per-call and per-byte cost times ``factor`` (the model's work kept)."""
    return dataclasses.replace(model, row_call=model.row_call * factor,
                               reread_per_byte=model.reread_per_byte * factor,
                               copy_per_byte=model.copy_per_byte * factor,
                               widen_per_byte=model.widen_per_byte * factor,
                               channel_call=model.channel_call * factor)


def test_a_cheaper_cost_model_fuses_more_and_a_dearer_one_less(mobilenetv2):
    """Sweep the per-call and per-byte costs from free to 256x the neon family's: balanced fuses
    the unlimited greedy choice when fusing is free, nothing when it is dear, fewer regions (and a
    higher arena peak) the dearer it gets, and at least one choice in between.  (neon: int8 rings,
    whose regions lower MobileNetV2's peak in several steps; the dsp family's wide rings reach
    their lowest peak with its first two regions already.)"""
    base = fusion.cost_model("neon")
    budget = fusion.BALANCED_OVERHEAD * fusion.model_work_insns(mobilenetv2, base)
    counts, peaks = [], []
    for factor in [0.0] + [2.0 ** k for k in range(-4, 9)]:
        cost = _scaled(base, factor)
        regions = fusion.find_regions(mobilenetv2, "balanced", cost=cost)
        assert sum(fusion.region_extra_insns(r, cost) for r in regions) <= budget
        counts.append(len(regions))
        peaks.append(plan_graph(mobilenetv2, regions=regions).peak)
    assert counts == sorted(counts, reverse=True) and peaks == sorted(peaks)
    unlimited = fusion.add_inplace(mobilenetv2, fusion.greedy_regions(
        mobilenetv2, fusion.candidate_regions(mobilenetv2, "neon"), None), None)
    assert counts[0] == len(unlimited) > 0
    assert counts[-1] == 0 and peaks[-1] == plan_graph(mobilenetv2).peak
    assert any(0 < n < counts[0] for n in counts) and len(set(peaks)) >= 3


@pytest.mark.parametrize("channels", [8, 16, 24, 28, 32, 40, 64, 96, 144, 320])
def test_pointwise_tiles_follow_the_kernels_rules(channels):
    """The estimate's pixel tile is the tile the family's pointwise kernel picks on a row of
    pixels (pointwise.dsp_defaults / neon_defaults on a 12-pixel row of 96 outputs), where the
    rule is one tile per channel count."""
    from mbmicro.codegen.ops import pointwise

    assert fusion.cost_model("dsp").tile_of(channels) == pointwise.dsp_defaults(12, channels)["tile_p"]
    if channels <= 24 or channels >= 64:  # between, neon's tile depends on C % 8 and the pixels
        assert fusion.cost_model("neon").tile_of(channels) == pointwise.neon_defaults(12, channels, 96)["tile_p"]
