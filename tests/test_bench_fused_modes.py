"""benchmarks/fused_modes.py: the kinds of fused region it names, and that its 'verified' column
comes from a real comparison with the reference (one tiny build in QEMU on the M4).

Why a test: the table is issue 12's evidence that every fused variant is bit-exact on every model
and core; a kind named wrongly (or a verdict not computed) would make that evidence hollow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_scripts import load

TINY = (0.35, 32, 10)


fused_modes = load("fused_modes")


def _kinds(model: str, config: tuple, mode: str) -> dict:
    from mbmicro.graph import fusion
    from mbmicro.pipeline import make_model

    _, graph = make_model(model, *config, 0)
    regions = [{"nodes": r.nodes, "kinds": fused_modes._targets().region_kinds(graph, r.nodes)}
               for r in fusion.find_regions(graph, mode)]
    return fused_modes.kind_counts({"fused_regions": regions})


def test_region_kinds_name_se_mixed_grouped_partial_and_stride_2():
    mixnet = _kinds("mixnet-m", (0.25, 48, 10), "min")
    assert {"mixed-kernel", "grouped 1x1", "SE-block chain", "stride 2"} <= set(mixnet), mixnet
    rexnet = _kinds("rexnet", (0.35, 48, 10), "min")
    assert {"partial add", "SE-block chain", "stride 2"} <= set(rexnet) and "mixed-kernel" not in rexnet, rexnet
    plain = _kinds("mobilenetv2", TINY, "min")  # no SE, grouped, mixed-kernel or partial residual in it
    assert set(plain) == {"stride 2"}, plain
    assert _kinds("mobilenetv2", (0.35, 96, 10), "inplace") == {"in-place dw": 1, "stride 2": 1}


@pytest.fixture(scope="module")
def tiny_results():
    """mobilenetv2 0.35/32/10 built --memory min for the M4, measured as it is and with one output
    value of every run changed (as a wrong kernel would): the second must not be verified."""
    from mbmicro.sim import execute

    targets = fused_modes._targets()
    good = dict(targets.model_job("mobilenetv2", "cortex-m4", memory="min", config=TINY, cache=None), mode="min")
    run_build = execute.run_build

    def corrupted(folder, x, trace=False, **kw):
        y, records = run_build(folder, x, trace=trace, **kw)
        if not trace:
            y = y.copy()
            y.flat[0] = np.int8(int(y.flat[0]) ^ 1)
        return y, records

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(execute, "run_build", corrupted)
        bad = dict(targets.model_job("mobilenetv2", "cortex-m4", memory="min", config=TINY, cache=None),
                   mode="min")
    return good, bad


def test_tiny_build_is_verified_and_a_corrupted_output_is_not(tiny_results):
    good, bad = tiny_results
    assert good["verified"] is True and good["memory_mode"] == "min" and good["fused_regions"]
    assert good["io_in_arena"] is True  # as `mbmicro build --memory min` builds it
    assert "verified 1/1 inputs bit-exact" in good["verify_output"]
    assert bad["verified"] is False and "verification FAILED" in bad["verify_output"], bad["verify_output"]
    assert good["instructions"] > 0 and good["arena_bytes"] > 0


def test_table_rows_compare_with_balanced_and_count_only_verified_kinds(tiny_results):
    good, bad = tiny_results
    bad = dict(bad, core="cortex-a53")
    sram = good["memory"]["model_sram_bytes"]
    base = {("mobilenetv2", "cortex-m4"): {"arena_bytes": good["arena_bytes"] * 2, "instructions": good["instructions"],
                                          "memory": {"model_sram_bytes": sram * 4}}}
    text = fused_modes.render([good, bad], base, 60.0, 1)
    rows = [line for line in text.splitlines() if line.startswith("| mobilenetv2 |")]
    assert len(rows) == 2 and all(len(r.split("|")) == len(rows[0].split("|")) for r in rows)
    assert rows[0].startswith("| mobilenetv2 | cortex-m4 | min | yes | ")
    assert f"| {good['arena_bytes']:,} (-50.0%) | {sram:,} (-75.0%) | {good['instructions']:,} (+0.0%) |" in rows[0]
    assert rows[1].startswith("| mobilenetv2 | cortex-a53 | min | NO | ")
    assert "1 of 2 builds verified" in text
    kinds = ", ".join(f"{k} {n}" for k, n in fused_modes.kind_counts(good).items())
    assert kinds and f"| {kinds} |" in rows[0]
    coverage = [line for line in text.splitlines() if line.startswith("| min | ")]
    assert [line.split(" | ")[1] for line in coverage] == ["cortex-a53", "cortex-m4"]
    assert "yes" not in coverage[0] and "yes" in coverage[1]  # the failed build checked nothing


def test_committed_results_cover_every_model_core_and_mode():
    results = json.loads(fused_modes.RESULT_JSON.read_text())["results"]
    targets = fused_modes._targets()
    assert sorted((r["model"], r["core"], r["mode"]) for r in results) == sorted(
        (m, c, mode) for m in targets.CONFIGS for c in targets.CORES for mode in fused_modes.MODES)
    assert all(r["config"] == list(targets.CONFIGS[r["model"]]) for r in results)
    assert all("error" not in r and r["memory_mode"] == r["mode"] for r in results)
    assert all(r["io_in_arena"] for r in results if r["mode"] == "min")
