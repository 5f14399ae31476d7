"""Interruptions leave nothing behind, builds never replace each other, identical builds are identical.

Why real signals to a real ``python -m mbmicro``: the defects were a SIGTERM
(what ``timeout`` sends) that ended Python without any cleanup, a SIGINT to
mbmicro alone that orphaned make/gcc/cc1 or the running program, and a Ctrl-C
inside TVM that TVM's FFI turned into a RuntimeError traceback.  Each test
sends the signal to the mbmicro process only (``kill PID``) at a known point:
while TVM lowers the kernels (libtvm is mapped, no staging folder yet), while
``cc1`` compiles in the staging folder, while the built program runs.  Then:
the exit code is 128 + signal, stderr is exactly ``mbmicro: interrupted``, no
build, staging, lock or temp folder is left, and no process that mbmicro
started is still running.  Processes are recognized by a marker in their
environment (inherited by every descendant), their cwd or command line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mbmicro.cli import main
from mbmicro.codegen import model_memory, report as report_module
from mbmicro.codegen.kernel_types import KernelArg, NodeKernel
from mbmicro.codegen.project import build_project, is_build
from mbmicro.errors import UserError
from mbmicro.graph.ir import Graph, Node, Tensor
from mbmicro.processes import Interrupted, deferred_interrupts, run_child, signal_handlers
from mbmicro.targets.target import load_target

BUILD = ["--model", "mobilenetv2", "--target", "cortex-m4", "--width", "0.35", "--resolution", "96",
         "--classes", "10"]
MARK = "MBMICRO_SIGNAL_TEST"
LUT_C = """#include <stdint.h>
void one_lut(const int8_t *x, int8_t *y, const int8_t *table, int32_t n) {
    for (int32_t i = 0; i < n; ++i) y[i] = table[x[i] + 128];
}
"""
#: the same kernel, looping for ever: a program that is still running when the signal comes
SPIN_C = """#include <stdint.h>
void one_lut(const int8_t *x, int8_t *y, const int8_t *table, int32_t n) {
    for (;;) {
        for (int32_t i = 0; i < n; ++i) y[i] = table[x[i] + 128];
        __asm__ volatile("" ::: "memory");
    }
}
"""
TABLE = np.roll(np.arange(-128, 128), 3).astype(np.int8)


def _lut_graph() -> Graph:
    t = {"x": Tensor("x", (1, 4, 4, 3), "int8", 1 / 64, 5), "y": Tensor("y", (1, 4, 4, 3), "int8", 0.5, -2)}
    return Graph("one-lut", t, [Node("lut", "lut", ["x"], ["y"], {"func": "x"}, {"table": TABLE})], ["x"], ["y"])


def _lowering(source: str):
    def lower(graph, node, target, knobs=None):
        args = [KernelArg("input", "x", "const int8_t *", "x"), KernelArg("output", "y", "int8_t *", "y"),
                KernelArg("const", "table", "const int8_t *", node.params["table"]),
                KernelArg("int", "n", "int32_t", 48)]
        return NodeKernel(node.name, "one_lut", source, args, {}, 0)
    return lower


def _build(out: Path, target: str = "host", source: str = LUT_C, force: bool = False) -> dict:
    return build_project(_lut_graph(), load_target(target), out, prefix="one", force=force,
                         info={"model": "one-lut", "options": {}}, lower=_lowering(source))


# -- processes -------------------------------------------------------------------------------

def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _ours(tag: Path) -> dict[int, str]:
    """Live processes (pid -> command line) that carry ``tag`` in their environment, cwd or command line."""
    mark, root = f"{MARK}={tag}\0".encode(), str(tag)
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if not stat or stat.rpartition(b")")[2].split()[0] == b"Z":  # gone, or a zombie: not running
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            cwd = ""
        cmdline = _read(f"/proc/{entry}/cmdline").replace(b"\0", b" ").decode(errors="replace")
        if mark in _read(f"/proc/{entry}/environ") or cwd == root or cwd.startswith(root + "/") \
                or root + "/" in cmdline:
            found[int(entry)] = cmdline
    return found


def _ours_after_settling(tag: Path, seconds: float = 5.0) -> dict[int, str]:
    """``_ours`` once SIGKILLed stragglers had up to ``seconds`` to vanish from /proc: a killed
    process still shows as running until the kernel delivers the signal, which on a loaded
    machine can take a while (a CI run saw two 'sleep 60' still listed right after the kill)."""
    settled = time.monotonic() + seconds
    while _ours(tag) and time.monotonic() < settled:
        time.sleep(0.05)
    return _ours(tag)


def _wait_until(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"mbmicro exited ({proc.returncode}) before {what}: {proc.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def sandbox(tmp_path):
    """tmp_path with TMPDIR inside it; whatever mbmicro left running is killed afterwards."""
    (tmp_path / "tmp").mkdir()
    yield tmp_path
    for pid in _ours(tmp_path):  # never leave a spinning program or a compiler on a shared machine
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _start(sandbox: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TMPDIR=str(sandbox / "tmp"), **{MARK: str(sandbox)})
    return subprocess.Popen([sys.executable, "-m", "mbmicro", *args], cwd=sandbox, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _interrupt(proc: subprocess.Popen, signum: int, sandbox: Path) -> None:
    """Send ``signum`` to mbmicro alone; check the exit, the one line, and that nothing runs on."""
    os.kill(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("mbmicro did not stop within 30 s of the signal")
    assert proc.returncode == 128 + signum, err.decode()
    assert err.decode() == "mbmicro: interrupted\n"
    assert _ours_after_settling(sandbox) == {}, "processes left running"
    assert os.listdir(sandbox / "tmp") == [], "temporary files left"


# -- build -----------------------------------------------------------------------------------

def _tvm_loaded(pid: int) -> bool:
    return b"libtvm" in _read(f"/proc/{pid}/maps")


def _compiling(sandbox: Path) -> bool:
    """A cc1 of ours runs in the staging folder beside DIR (once the generated C is there: looking
    at /proc before is needless work for a machine that is busy building)."""
    if not list(sandbox.glob(".b.tmp-*/model/*_kernels.c")):
        return False
    return any(cmd.split(" ")[0].endswith("cc1") for cmd in _ours(sandbox).values())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
@pytest.mark.parametrize("phase", ["lowering", "compiling"])
def test_interrupted_build_leaves_nothing(sandbox, phase, signum):
    proc = _start(sandbox, "build", *BUILD, "-o", str(sandbox / "b"))
    try:
        if phase == "lowering":
            _wait_until(lambda: _tvm_loaded(proc.pid), 60, "TVM to load", proc)
            time.sleep(1.0)  # well inside lowering, which takes ~3 s here
            assert not list(sandbox.glob(".b.tmp-*")), "lowering finished too early: the test is mistimed"
        else:
            _wait_until(lambda: _compiling(sandbox), 60, "cc1 to compile the kernels", proc)
        _interrupt(proc, signum, sandbox)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(os.listdir(sandbox)) == ["tmp"], "build, staging or lock folder left"


def test_interrupt_inside_a_tvm_callback_is_an_interruption(tmp_path, monkeypatch, capsys):
    """TVM's FFI turns the KeyboardInterrupt raised in a Python callback into a bare RuntimeError."""
    import tvm

    from mbmicro.commands import build as build_command

    def callback(mod, ctx):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler runs at once; it interrupts the sleep
        return mod

    def run_a_pass(args):
        tvm.ir.transform.module_pass(callback, opt_level=0, name="interrupted")(tvm.IRModule())
        return 0

    monkeypatch.setattr(build_command, "run", run_a_pass)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert main(["build", "--model", "mobilenetv2", "-o", str(tmp_path / "b")]) == 130
    assert capsys.readouterr().err == "mbmicro: interrupted\n"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # restored


def test_marker_is_written_last(tmp_path, monkeypatch):
    """build.json marks a complete build: it must not exist while the rest of the folder is written."""
    seen = {}
    measure, render_md = model_memory.measure, report_module.render_md

    def measuring(folder, program):
        seen["compiling"] = is_build(folder)
        seen["folder"] = folder
        return measure(folder, program)

    def rendering(rep):
        seen["reporting"] = is_build(seen["folder"])
        return render_md(rep)

    monkeypatch.setattr(model_memory, "measure", measuring)
    monkeypatch.setattr(report_module, "render_md", rendering)
    _build(tmp_path / "b")
    assert seen["compiling"] is False and seen["reporting"] is False
    assert is_build(tmp_path / "b")


# -- run -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spinning(tmp_path_factory):
    """target -> a one-layer build whose program never ends (made when first asked for)."""
    root = tmp_path_factory.mktemp("spin")
    made = {}

    def get(target: str) -> Path:
        if target not in made:
            made[target] = root / target
            _build(made[target], target=target, source=SPIN_C)
        return made[target]
    return get


@pytest.mark.parametrize("target,signum", [("host", signal.SIGINT), ("host", signal.SIGTERM),
                                           ("cortex-m4", signal.SIGTERM)], ids=["host-INT", "host-TERM", "m4-TERM"])
def test_interrupted_run_leaves_nothing(sandbox, spinning, target, signum):
    folder = spinning(target)
    exe = "app" if target == "host" else "qemu-system-arm"
    np.save(sandbox / "x.npy", np.zeros((1, 4, 4, 3), np.int8))
    proc = _start(sandbox, "run", str(folder), "--input", "x.npy", "--output", "y.npy")
    try:
        _wait_until(lambda: any(cmd.split(" ")[0].endswith(exe) for cmd in _ours(sandbox).values()), 60,
                    f"{exe} to run", proc)
        time.sleep(0.2)
        _interrupt(proc, signum, sandbox)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(os.listdir(sandbox)) == ["tmp", "x.npy"]


def test_a_signal_while_a_build_is_renamed_into_place_waits_for_the_rename():
    done = []
    with pytest.raises(Interrupted) as caught:
        with signal_handlers():
            with deferred_interrupts():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.1)  # the handler has run by now, and must not have raised
                done.append("renamed")
    assert done == ["renamed"] and caught.value.exit_code == 143


def test_a_timed_out_child_takes_its_children_along(tmp_path):
    """A timeout stops the child's whole process group, not just the child (make -> gcc -> cc1)."""
    marker = tmp_path / "started"
    script = f"sleep 60 & touch {marker}; sleep 60"
    with pytest.raises(subprocess.TimeoutExpired):
        run_child(["sh", "-c", script], cwd=tmp_path, timeout=1.0)
    assert marker.exists()
    assert _ours_after_settling(tmp_path) == {}


# -- concurrency and determinism ---------------------------------------------------------------

def test_concurrent_builds_into_one_folder_do_not_replace_each_other(tmp_path, monkeypatch):
    out = tmp_path / "b"
    both_staged = threading.Barrier(2, timeout=60)
    measure = model_memory.measure

    def measuring(folder, program):  # both builds have passed every check before either publishes
        both_staged.wait()
        return measure(folder, program)

    monkeypatch.setattr(model_memory, "measure", measuring)
    results: dict[int, object] = {}

    def build(i: int) -> None:
        try:
            results[i] = _build(out)
        except UserError as exc:
            results[i] = exc

    threads = [threading.Thread(target=build, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    refused = [r for r in results.values() if isinstance(r, UserError)]
    assert len(results) == 2 and len(refused) == 1, results
    message = str(refused[0])
    assert message.startswith(f"{out.absolute()} was created by another build meanwhile: ") and "\n" not in message
    assert sorted(os.listdir(tmp_path)) == ["b"] and is_build(out)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_identical_builds_are_byte_identical(tmp_path):
    first, second = _build(tmp_path / "one"), _build(tmp_path / "two")
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert "report.json" in a and "report.md" in a and "one_kernels.o" in a
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    assert first["build_time_s"] >= 0 and second["build_time_s"] >= 0  # the caller still gets the time
