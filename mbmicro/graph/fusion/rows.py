"""The row pipeline's order of work and its rings.

Schedule (the C emitter writes exactly this loop, :func:`schedule` replays it):
for every output row group of the last stage, the stage asks its input for the
padded rows of its window; the stage before produces the missing ones (a
padding row, or a group of real rows for which it first asks its own input),
and so on back to the chain input.  A ring therefore holds its consumer's
window plus a producer group's overshoot (``R``, :func:`ring_rows`), and
``M = max(window, group) - 1`` mirror slots after it: row ``p`` goes to slot
``p % R`` and also to ``R + p % R`` when that is below ``M`` (a group written
past ``R`` is copied back), so any window and any group is contiguous.

Why its own module: the stage types need the ring sizes and the in-place check,
and both only need the stages' numbers (no graph); ``stages`` are
fusion.stages.Stage objects (not imported: stages imports this module).
"""

from __future__ import annotations

#: Most output rows per kernel call balanced mode tries (docs/MEMORY.md: more rows per call
#: amortize a row kernel's fixed work, for larger rings).
MAX_GROUP = 8


def groups_for(stages: list) -> list[int]:
    """Rows per call every stage's height allows: the common divisors up to MAX_GROUP."""
    return [g for g in range(1, MAX_GROUP + 1) if all(st.out_rows % g == 0 for st in stages)]


def schedule(stages: list):
    """The events of the region's demand-driven loop, in the order the C runs them:
    ``("write", k, p, n)``: stage k writes padded rows p .. p+n-1 of its output ring (a padding
    row when n rows are not real); ``("read", k, first, rows)``: stage k reads padded rows
    first .. first+rows-1 of its input (the chain input for k = 0); ``("out", o, n)``: the last
    stage writes output rows o .. o+n-1 (its add reads the residual's same rows first).

    For each output group the last stage pulls the rows it needs from stage L-2, which pulls
    from L-3 for each of its groups, and so on (codegen/fused.py emits the same nested loops).
    """
    last = len(stages) - 1
    done = [0] * last

    def produce(k: int, target: int):
        consumer = stages[k + 1]
        while done[k] < target:
            p = done[k]
            if p < consumer.pad_top or p >= consumer.pad_top + stages[k].out_rows:
                yield ("write", k, p, 1)
                done[k] += 1
                continue
            yield from call(k, p - consumer.pad_top)
            yield ("write", k, p, stages[k].group)
            done[k] += stages[k].group

    def call(k: int, r: int):
        st = stages[k]
        first = r * st.stride
        if k > 0:
            yield from produce(k - 1, first + st.window_rows)
        yield ("read", k, first, st.window_rows)

    for o in range(0, stages[-1].out_rows, stages[-1].group):
        yield from call(last, o)
        yield ("out", o, stages[-1].group)


def ring_rows(stages: list) -> list[tuple[int, int]]:
    """(R, M) per inner tensor: the consumer's window plus a producer group's overshoot (the most
    padded rows resident at once under :func:`schedule`), and M mirror rows (a consumer window
    or a producer group, minus one) so that any window or group is contiguous."""
    out = []
    for k in range(len(stages) - 1):
        window, group = stages[k + 1].window_rows, stages[k].group
        mirror = max(window, group) - 1
        out.append((max(window + group - 1, mirror + 1), mirror))
    return out


def reads_ahead_only(stages: list) -> bool:
    """Whether the output may be written over the chain input: no chain-input row is read
    after the output row at the same position has been written (the add reads its residual
    rows just before writing them, element by element in place)."""
    if any(s.stride != 1 for s in stages) or any(s.in_rows != stages[0].in_rows for s in stages):
        return False
    written, top = 0, stages[0].pad_top
    for event in schedule(stages):
        if event[0] == "out":
            written = event[1] + event[2]
        elif event[0] == "read" and event[1] == 0:
            first_real = max(event[2] - top, 0)
            if first_real < written and first_real < stages[0].in_rows:
                return False
    return True
