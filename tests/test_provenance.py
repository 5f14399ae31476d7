"""Provenance (mbmicro.codegen.provenance): build.json, report.json/md and every generated file's header
say which mbmicro, TVM and compiler made the build, from which options, spec, weights and model file;
two identical builds stay byte-identical, and the hashes move exactly when what they hash moves.

Fast: the one-layer LUT build needs no TVM, the .tflite builds are one conv kernel, and the seed and
width checks hash real built-in int8 graphs without lowering them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mbmicro import __version__
from mbmicro.cli import main
from mbmicro.codegen import provenance
from mbmicro.codegen.project import build_project
from mbmicro.codegen.weights import WeightTable
from mbmicro.pipeline import make_model
from mbmicro.targets.target import load_target

from test_cli_build import _lower, _lut_graph

ROOT = Path(__file__).resolve().parents[1]
TFLITE = ROOT / "tests" / "data" / "tflite" / "conv_same.tflite"
FIELDS = {"mbmicro", "tvm", "compiler", "options", "spec_sha256", "weights_sha256", "model_sha256"}
SHA = re.compile(r"[0-9a-f]{64}")


def _generated(folder: Path) -> dict[str, str]:
    """Every text file of the build whose header says it is generated (copied files say nothing)."""
    files = json.loads((folder / "build.json").read_text())["files"]
    out = {}
    for name in files:
        if provenance.comment_style(name) is None:
            continue
        text = (folder / name).read_text()
        if provenance.MARKER in "\n".join(text.splitlines()[:3]):
            out[name] = text
    return out


def _lut_build(out: Path, target: str = "host") -> dict:
    return build_project(_lut_graph(), load_target(target), out, prefix="one", force=False,
                         info={"model": "one-lut", "options": {}}, lower=_lower)


def _check_stamped(folder: Path, must: set[str]) -> dict:
    prov = json.loads((folder / "build.json").read_text())["provenance"]
    assert FIELDS <= set(prov) and prov["mbmicro"] == __version__
    assert all(SHA.fullmatch(prov[k]) for k in ("spec_sha256", "weights_sha256", "model_sha256"))
    generated = _generated(folder)
    assert must <= set(generated), sorted(must - set(generated))
    for name, text in generated.items():
        head = "\n".join(text.splitlines()[:30])  # the block follows the first comment
        for value in (prov["weights_sha256"], prov["spec_sha256"], prov["model_sha256"], prov["compiler"],
                      f"mbmicro {__version__}", f"Apache TVM {prov['tvm']}"):
            assert value in head, (name, value)
    report = json.loads((folder / "report.json").read_text())
    assert report["provenance"] == prov
    md = (folder / "report.md").read_text()
    assert md.splitlines()[2] == "Provenance:" and prov["model_sha256"] in md
    assert prov["model_sha256"] in (folder / "report.html").read_text()  # report.md, as a page
    return prov


def test_build_json_headers_and_reports_carry_provenance(tmp_path):
    _lut_build(tmp_path / "b")
    folder = tmp_path / "b"
    prov = _check_stamped(folder, {"model/one_model.h", "model/one_model.c", "model/one_kernels.c",
                                   "model/one_weights.c", "model/one_weights.h", "model/model.mk",
                                   "model/model.cmake", "mbmicro_app.h", "Makefile"})
    header = (folder / "model" / "one_model.h").read_text()
    assert f'#define ONE_MODEL_SHA256 "{prov["model_sha256"]}"' in header
    # not from the command line: the options of the build_project call itself
    assert prov["options"] == {"io_in_arena": False, "model": "one-lut", "prefix": "one", "target": "host"}
    # copied files keep their own text (they are not generated)
    assert "Provenance" not in (folder / "mbmicro_main.c").read_text()
    assert "Provenance" not in (folder / "model" / "mbmicro_hooks.h").read_text()


def test_firmware_files_carry_provenance(tmp_path):
    _lut_build(tmp_path / "fw", "netduinoplus2")
    _check_stamped(tmp_path / "fw", {"firmware/Makefile", "firmware/CMakeLists.txt", "firmware/firmware.ld",
                                     "firmware/mbmicro_board.h", "firmware/mbmicro_fw_model.h"})


def test_two_cli_builds_are_byte_identical_and_name_no_build_folder(tmp_path, capsys):
    """The same command into two folders: every file equal, provenance included; no folder of this
    machine (the repository, the output) in any generated file; the model file by name and SHA-256."""
    firsts = []
    for name in ("one", "two"):
        out = tmp_path / name / "build"
        assert main(["build", "--model", str(TFLITE), "--target", "host", "-o", str(out)]) == 0
        firsts.append(out)
    a, b = firsts
    files = json.loads((a / "build.json").read_text())["files"]
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    prov = json.loads((a / "build.json").read_text())["provenance"]
    assert prov["options"]["model"] == "conv_same.tflite" and prov["options"]["target"] == "host"
    assert "output" not in prov["options"] and "force" not in prov["options"]
    assert prov["source"]["file"] == "conv_same.tflite"
    assert prov["source"]["sha256"] == provenance.hashlib.sha256(TFLITE.read_bytes()).hexdigest()
    for name, text in _generated(a).items():
        for folder in (str(tmp_path), str(ROOT)):
            assert folder not in text, (name, folder)


def _weights_of(graph) -> WeightTable:
    """The graph's parameters in a WeightTable, node by node (what lowering adds, without TVM)."""
    table = WeightTable("m")
    for node in graph.nodes:
        for key, value in sorted(node.params.items()):
            if value.dtype.name in ("int8", "int32", "int16", "uint8"):
                table.add(f"{node.name}_{key}", value)
    return table


def _prov(model: str, width: float = 0.35, seed: int = 0) -> provenance.Provenance:
    _, graph = make_model(model, width, 32, 10, seed)
    return provenance.collect(graph, _weights_of(graph), "gcc", {"model": model, "seed": seed})


def test_seed_moves_the_weights_not_the_spec():
    first, again, other = _prov("mobilenetv2"), _prov("mobilenetv2"), _prov("mobilenetv2", seed=1)
    assert first == again
    assert other.weights_sha256 != first.weights_sha256 and other.model_sha256 != first.model_sha256
    assert other.spec_sha256 == first.spec_sha256


def test_architecture_moves_the_spec():
    assert _prov("mobilenetv2", width=0.5).spec_sha256 != _prov("mobilenetv2").spec_sha256


@pytest.mark.parametrize("style", ["c", "#"])
def test_header_survives_hostile_options(style):
    """Option text cannot end the comment or the line: '*/' is broken up, newlines are JSON-escaped."""
    prov = provenance.Provenance("0", "0", "cc", {"calibration": "a*/b\nc\\"}, "0" * 64, "1" * 64, "2" * 64,
                                 {"file": "x*/\n.onnx", "sha256": "3" * 64})
    lines = provenance.header(prov, style)
    body = "\n".join(lines)
    assert all(ord(ch) < 128 for ch in body)
    if style == "c":
        assert body.count("*/") == 1 and body.endswith("*/")
    else:
        assert all(line.startswith("#") and not line.endswith("\\") for line in lines)


def test_compiler_is_its_version_line_or_not_installed():
    assert provenance.compiler_version("no-such-compiler-h13") == "no-such-compiler-h13 not installed"
    line = provenance.compiler_version("gcc")
    assert "\n" not in line and re.search(r"\d+\.\d+", line), line
