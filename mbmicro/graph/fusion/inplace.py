"""In-place depthwise (TinyEngine's): a depthwise layer's output written over its own input
through a delay buffer of a few output rows (docs/MEMORY.md, codegen/inplace_dw.py emits it)."""

from __future__ import annotations

from mbmicro.graph.ir import Graph
from mbmicro.graph.fusion.stages import Region, Stage, stage_of, window_bytes


def inplace_flushed(stage: Stage, o: int) -> int:
    """In-place depthwise: how many output rows may be written back once output row ``o`` is
    computed -- those whose bytes lie below every input byte a later output row still reads
    (output row q spans bytes [q, q + 1) * out_row_bytes of the shared buffer; row o + 1 reads
    from real input row (o + 1) * stride - pad_top on).  codegen/inplace_dw.py emits this."""
    if o + 1 >= stage.out_rows:
        return stage.out_rows
    first = max((o + 1) * stage.stride - stage.pad_top, 0)
    return min(o + 1, first * stage.in_row_bytes // stage.out_row_bytes)


def inplace_schedule(stage: Stage):
    """Events of an in-place depthwise: ``("read", o, first, last)`` (output row o reads real input
    rows first .. last, into delay slot o % delay), then ``("flush", q)`` for each output row q
    written back over the input.  tests/test_fusion.py replays it on bytes."""
    done = 0
    for o in range(stage.out_rows):
        first = o * stage.stride - stage.pad_top
        yield ("read", o, max(first, 0), min(first + stage.kh, stage.in_rows) - 1)
        for q in range(done, inplace_flushed(stage, o)):
            yield ("flush", q)
        done = max(done, inplace_flushed(stage, o))


def inplace_delay(stage: Stage) -> int:
    """Delay-buffer rows of an in-place depthwise: the most output rows computed and not yet written back."""
    most = done = 0
    for o in range(stage.out_rows):
        most = max(most, o + 1 - done)
        done = inplace_flushed(stage, o)
    return max(most, 1)


def inplace_candidates(graph: Graph) -> list[Region]:
    """One-stage regions: each KHxKW depthwise (KH > 1) written over its own input through a delay
    buffer of :func:`inplace_delay` rows (TinyEngine's in-place depthwise, docs/MEMORY.md)."""
    out = []
    for i, node in enumerate(graph.nodes):
        if node.op != "depthwise" or int(node.attrs["kernel"][0]) < 2:
            continue
        st = stage_of(graph, node, node.inputs[0])
        if st is None or st.in_row_bytes < st.out_row_bytes:
            continue
        out.append(Region(i, i, [st], st.chain_input, node.outputs[0], [], [], window_bytes(st),
                          inplace=True, delay_rows=inplace_delay(st)))
    return out
