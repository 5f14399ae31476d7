"""Fuzzing the CLI and the build-folder loaders (issue 14).

Whatever a user types and whatever is in a build folder, a command ends with
exit 0 or 2, at most one ``mbmicro: error:`` line, no traceback, no files left
outside its destination and no child process left running. Hypothesis runs
derandomized (tests/conftest.py), so every run tries the same cases; the
example counts keep the whole file to well under a minute.

The commands run in-process (``mbmicro.cli.main``): a Python start-up per
example would make the search a hundred times slower. An exception escaping
``main`` is what a user would see as a traceback, so it fails the test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mbmicro.cli import main

from test_cli_build import _build

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


def _children() -> set[int]:
    """Live child processes of this test process (zombies excluded)."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def cli(args: list[str], watch: Path, allowed: set[str] = frozenset()) -> tuple[int, str]:
    """Run ``mbmicro args`` in-process and check the promises; return (code, stderr)."""
    before, children = _tree(watch), _children()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's own exit (--help, usage errors)
            code = exc.code if isinstance(exc.code, int) else 2
    text = err.getvalue()
    assert code in (0, 2), f"mbmicro {' '.join(args)} exited {code}:\n{text}"
    assert "Traceback" not in text, text
    assert text.count("mbmicro: error:") <= 1 and (code == 0 or text.startswith("mbmicro: error: ")), text
    if code == 2:
        assert text.count("\n") == 1, f"more than one line for a mistake:\n{text}"
    left = _tree(watch) - before - set(allowed)
    assert not left, f"mbmicro {' '.join(args)} left {sorted(left)}"
    assert not (_children() - children), "a child process is still running"
    return code, text


@pytest.fixture(scope="module")
def host_build(tmp_path_factory) -> Path:
    """A real one-layer host build with its program already made (so copies need no compiler)."""
    out = tmp_path_factory.mktemp("fuzz") / "one"
    _build(out)
    subprocess.run(["make", "-s"], cwd=out, check=True, capture_output=True)
    return out


def _copy(host_build: Path, tmp: Path) -> Path:
    dest = tmp / "copy"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(host_build, dest, symlinks=True)
    return dest


# ------------------------------------------------------------------ JSON mutations of build.json

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                      st.text(max_size=12), st.sampled_from(["/bin/true", "../x", "app", "host", "int8", ""]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=6), inner,
                                                                             max_size=4)), max_leaves=12)


def _paths(value, prefix=()):
    """Every key path into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def _mutate(doc, path, action, value):
    if not path:
        return value if action != "delete" else {}
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@FUZZ
@given(data=st.data(), command=st.sampled_from(["run", "verify", "profile", "flash"]))
def test_mutated_build_json(host_build, tmp_path, data, command):
    folder = _copy(host_build, tmp_path)
    doc = json.loads((folder / "build.json").read_text())
    paths = list(_paths(doc))
    path = data.draw(st.sampled_from(paths), label="path")
    action = data.draw(st.sampled_from(["replace", "delete"]), label="action")
    doc = _mutate(doc, path, action, data.draw(json_value, label="value"))
    (folder / "build.json").write_text(json.dumps(doc, allow_nan=True))
    args = {"run": ["run", str(folder), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")],
            "verify": ["verify", str(folder), "--count", "1"], "profile": ["profile", str(folder)],
            "flash": ["flash", str(folder), "--dry-run"]}[command]
    import numpy as np
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 4, 3), np.int8))
    cli(args, tmp_path, allowed={"y.npy"} | {f"copy/{n}" for n in ("app", "app_trace", "app_profile")})


# ------------------------------------------------------------------ random bytes in the folder's files

@FUZZ
@given(name=st.sampled_from(["build.json", "graph.json", "graph.npz", "report.json"]),
       content=st.one_of(st.binary(max_size=300), st.just(b""), st.just(b"{}"), st.just(b"[]"),
                         st.just(b"PK\x03\x04" + bytes(40)), st.just(b"\x93NUMPY\x01\x00" + bytes(20))),
       keep=st.integers(0, 4000), command=st.sampled_from(["verify", "profile"]))
def test_random_bytes_in_build_files(host_build, tmp_path, name, content, keep, command):
    """Each file replaced by random bytes, or cut short (``keep`` bytes of the real one)."""
    folder = _copy(host_build, tmp_path)
    real = (folder / name).read_bytes()
    (folder / name).write_bytes(content if keep % 2 else real[:keep])
    cli([command, str(folder), *(["--count", "1"] if command == "verify" else [])], tmp_path,
        allowed={f"copy/{n}" for n in ("app", "app_trace", "app_profile")})


# ------------------------------------------------------------------ random option values

option_value = st.one_of(st.integers(-10**12, 10**12).map(str), st.floats(allow_nan=True).map(str),
                         st.text(max_size=8), st.sampled_from(["0", "-1", "1e308", "nan", "inf", "0x10", ""]))


@FUZZ
@given(flags=st.lists(st.tuples(st.sampled_from(["--width", "--resolution", "--classes", "--seed"]),
                                option_value), max_size=3),
       model=st.sampled_from(["mobilenetv2", "mixnet-m", "nope", ""]))
def test_random_model_options(tmp_path, flags, model):
    """``show --json`` checks every model option and prints the layers and the spec (no weights are built)."""
    args = ["show", model, "--json"]
    for flag, value in flags:
        args += [f"{flag}={value}"]
    cli(args, tmp_path)


@FUZZ
@given(count=option_value, seed=option_value, extra=st.sampled_from([[], ["--no-such"], ["extra-arg"]]))
def test_random_verify_options(host_build, tmp_path, count, seed, extra):
    """verify's own numbers; a count that is accepted runs for real, so keep accepted ones small."""
    try:
        if int(count) > 2:
            count = "2"
    except ValueError:
        pass
    cli(["verify", str(host_build), f"--count={count}", f"--seed={seed}", *extra], tmp_path)
