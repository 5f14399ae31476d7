"""`mbmicro models` and `mbmicro show` as a user runs them (subprocesses):
output content, exit codes, and one-line errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mbmicro.models.builder import build_float_graph
from mbmicro.graph.ir import macs, param_count
from mbmicro.models.specs import MODEL_NAMES


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbmicro", *args], capture_output=True,
                          text=True, timeout=120)


def test_models_lists_all_eleven():
    r = _run("models")
    assert r.returncode == 0, r.stderr
    first_words = [line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()]
    assert first_words == list(MODEL_NAMES)


def test_models_json():
    r = _run("models", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["name"] for row in rows] == list(MODEL_NAMES)
    by_name = {row["name"]: row for row in rows}
    assert by_name["mobilenetv2"]["se_blocks"] == 0
    assert by_name["mixnet-m"]["head"] == 1536
    assert "hswish" in by_name["mobilenetv3-large"]["activations"]


def test_show_prints_layer_table_with_totals():
    r = _run("show", "mobilenetv2", "--width", "0.35", "--resolution", "96", "--classes", "10")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["NAME", "OP", "INPUT", "OUTPUT", "KERNEL", "MACS", "PARAMS"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["stem"][1:5] == ["conv2d+relu6", "96x96x3", "48x48x16", "3x3/2"]
    assert rows["classifier"][3] == "1x1x10"
    g = build_float_graph("mobilenetv2", 0.35, 96, 10)
    total_macs = sum(macs(g, n) for n in g.nodes)
    total_params = sum(param_count(n) for n in g.nodes)
    assert rows["TOTAL"][1:] == [f"{total_macs:,}", f"{total_params:,}"]
    assert len(rows) == len(g.nodes) + 1


@pytest.mark.parametrize("args, fragment", [
    (("show", "resnet50"), "unknown model 'resnet50'"),
    (("show", "mobilenetv2", "--width", "0"), "width"),
    (("show", "mobilenetv2", "--width", "5"), "width"),
    (("show", "mobilenetv2", "--resolution", "16"), "resolution 16"),
    (("show", "mobilenetv2", "--resolution", "2000"), "resolution 2000"),
    (("show", "mobilenetv2", "--classes", "0"), "classes 0"),
    (("show", "mobilenetv2", "--seed", "-1"), "seed -1"),
    (("show", "mobilenetv2", "--width", "abc"), "--width"),
])
def test_bad_input_is_one_line_exit_2(args, fragment):
    r = _run(*args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    err_lines = r.stderr.strip().splitlines()
    assert len(err_lines) == 1 and fragment in err_lines[0], r.stderr
    assert r.stdout == ""


def test_unknown_model_error_lists_names():
    r = _run("show", "nope", "--json")
    assert r.returncode == 2
    assert all(name in r.stderr for name in MODEL_NAMES)
