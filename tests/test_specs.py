"""The package's Table A copy (``mbmicro show MODEL --json``) against the
table text itself, parsed here by a small parser that shares no code with
mbmicro.models.specs, so a transcription slip in either shows up."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mbmicro.cli import main
from mbmicro.models.specs import MODEL_NAMES, get_spec

DATA = Path(__file__).parent / "data" / "table_a_mbconv_specs.txt"
SEED_COPY = Path("/work/shared/seeds/table_a_mbconv_specs.txt")

_BLOCK = re.compile(r"\((\d+)-(\d+),(\d+),([\d/]+)\)(\*?)")
_CONV = re.compile(r"Conv2D \(\S+-(\d+),(\d+),(\d+)\)")


def _model_name(label: str) -> str:
    """'MobileNetV2 [1]' -> 'mobilenetv2', 'Single-Path NAS [5]' -> 'single-path-nas'."""
    return re.sub(r"\s*\[\d+\]\s*$", "", label).strip().lower().replace(" ", "-")


def _parse_cell(cell: str) -> list[dict]:
    conv = _CONV.fullmatch(cell.strip())
    if conv:
        out, stride, kernel = map(int, conv.groups())
        return [{"op": "conv", "out": out, "stride": stride, "kernel": [kernel], "se": False}]
    blocks = [
        {"op": "mbconv", "exp": int(e), "out": int(o), "stride": int(s),
         "kernel": [int(k) for k in ks.split("/")], "se": star == "*"}
        for e, o, s, ks, star in _BLOCK.findall(cell)
    ]
    # every character of the cell must belong to a block: nothing silently skipped
    assert _BLOCK.sub("", cell).strip() == "", f"unparsed text in cell {cell!r}"
    return blocks


def parse_table(text: str) -> dict[str, dict]:
    models = {}
    for line in text.splitlines():
        cols = line.split("\t")
        if len(cols) != 9 or not re.fullmatch(r"\(\d+\)", cols[1].strip()):
            continue
        name = _model_name(cols[0])
        models[name] = {"name": name, "stem": int(cols[1].strip()[1:-1]),
                        "stages": [_parse_cell(c) for c in cols[2:]]}
    return models


TABLE = parse_table(DATA.read_text(encoding="utf-8"))


def test_parser_found_every_model_in_order():
    assert tuple(TABLE) == MODEL_NAMES


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_show_json_equals_table(name, capsys):
    assert main(["show", name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["spec"]
    expected = TABLE[name]
    assert shown["name"] == expected["name"]
    assert shown["stem"] == expected["stem"]
    assert len(shown["stages"]) == 7
    for s, (got, want) in enumerate(zip(shown["stages"], expected["stages"]), start=1):
        assert len(got) == len(want), f"{name} stage {s}: block count"
        for b, (g, w) in enumerate(zip(got, want), start=1):
            assert {k: g[k] for k in w} == w, f"{name} s{s}b{b}"


def test_quirks_are_kept():
    """Spot checks of the places where Table A differs from the papers."""
    assert get_spec("mobilenetv3-large")["stem"] == 32
    assert not any(b["se"] for st in get_spec("mnasnet-a1")["stages"] for b in st)
    mix = get_spec("mixnet-m")["stages"]
    assert mix[3][1]["exp"] == 240 and mix[6][0]["kernel"] == [3, 5, 7, 9]
    assert [b["out"] for b in get_spec("rexnet")["stages"][1]] == [27, 38]
    assert get_spec("mobilenetv3-large")["stages"][6] == [
        {"op": "conv", "out": 960, "stride": 1, "kernel": [1], "se": False}]


def test_get_spec_returns_a_fresh_copy():
    spec = get_spec("mobilenetv2")
    spec["stages"][0][0]["out"] = 999
    assert get_spec("mobilenetv2")["stages"][0][0]["out"] == 16


def test_table_copy_matches_shared_seed():
    # The shared seed copy exists only in the team's workspace; where it is
    # absent there is nothing to compare, so the check does not apply.
    if SEED_COPY.exists():
        assert DATA.read_bytes() == SEED_COPY.read_bytes()
