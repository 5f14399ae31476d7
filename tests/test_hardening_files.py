"""A build folder is data, and every bad input file is one line (issue 14, defects 1, 4, 8-11, 13).

An adversarial user tampers with a real build folder (a one-layer host build
with a hand-written kernel, from test_cli_build: no TVM, under a second) and
hands the loaders broken files. Every case must end as one line on stderr
naming the broken file, exit code 2, and never run a program outside the
folder or block on a pipe.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main

from test_cli_build import _build, _one_line_error

#: a small model that builds its float graph in a fraction of a second
SMALL = ["--resolution", "32", "--width", "0.35", "--classes", "10"]

EVIL = "#!/bin/sh\ntouch '{marker}'\n"

SHORT_MAIN_C = """#include <stdio.h>
int main(int argc, char **argv)
{
    FILE *f;
    if (argc < 3 || (f = fopen(argv[2], "wb")) == NULL)
        return 1;
    fputs("short", f);
    return fclose(f) != 0;
}
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pristine") / "one"
    _build(out)
    assert main(["run", str(out), "--input", str(_image(out.parent)), "--output", str(out.parent / "y.npy")]) == 0
    return out  # made once: the copies below reuse its object files and app


@pytest.fixture
def folder(pristine, tmp_path) -> Path:
    """A private copy of the build to tamper with (mtimes kept, so make does not rebuild)."""
    return Path(shutil.copytree(pristine, tmp_path / "b", symlinks=True))


def _image(where: Path) -> Path:
    path = where / "x.npy"
    if not path.exists():
        np.save(path, np.zeros((4, 4, 3), np.float32))
    return path


def _argv(command: str, folder: Path) -> list[str]:
    if command == "run":
        return ["run", str(folder), "--input", str(_image(folder.parent)), "--output", str(folder.parent / "y.npy")]
    return [command, str(folder)]


def _edit_json(path: Path, change) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _refused(capsys, argv: list[str], *fragments: str) -> str:
    assert main(argv) == 2
    err = _one_line_error(capsys)
    assert all(f in err for f in fragments), err
    return err


def _evil(where: Path) -> tuple[Path, Path]:
    """An executable script that leaves a marker file when it runs."""
    script, marker = where / "evil.sh", where / "evil-ran"
    script.write_text(EVIL.format(marker=marker))
    script.chmod(0o755)
    return script, marker


# ------------------------------------------------------------------ defect 1: the folder names no program

@pytest.mark.parametrize("command", ["run", "verify", "profile"])
@pytest.mark.parametrize("exe", ["absolute", "../evil.sh", "evil.sh"])
def test_build_json_exe_never_runs_another_program(folder, command, exe, capsys):
    script, marker = _evil(folder.parent)
    if exe == "evil.sh":  # inside the folder, but not what the Makefile makes
        shutil.copy(script, folder / "evil.sh")
    name = str(script) if exe == "absolute" else exe
    _edit_json(folder / "build.json", lambda b: b["exe"].update({"all": name, "trace": name, "profile": name}))
    _refused(capsys, _argv(command, folder), "build.json is broken", f"exe.all is '{name}'", "rebuild")
    assert not marker.exists()


def test_executable_that_leads_out_of_the_folder_is_not_run(folder, capsys):
    script, marker = _evil(folder.parent)
    (folder / "app").unlink()
    (folder / "app").symlink_to(script)  # newer than the objects: make considers it up to date
    _refused(capsys, _argv("run", folder), "is not a program made in", "evil.sh")
    assert not marker.exists()


def test_build_json_files_stay_inside_the_folder(folder, capsys):
    _edit_json(folder / "build.json", lambda b: b["files"].append("../../../etc/passwd"))
    _refused(capsys, _argv("run", folder), "build.json is broken", "files[", "outside the folder")


def test_readme_says_the_commands_execute_the_folder():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    using = text.split("## Using it", 1)[1].split("\n## ", 1)[0]
    assert "run`, `verify` and `profile` build and execute" in using


# ------------------------------------------------------------------ defect 4 and 13: bad .npy files

def _bad_npy(kind: str, path: Path) -> Path:
    """A file no loader may trust: empty, an .npz, a header claiming 103 GiB, truncated, objects."""
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, x=np.zeros((4, 4, 3), np.float32))
    elif kind == "103GiB":
        with open(path, "wb") as f:
            header = {"descr": "<f4", "fortran_order": False, "shape": (183_800, 224, 224, 3)}
            np.lib.format.write_array_header_1_0(f, header)
            f.write(bytes(1024))
    elif kind == "truncated":
        path.write_bytes(_npy_bytes(np.zeros((1, 32, 32, 3), np.float32))[:-7])
    elif kind == "text":
        path.write_text("not numpy")
    return path


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


BAD_NPY = ["empty", "npz", "103GiB", "truncated", "text"]


@pytest.mark.parametrize("kind", BAD_NPY)
def test_run_input_bad_npy_is_one_line(folder, kind, tmp_path, capsys):
    bad = _bad_npy(kind, tmp_path / "bad.npy")
    argv = ["run", str(folder), "--input", str(bad), "--output", str(tmp_path / "y.npy")]
    _refused(capsys, argv, f"input file {bad} is not a readable .npy array")
    assert not (tmp_path / "y.npy").exists()


@pytest.mark.parametrize("argv", [
    ["reference", "mobilenetv2", *SMALL, "--input", "{bad}"],
    ["reference", "mobilenetv2", *SMALL, "--calibration", "{bad}"],
    ["build", "--model", "mobilenetv2", *SMALL, "--calibration", "{bad}", "-o", "{tmp}/b"],
    ["export-onnx", "mobilenetv2", *SMALL, "--int8", "--calibration", "{bad}", "-o", "{tmp}/m.onnx"],
], ids=["reference-input", "reference-calibration", "build-calibration", "export-onnx-calibration"])
@pytest.mark.parametrize("kind", ["empty", "npz", "103GiB"])
def test_image_loaders_refuse_bad_npy_in_one_line(argv, kind, tmp_path, capsys):
    bad = _bad_npy(kind, tmp_path / "bad.npy")
    argv = [a.format(bad=bad, tmp=tmp_path) for a in argv]
    _refused(capsys, argv, str(bad), "is not a readable .npy array")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npy"]


def test_npy_header_is_checked_before_allocating(tmp_path):
    from mbmicro.errors import UserError
    from mbmicro.graph.files import load_npy

    with pytest.raises(UserError, match="more than the limit"):
        load_npy(_bad_npy("103GiB", tmp_path / "big.npy"), "input file")
    with pytest.raises(UserError, match="holds"):
        load_npy(_bad_npy("truncated", tmp_path / "short.npy"), "input file")
    fine = np.arange(24, dtype=">f4").reshape(2, 3, 4)
    np.save(tmp_path / "be.npy", np.asfortranarray(fine))
    got = load_npy(tmp_path / "be.npy", "input file")
    assert got.dtype == np.float32 and np.array_equal(got, fine)


@pytest.mark.parametrize("argv", [
    ["run", "{build}", "--input", "{fifo}", "--output", "{tmp}/y.npy"],
    ["reference", "mobilenetv2", *SMALL, "--input", "{fifo}"],
    ["reference", "mobilenetv2", *SMALL, "--calibration", "{fifo}"],
], ids=["run-input", "reference-input", "reference-calibration"])
def test_fifo_as_input_returns_at_once(pristine, argv, tmp_path):
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    err = _cli_must_return([a.format(build=pristine, fifo=fifo, tmp=tmp_path) for a in argv])
    assert f"{fifo} is not a readable .npy array (it is not a regular file" in err


def _cli_must_return(argv: list[str]) -> str:
    """Run mbmicro in a child process (before the fix these blocked forever, waiting for a
    writer); it must fail at once with one line. Returns that line."""
    try:
        done = subprocess.run([sys.executable, "-m", "mbmicro", *argv], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"mbmicro {' '.join(argv)} blocked on a FIFO")
    assert done.returncode == 2 and done.stderr.startswith("mbmicro: error: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def test_verify_count_is_bounded(pristine, monkeypatch, capsys):
    import mbmicro.sim.execute as execute

    def never(*args, **kwargs):  # before the fix 10**12 runs started (and never ended)
        raise AssertionError("verify ran the program for an absurd --count")

    monkeypatch.setattr(execute, "run_build", never)
    _refused(capsys, ["verify", str(pristine), "--count", str(10**12)], "--count 1000000000000 is invalid", "10000")
    _refused(capsys, ["verify", str(pristine), "--count", "10001"], "--count 10001")


# ------------------------------------------------------------------ defect 8: --seed

def test_verify_negative_seed_is_one_line(pristine, capsys):
    _refused(capsys, ["verify", str(pristine), "--seed", "-1"], "--seed -1 is invalid")


# ------------------------------------------------------------------ defect 9: absurd calibration values

@pytest.mark.parametrize("value", [1e30, -2e4])
def test_calibration_with_huge_values_is_one_line(value, tmp_path, capsys):
    images = np.zeros((2, 32, 32, 3), np.float32)
    images[1, 3, 4, 0] = value
    np.save(tmp_path / "cal.npy", images)
    argv = ["reference", "mobilenetv2", *SMALL, "--calibration", str(tmp_path / "cal.npy")]
    _refused(capsys, argv, "has values up to", "[-1, 1]")


# ------------------------------------------------------------------ defect 10: tampered folders

def _del(*keys):
    def change(doc):
        for key in keys[:-1]:
            doc = doc[key]
        del doc[keys[-1]]
    return change


def _set(value, *keys):
    def change(doc):
        for key in keys[:-1]:
            doc = doc[key]
        doc[keys[-1]] = value
    return change


BUILD_JSON = {
    "no-input": (_del("input"), "key input is missing"),
    "no-output-shape": (_del("output", "shape"), "key output.shape is missing"),
    "no-target": (_del("target"), "key target is missing"),
    "no-exe": (_del("exe"), "key exe is missing"),
    "no-files": (_del("files"), "key files is missing"),
    "exe-string": (_set("app", "exe"), "exe is 'app', not an object"),
    "shape-string": (_set("abc", "input", "shape"), "input.shape"),
    "shape-3d": (_set([1, 4, 4], "input", "shape"), "input.shape"),
    "shape-negative": (_set([1, 4, -4, 3], "output", "shape"), "output.shape"),
    "shape-float": (_set([1, 4.0, 4, 3], "output", "shape"), "output.shape"),
    "shape-huge": (_set([1, 10**6, 10**6, 3], "input", "shape"), "input.shape"),
    "scale-string": (_set("x", "input", "scale"), "input.scale is 'x'"),
    "scale-zero": (_set(0, "output", "scale"), "output.scale is 0"),
    "zero-point-big": (_set(1000, "input", "zero_point"), "input.zero_point is 1000"),
    "zero-point-bool": (_set(True, "input", "zero_point"), "input.zero_point is True"),
    "target-number": (_set(5, "target"), "target is 5, not a string"),
    "target-unknown": (_set("../../etc", "target"), "target '../../etc' is not one of"),
    "files-string": (_set("Makefile", "files"), "files is 'Makefile', not a list"),
    "files-numbers": (_set([1], "files"), "files[0] is 1"),
}


@pytest.mark.parametrize("command", ["run", "verify", "profile"])
@pytest.mark.parametrize("case", sorted(BUILD_JSON))
def test_tampered_build_json_is_one_line(folder, command, case, capsys):
    change, fragment = BUILD_JSON[case]
    _edit_json(folder / "build.json", change)
    _refused(capsys, _argv(command, folder), f"{folder}/build.json is broken", fragment, "rebuild the folder")


@pytest.mark.parametrize("command", ["run", "verify", "profile"])
@pytest.mark.parametrize("content, fragment", [
    ("", "the file is empty"),
    ("{\"format\": ", "not valid JSON"),
    ("[" * 10000 + "]" * 10000, "nested more than"),
    ("[1, 2]", "not an mbmicro-build/1 file"),
    (json.dumps({"format": "x"}), "not an mbmicro-build/1 file"),
], ids=["empty", "cut-short", "10000-deep", "list", "format-x"])
def test_broken_build_json_is_one_line_and_commands_agree(folder, command, content, fragment, capsys):
    (folder / "build.json").write_text(content)
    _refused(capsys, _argv(command, folder), "build.json", fragment, "rebuild the folder")


def test_build_json_fifo_does_not_block(folder):
    (folder / "build.json").unlink()
    os.mkfifo(folder / "build.json")
    err = _cli_must_return(_argv("verify", folder))
    assert "build.json is broken (it is not a regular file" in err


def _graph_unknown_op(doc):
    doc["nodes"][0]["op"] = "frobnicate"


def _graph_deep_text(path: Path) -> None:
    path.write_text(path.read_text().replace('"meta": {}', '"meta": ' + "[" * 10000 + "]" * 10000))


GRAPH_JSON = {
    "unknown-op": (_graph_unknown_op, "unknown op 'frobnicate'"),
    "huge-shape": (lambda d: d["tensors"][1].update(shape=[1, 100000, 100000, 3]), "more than the limit"),
    "shape-string": (lambda d: d["tensors"][0].update(shape="4x4"), "not 1 to 8 positive integers"),
    "no-nodes": (lambda d: d.pop("nodes"), "missing key 'nodes'"),
    "node-inputs-number": (lambda d: d["nodes"][0].update(inputs=3), "expected a list of names"),
    "dangling-tensor": (lambda d: d["nodes"][0].update(outputs=["nowhere"]), "tensor nowhere is used"),
    "array-object-dtype": (lambda d: d["meta"].update(a={"__array__": [1], "dtype": "O"}), "plain number type"),
    "bad-format": (lambda d: d.update(format="other"), "not an mbmicro-graph/1 file"),
    "other-input-shape": (lambda d: d["tensors"][0].update(shape=[1, 2, 2, 3]), "does not match build.json"),
}


@pytest.mark.parametrize("case", sorted(GRAPH_JSON))
def test_tampered_graph_json_is_one_line(folder, case, capsys):
    change, fragment = GRAPH_JSON[case]
    _edit_json(folder / "graph.json", change)
    _refused(capsys, _argv("verify", folder), f"{folder}/graph.json", fragment, "rebuild the folder")


def test_deeply_nested_graph_json_is_one_line(folder, capsys):
    _graph_deep_text(folder / "graph.json")
    _refused(capsys, _argv("verify", folder), "graph.json is broken", "nested more than")


def _npz_with(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("case", ["empty", "truncated", "garbage", "no-member", "huge-header", "strings", "dir"])
def test_broken_graph_npz_is_one_line(folder, case, capsys):
    npz = folder / "graph.npz"
    data = npz.read_bytes()
    if case == "empty":
        npz.write_bytes(b"")
    elif case == "truncated":
        npz.write_bytes(data[: len(data) // 2])
    elif case == "garbage":
        npz.write_bytes(bytes(range(256)) * 4)
    elif case == "no-member":
        _npz_with(npz, {})
    elif case == "huge-header":  # a 400-byte member claiming a 10**12-byte table
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False, "shape": (10**12,)})
        _npz_with(npz, {"0/table.npy": header.getvalue() + bytes(256)})
    elif case == "strings":
        _npz_with(npz, {"0/table.npy": _npy_bytes(np.array(["a", "b"]))})
    elif case == "dir":
        npz.unlink()
        npz.mkdir()
    fragment = "is a folder" if case == "dir" else "graph.npz is broken"
    _refused(capsys, _argv("verify", folder), f"{folder}/graph.npz", fragment, "rebuild the folder")


@pytest.mark.parametrize("change, fragment", [
    (lambda r: r.pop("layers"), "key layers is missing"),
    (lambda r: r.update(layers={"a": 1}), "layers is {'a': 1}, not a list"),
    (lambda r: r["layers"][0].update(macs="many"), "layers[0].macs is 'many'"),
    (lambda r: r["layers"][0].pop("name"), "key layers[0].name is missing"),
])
def test_tampered_report_json_is_one_line(folder, change, fragment, capsys):
    _edit_json(folder / "report.json", change)
    _refused(capsys, _argv("profile", folder), "report.json is broken", fragment, "rebuild the folder")


@pytest.mark.parametrize("command", ["run", "verify"])
def test_app_writing_too_few_bytes_is_one_line(folder, command, capsys):
    (folder / "mbmicro_main.c").write_text(SHORT_MAIN_C)  # newer than its object: make rebuilds app
    _refused(capsys, _argv(command, folder), "app wrote 5 output bytes", "(1, 4, 4, 3) is 48", "rebuild")


def test_app_writing_no_output_is_one_line(folder, capsys):
    (folder / "mbmicro_main.c").write_text("int main(void)\n{\n    return 0;\n}\n")
    _refused(capsys, _argv("run", folder), "app exited without writing output.bin", "rebuild")


def test_untampered_copy_still_runs_and_verifies(folder, capsys):
    assert main(_argv("run", folder)) == 0
    assert main(["verify", str(folder), "--count", "2"]) == 0
    assert "verified 2/2" in capsys.readouterr().out


# ------------------------------------------------------------------ defect 11: --output

def test_run_output_folder_is_refused(pristine, tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    argv = ["run", str(pristine), "--input", str(_image(tmp_path)), "--output", str(out)]
    _refused(capsys, argv, f"--output {out} is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "x.npy"] and not any(out.iterdir())


def test_run_output_is_written_exactly_where_asked(pristine, tmp_path, capsys):
    out = tmp_path / "scores"
    argv = ["run", str(pristine), "--input", str(_image(tmp_path)), "--output", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores", "x.npy"]
    assert np.load(out).shape == (1, 4, 4, 3)
