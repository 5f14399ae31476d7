"""``--json``: every command that prints a table has it, prints one JSON document and nothing else on
stdout, and the document validates against the command's shipped schema (mbmicro/schemas/, docs/JSON.md).

profile's documents are validated in test_qemu.py and test_on_device.py, evaluate's in test_images.py
(beside the builds those tests already make); ``validate`` below is what they call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import jsonschema
import numpy as np
import pytest

from mbmicro.cli import main, make_parser
from mbmicro.codegen.project import build_project
from mbmicro.commands import COMMANDS
from mbmicro.commands.json_output import SCHEMA_DIR, schema_path
from mbmicro.targets.target import load_target
from test_build_host import fake_lower, toy_graph
from test_tables import tune_results

#: the commands that print a table, so have --json (flash, build, export-onnx, tune-worker print lines; demo is
#: what `make demo` runs, for a person to read)
WITH_JSON = {"models", "targets", "boards", "show", "reference", "run", "verify", "evaluate", "profile", "tune"}


@cache
def _validator(command: str) -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_path(command).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate(command: str, doc) -> None:
    """Fail with every schema violation of ``mbmicro command --json``'s document, not only the first."""
    errors = sorted(_validator(command).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def _json_commands() -> set[str]:
    """Commands whose parser has a --json option."""
    found = set()
    for name in COMMANDS:
        sub = next(a for a in make_parser(only=name)._actions if a.dest == "command").choices[name]
        if any("--json" in a.option_strings for a in sub._actions):
            found.add(name)
    return found


def test_every_table_command_has_json_and_a_schema():
    assert _json_commands() == WITH_JSON
    assert {p.stem for p in SCHEMA_DIR.glob("*.json")} == WITH_JSON
    for name in WITH_JSON:
        _validator(name)  # a valid Draft 2020-12 schema


def test_schemas_are_strict():
    """A schema that accepts anything cannot catch a changed document: objects list their keys."""
    bad = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                bad.append(where)
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    for name in WITH_JSON:
        walk(json.loads(schema_path(name).read_text()), name)
    assert not bad, bad
    with pytest.raises(AssertionError, match="Additional properties"):
        validate("targets", [{"name": "x", "core": "c", "board": "b", "sram_bytes": 1, "flash_bytes": 1,
                              "simulator": "s", "surprise": 1}])


def _stdout_json(*argv: str):
    """Run mbmicro as a user would; stdout must be exactly one JSON document."""
    r = subprocess.run([sys.executable, "-m", "mbmicro", *argv], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return json.loads(r.stdout)  # fails on anything before or after the document


@pytest.mark.parametrize("argv", [
    ["models"], ["targets"], ["boards"],
    ["show", "mobilenetv2"], ["show", "mixnet-m", "--width", "0.5", "--resolution", "128", "--classes", "10"],
    ["show", "mobilenetv3-large", "--width", "0.75"],
    ["reference", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10"],
])
def test_json_validates(argv):
    doc = _stdout_json(*argv, "--json")
    validate(argv[0], doc)
    if argv[0] == "show":
        assert doc["spec"]["name"] == argv[1] and doc["total"]["macs"] == sum(x["macs"] for x in doc["layers"])
    if argv[0] == "reference":
        assert len(doc["int8_top5"]) == 5 and doc["top5_overlap"] <= 5


def test_show_json_layers_are_the_table(capsys):
    argv = ["show", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10"]
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()[2:-1]  # title, header ... TOTAL
    assert main([*argv, "--json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert [line.split()[0] for line in table] == [x["name"] for x in layers]
    assert [line.split()[-2] for line in table] == [f"{x['macs']:,}" for x in layers]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A host build of the hand-made lut/add graph (plain C kernels: builds in a second or two)."""
    out = tmp_path_factory.mktemp("toy") / "build"
    build_project(toy_graph(), load_target("host"), out, prefix="toy_net", force=False,
                  info={"model": "toy-net", "options": {}}, lower=fake_lower)
    return out


def test_verify_json(toy, capsys):
    assert main(["verify", str(toy), "--count", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate("verify", doc)
    assert doc["verified"] == 2 and doc["failure"] is None and doc["target"] == "host" and not doc["on_device"]


def test_verify_json_failure(toy, capsys, monkeypatch):
    """A reference that disagrees on the final output: exit 1, and the document names the input."""
    from mbmicro.reference import int8

    real = int8.run_int8

    def off_by_one(graph, x, collect=False):
        y = real(graph, x, collect=collect)
        if collect:
            return y
        y = y.copy()
        y.flat[0] = np.int8(y.flat[0] ^ 1)
        return y

    monkeypatch.setattr(int8, "run_int8", off_by_one)
    assert main(["verify", str(toy), "--count", "2", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    validate("verify", doc)
    assert doc["verified"] == 0 and doc["failure"]["input"] == 0 and doc["failure"]["differing"] == 1
    assert "final copy" in doc["failure"]["first_mismatch"]


def test_run_json(toy, tmp_path, capsys):
    x = np.random.default_rng(0).integers(-128, 128, (1, 5, 3, 8), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(toy), "--input", str(tmp_path / "x.npy"), "--json"]) == 0  # no --output needed
    doc = json.loads(capsys.readouterr().out)
    validate("run", doc)
    assert doc["saved"] is None and doc["top5"][0]["class"] == doc["top_class"]
    assert main(["run", str(toy), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"),
                 "--dequantize", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    validate("run", doc)
    assert doc["saved"] == {"path": str(tmp_path / "y.npy"), "dtype": "float32", "shape": [1, 5, 3, 8]}
    assert np.load(tmp_path / "y.npy").dtype == np.float32


def test_tune_json_summary():
    from mbmicro.commands.tune import summary

    doc = summary(tune_results(), model="m", target="cortex-m4", log="t.jsonl", interrupted=True)
    validate("tune", doc)
    assert doc["kernels"][0]["tuned"]["knobs"] == {"micro": "dsp", "tile": 4} and doc["kernels"][1]["tuned"] is None
    assert doc["total"]["tuned_over_default"] == pytest.approx(0.75) and doc["interrupted"]
    empty = summary([], model="m", target="cortex-m4", log="t.jsonl", interrupted=False)
    validate("tune", empty)
    assert empty["total"]["tuned_over_default"] is None


def test_json_output_refuses_nan(capsys):
    """NaN is not JSON: a document must never carry it silently."""
    from mbmicro.commands.json_output import print_json

    with pytest.raises(ValueError):
        print_json({"x": float("nan")})


def test_tune_json_is_all_of_stdout(tmp_path, capsys, monkeypatch):
    """The command's own path with the slow parts (model, kernels, measuring) replaced: only the document
    reaches stdout, and it is the summary of what the tuner returned."""
    from types import SimpleNamespace

    from mbmicro import pipeline
    from mbmicro.tune import measure, tuner

    results = tune_results()
    asked = []

    def kernels(graph, target, **options):
        asked.append(options)
        return [SimpleNamespace(space_size=lambda: 4, rows=False) for _ in results]

    monkeypatch.setattr(pipeline, "make_model", lambda *a, **k: (None, None))
    monkeypatch.setattr(measure, "unique_kernels", kernels)
    monkeypatch.setattr(tuner, "tune", lambda *a, **k: results)
    argv = ["tune", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10",
            "--target", "cortex-m4", "--log", str(tmp_path / "t.jsonl")]
    assert main([*argv, "--json"]) == 0
    out, err = capsys.readouterr()
    doc = json.loads(out)
    validate("tune", doc)
    assert doc["model"] == "mobilenetv2" and doc["target"] == "cortex-m4" and not doc["interrupted"]
    assert [k["kernel"] for k in doc["kernels"]] == ["pw_c16_k32", "gap"] and err == ""
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith("tuned 2 kernels of mobilenetv2") and "| **model total** | 3 |" in text
    # the kernels of the build's default --memory balanced; min puts the input/output in the arena, as build's
    assert doc["memory"] == "balanced" and asked[0] == {"memory": "balanced", "io_in_arena": False}
    assert main([*argv, "--memory", "min"]) == 0 and asked[-1] == {"memory": "min", "io_in_arena": True}
    assert main([*argv, "--io-in-arena"]) == 0 and asked[-1] == {"memory": "balanced", "io_in_arena": True}
