"""benchmarks/se_two_pass.py: the SE branches are cut out correctly and the recompute is counted.

Why a test: docs/MEMORY.md's SE trade-off quotes this script; a cut that leaves a dangling
reader, or a recompute that counts the wrong layers, would give plausible but wrong numbers.
"""

from __future__ import annotations


from bench_scripts import load
from mbmicro.graph.ir import macs
from mbmicro.pipeline import make_model


def test_cut_removes_every_se_branch_and_rewires_its_readers():
    bench = load("se_two_pass")
    _, graph = make_model("efficientnet-b0", 0.35, 64, 10, 0)
    blocks = bench.se_blocks(graph)
    cut = bench.cut_se(graph)
    cut.validate()
    assert blocks and not [n for n in cut.nodes if ".se." in n.name]
    produced = {t for n in cut.nodes for t in n.outputs} | set(cut.inputs)
    assert all(t in produced for n in cut.nodes for t in n.inputs)
    for block in blocks:  # the projection now reads the depthwise output (after its activation)
        project = cut.node(f"{block}.project")
        assert project.inputs[0] == graph.node(f"{block}.se.mul").inputs[0]


def test_recompute_counts_the_region_stages_before_each_se_projection():
    bench = load("se_two_pass")
    _, graph = make_model("efficientnet-b0", 0.35, 64, 10, 0)
    cut = bench.cut_se(graph)
    regions = bench.build_regions(cut, "min", False)
    cost, spanned = bench.recompute_macs(graph, cut, regions)
    assert spanned, "min fuses at least one SE block of the cut graph"
    # EfficientNet-B0's first SE block (s1b1: stem -> depthwise -> SE -> project) fuses with the
    # stem, so pass 2 repeats the stem and the depthwise at least
    assert "s1b1" in spanned
    first = macs(cut, cut.node("stem")) + macs(cut, cut.node("s1b1.dw"))
    assert cost >= first > 0
    assert cost < sum(macs(cut, n) for n in cut.nodes) * len(spanned)
    row = bench.measure("efficientnet-b0")
    assert row["min"]["two_pass"] < row["min"]["kept"]
