"""mbmicro tune-worker --board: candidates flashed to a board through its probe and timed by its
cycle counter, read from the firmware's console (mbmicro/tune/board.py).

No board is attached here: the board is QEMU netduinoplus2 (an STM32F405), halted with a gdb
server (the gdb probe loads each batch, as it does through openocd's gdb server on a bench) and
its USART1 on a TCP port the worker reaches as socket://, exactly as it reaches /dev/ttyACM0.
QEMU models no DWT counter, so every measured cycle count is 0 here: what is tested is the path
(build, flash, run, verify on the device, parse the cycles the firmware printed, log them as
measured), not the numbers.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from flash_harness import qemu_netduino
from mbmicro.cli import main as cli_main
from mbmicro.tune import log as tlog
from mbmicro.tune.board import BoardSpec, measure_on_board
from mbmicro.tune.search import every_setting
from mbmicro.tune.tuner import Budget, Cost, tune
from mbmicro.tune.worker import TrackerPool
from test_tune import ListWriter, corrupting_lower, _free_port, _kill_tree, _wait_for_tracker, pointwise_kernel, scalar_subspace


def _kernel(seed: int):
    kernel = pointwise_kernel(seed=seed)
    kernel.space = scalar_subspace(kernel)
    return kernel


def test_board_meter_flashes_runs_verifies_and_reads_cycles():
    """Two batches in a row (the second is flashed over the first); a candidate corrupted in a
    test-only way is caught by the comparison on the board."""
    kernel = _kernel(8)
    settings = every_setting(kernel.space)[:3]
    wrong = settings[1]

    corrupting = corrupting_lower(wrong)

    with qemu_netduino(gdb=True) as (url, gdb):
        spec = BoardSpec("netduinoplus2", probe="gdb", gdb=f"127.0.0.1:{gdb}", serial=url, timeout=20)
        records = measure_on_board(kernel, settings, spec, lower=corrupting)
        again = measure_on_board(kernel, settings[:1], spec)
    assert [r["ok"] for r in records] == [True, False, True], [r.get("error") for r in records]
    assert records[1]["error"].startswith("verify:") and "netduinoplus2" in records[1]["error"]
    for r in (records[0], records[2], again[0]):
        assert r["measured_on"] == "netduinoplus2" and r["cycles_are"] == "measured"
        assert r["cycles"] == 0 and "instructions" not in r  # QEMU has no DWT; a board counts no instructions
    # a run tuning for instructions cannot use a board's record; a run for another board neither
    assert "measured no instructions" in Cost("instructions", "netduinoplus2").stamp(records[0])["error"]
    assert "measured on netduinoplus2" in Cost("cycles").stamp(records[0])["error"]
    assert Cost("cycles", "netduinoplus2").stamp(records[0])["ok"]


def test_tune_through_a_board_worker_on_a_tracker():
    """tracker + 'mbmicro tune-worker --board netduinoplus2 --probe gdb': a tuning run for
    cycles on that board gets its records from the firmware, logged as measured on the board,
    and a build for the board takes them."""
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port",
                               str(port), "--port-end", str(port + 1), "--silent"], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        with qemu_netduino(gdb=True) as (url, gdb):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "mbmicro", "tune-worker", "--tracker", f"127.0.0.1:{port}", "--key", "nd2",
                 "--host", "127.0.0.1", "--port", str(_free_port()), "--board", "netduinoplus2", "--probe", "gdb",
                 "--gdb", f"127.0.0.1:{gdb}", "--serial", url, "--board-timeout", "20"],
                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait_for_tracker(port)
            pool = TrackerPool("127.0.0.1", port, "nd2", timeout=120, target_name="cortex-m4")
            end = time.monotonic() + 40
            while pool.workers() < 1 and time.monotonic() < end:
                time.sleep(0.3)
            kernel = _kernel(9)
            writer = ListWriter()
            results = tune([kernel], pool, writer, budget=Budget(trials=3, batch=3),
                           cost=Cost("cycles", "netduinoplus2"))
    finally:
        for proc in reversed(procs):
            _kill_tree(proc)
    records = writer.records
    assert len(records) == 3 and all(r["ok"] for r in records), [r.get("error") for r in records]
    assert all(r["cost"] == "cycles" and r["measured_on"] == "netduinoplus2" and r["cycles_are"] == "measured"
               and r["cycles"] == 0 and r["worker"] for r in records)
    assert results[0].best["knobs"] == kernel.defaults  # all 0 cycles: nothing beats the defaults
    pick = tlog.best_for_build(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults,
                               board="netduinoplus2")
    assert pick["measured_on"] == "netduinoplus2"
    assert tlog.best_for_build(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults) is None


@pytest.mark.parametrize("argv, message", [
    (["--probe", "gdb"], "--probe is for --board"),
    (["--board", "raspberrypi3"], "runs Linux"),
    (["--board", "netduinoplus2", "--probe", "gdb"], "--probe gdb needs --gdb HOST:PORT"),
    (["--board", "netduinoplus2", "--probe", "openocd", "--gdb", "h:1"], "--gdb is for --probe gdb"),
    (["--board", "nosuch"], "unknown board 'nosuch'"),
])
def test_tune_worker_board_bad_input_is_one_line_exit_2(argv, message, capsys):
    code = cli_main(["tune-worker", "--tracker", "127.0.0.1:1", "--key", "k", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("mbmicro: error: ") and err.count("\n") == 1
