"""The CLI's promise at its edges: `--version`, argparse mistakes and
`profile` on a host build each end in the right one line (issue 7)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

import mbmicro
from mbmicro.cli import main

from test_cli_build import _build, _one_line_error


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mbmicro", *args], capture_output=True, text=True, timeout=120)


def test_version_names_package_and_tvm():
    r = _run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"mbmicro {mbmicro.__version__} (Apache TVM {metadata.version('apache-tvm')})"


@pytest.mark.parametrize("args, see", [
    (("--no-such-flag",), "(see 'mbmicro --help')"),
    (("frobnicate",), "(see 'mbmicro --help')"),
    (("build", "--no-such-flag"), "(see 'mbmicro build --help')"),
    (("show", "mobilenetv2", "--width", "abc"), "(see 'mbmicro show --help')"),
])
def test_argparse_errors_name_the_right_help(args, see):
    r = _run(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mbmicro: error: ") and lines[0].endswith(see), r.stderr


def test_profile_refuses_a_host_build_in_one_line(tmp_path, capsys):
    out = tmp_path / "host-build"
    _build(out)  # a one-layer build for the host target
    assert main(["profile", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "'host'" in err and all(t in err for t in ("cortex-m4", "cortex-m7", "cortex-m55", "cortex-a53")), err
