"""The tuning log: versioned, append-only JSON lines, one measured candidate a line.

Why JSON lines appended and flushed per batch: an interrupted or killed run keeps everything it
measured, and a second run resumes by skipping what the log already holds.  The first line is
a header naming the format and its version; every other line is one record keyed by target
(the core family), op, kernel (the op template's prefix and spec, which encode the shape), knob
space version (a hash of the knob space) and the knobs.  Several logs merge by that identity
(the first copy of a candidate wins).  Only ``ok`` records (verified bit-exact) are ever chosen
by :func:`best`; error records stay in the log so that a bad candidate is not measured again.

Costs: a record says which cost its run was tuned for (``cost``: ``instructions`` or ``cycles``)
and where it was measured (``measured_on``: ``qemu``, or the board whose cycle counter gave the
number; ``cycles_are``: ``estimated`` or ``measured``).  Records of different costs never
compare: the cost key (:func:`cost_key`) is part of a record's identity and of every choice.
Records written before costs existed are QEMU instruction records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mbmicro.errors import UserError

FORMAT = "mbmicro-tuning-log"
VERSION = 1
HEADER = {"format": FORMAT, "version": VERSION}
_KEYS = ("target", "op", "kernel", "space", "knobs", "ok")
#: what a tuning run minimizes (``mbmicro tune --cost``)
COSTS = ("instructions", "cycles")
#: where QEMU-measured records were measured (instruction counts, estimated cycles)
QEMU = "qemu"


def cost_of(record: dict) -> str:
    """The cost the record's run was tuned for (records older than --cost: instructions)."""
    return record.get("cost", "instructions")


def measured_on(record: dict) -> str:
    return record.get("measured_on", QEMU)


def cost_key(record: dict) -> str:
    """What a record's number means: ``instructions``, ``cycles`` (estimated in QEMU) or
    ``cycles@BOARD`` (measured by BOARD's cycle counter).  Records compare only within a key."""
    on = measured_on(record)
    return cost_of(record) if on == QEMU else f"{cost_of(record)}@{on}"


def make_key(cost: str, board: str | None = None) -> str:
    """The cost key of a run tuned for ``cost``, measured on ``board`` (None: QEMU)."""
    return cost if board in (None, QEMU) else f"{cost}@{board}"


def identity(record: dict) -> tuple:
    """What makes two records the same candidate (the measurement aside)."""
    return (record["target"], record["kernel"], record["space"], json.dumps(record["knobs"], sort_keys=True),
            cost_key(record))


def _check(record, path: Path, line: int) -> dict:
    if not isinstance(record, dict) or any(k not in record for k in _KEYS):
        raise UserError(f"{path}:{line} is not a tuning record (needs {', '.join(_KEYS)}): "
                        f"pass a log written by 'mbmicro tune'")
    cost = cost_of(record)
    if cost not in COSTS:
        raise UserError(f"{path}:{line}: unknown cost {cost!r} (this mbmicro knows {', '.join(COSTS)}): "
                        "tune again with this mbmicro")
    if record["ok"] and not isinstance(record.get(cost), int):
        raise UserError(f"{path}:{line}: a verified record without its {cost} count: the log is damaged")
    return record


def read(path: str | Path) -> list[dict]:
    """Every record of the log at ``path`` (a missing file is an empty log)."""
    path = Path(path)
    if not path.exists():
        return []
    if not path.is_file():
        raise UserError(f"tuning log {path} is not a file: pass the JSON-lines file 'mbmicro tune --log' wrote")
    lines = path.read_text(errors="replace").splitlines()
    if not lines:
        return []
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise UserError(f"{path} is not a tuning log (no '{FORMAT}' header line): pass the file "
                        f"'mbmicro tune --log' wrote")
    if header.get("version") != VERSION:
        raise UserError(f"{path} is tuning log version {header.get('version')}, this mbmicro reads "
                        f"version {VERSION}: tune again into a new log")
    records = []
    for i, text in enumerate(lines[1:], start=2):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            if i == len(lines):  # a run killed mid-write leaves half a last line: ignore it
                continue
            raise UserError(f"{path}:{i} is not JSON: the log is damaged; remove that line") from None
        records.append(_check(record, path, i))
    return records


def read_many(paths) -> list[dict]:
    """The records of several logs merged (first copy of each candidate wins)."""
    return merge(*(read(p) for p in paths))


def merge(*logs: list[dict]) -> list[dict]:
    """Records of several logs, each candidate once, in first-seen order."""
    seen, out = set(), []
    for records in logs:
        for record in records:
            key = identity(record)
            if key not in seen:
                seen.add(key)
                out.append(record)
    return out


class Writer:
    """Appends records to a log file, flushed and synced per call (a crash keeps them)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            read(self.path)  # refuse to append to something that is not a log
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        if self.path.stat().st_size == 0:
            self._file.write(json.dumps(HEADER, sort_keys=True) + "\n")
        elif not self._ends_with_newline():
            self._file.write("\n")  # after a torn last line

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def append(self, records: list[dict]) -> None:
        for record in records:
            self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def write(path: str | Path, records: list[dict]) -> None:
    """A new log holding ``records`` (``mbmicro tune --merge``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(HEADER, sort_keys=True) + "\n")
        for record in records:
            f.write(json.dumps(record, sort_keys=True) + "\n")
    os.replace(tmp, path)


def rank(record: dict) -> tuple:
    """Order of preference within a cost key: less of the record's cost, then less of the other
    number (instructions break ties of cycles and the other way round; a board counts no
    instructions)."""
    cost = cost_of(record)
    other = record.get("cycles" if cost == "instructions" else "instructions")
    return (record[cost], other if other is not None else record[cost])


#: a setting must beat the defaults by more than this share of their instructions to replace them
MARGIN = 0.002


def best(records: list[dict], target: str, kernel: str, space: str, defaults: dict | None = None,
         key: str = "instructions") -> dict | None:
    """The verified record with the lowest cost for one kernel among the records of cost key
    ``key`` (None: none in the log).

    With ``defaults``: their record unless another beats it by more than MARGIN.  Why: the same
    code can count a few instructions more or less in another firmware (placement changes
    literal loads and library paths), and knobs a micro-kernel ignores give the same code under
    another name, so a "win" of one instruction is noise, not a reason to leave the defaults."""
    mine = [r for r in records if r["ok"] and r["target"] == target and r["kernel"] == kernel
            and r["space"] == space and cost_key(r) == key]
    if not mine:
        return None
    top = min(mine, key=rank)
    if defaults is not None:
        wanted = json.dumps(defaults, sort_keys=True)
        base = next((r for r in mine if json.dumps(r["knobs"], sort_keys=True) == wanted), None)
        cost = cost_of(top)
        if base is not None and top[cost] >= base[cost] * (1 - MARGIN):
            return base
    return top


def preference(board: str | None) -> list[str]:
    """Cost keys a build takes, best first: cycles measured on the build's own board, then
    estimated cycles, then instructions.  Why this order: the more of the real machine a cost
    sees, the better it predicts the build; cycles measured on another board are that board's
    (its flash wait states, its caches) and are not used."""
    return ([make_key("cycles", board)] if board else []) + ["cycles", "instructions"]


def best_for_build(records: list[dict], target: str, kernel: str, space: str, defaults: dict | None,
                   board: str | None = None) -> dict | None:
    """The record a build uses for one kernel: the best of the first cost key (preference) the
    log has verified records of for it, each key compared only with itself."""
    for key in preference(board):
        found = best(records, target, kernel, space, defaults, key=key)
        if found is not None:
            return found
    return None


def measured(records: list[dict]) -> set[tuple]:
    """Identities of every candidate the records hold (resuming skips them)."""
    return {identity(r) for r in records}
