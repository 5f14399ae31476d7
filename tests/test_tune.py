"""mbmicro tune (issue 11): measuring candidates in QEMU, the search, the log, build --tuning-log,
and workers behind a TVM RPC tracker."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from kernel_harness import random_int8, random_requant, single_node_graph, tensor
from mbmicro.cli import main as cli_main
from mbmicro.codegen.kernels import lower_node
from mbmicro.errors import UserError
from mbmicro.targets.target import load_target
from mbmicro.tune import log as tlog
from mbmicro.tune.measure import kernel_of, measure
from mbmicro.tune.search import Search, every_setting
from mbmicro.tune.tuner import Budget, Cost, tune
from mbmicro.tune.worker import LocalPool, TrackerPool

M4 = load_target("cortex-m4")


def pointwise_kernel(seed: int = 0, hw: int = 4, c: int = 16, k: int = 8):
    """A small 1x1 conv (pointwise) node and its tunable kernel on cortex-m4."""
    rng = np.random.default_rng(seed)
    x, y = tensor("x", (1, hw, hw, c), 3), tensor("y", (1, hw, hw, k), -2)
    mult, shift = random_requant(rng, k)
    graph, node = single_node_graph(
        "conv2d", [x], y, name=f"pw{seed}",
        attrs=dict(kernel=(1, 1), stride=1, pad=(0, 0, 0, 0), groups=1, act_min=-128, act_max=127),
        params=dict(weight=random_int8(rng, (k, 1, 1, c)), bias=rng.integers(-500, 500, k).astype(np.int32),
                    multiplier=mult, shift=shift))
    return kernel_of(graph, node, M4)


def scalar_subspace(kernel) -> dict:
    """16 settings of the scalar schedule: every tile size pair, unroll on, micro-kernel off."""
    space = dict(kernel.space)
    space["unroll"], space["micro"] = [1], ["none"]
    return space


class TablePool:
    """A pool that answers from records measured once (the search test needs no QEMU of its own)."""

    def __init__(self, table: dict[str, dict]):
        self.table = table
        self.asked: list[dict] = []

    def run(self, next_jobs, kernel_of, finished):
        while jobs := next_jobs(set()):
            for index, candidates in jobs:
                self.asked += candidates
                finished(index, [self.table[json.dumps(c, sort_keys=True)] for c in candidates])


class ListWriter:
    def __init__(self):
        self.records: list[dict] = []

    def append(self, records):
        self.records += records


@pytest.fixture(scope="module")
def measured_space():
    """The 16-point scalar sub-space of a tiny pointwise kernel, every point measured in one firmware."""
    kernel = pointwise_kernel()
    kernel.space = scalar_subspace(kernel)
    settings = every_setting(kernel.space)
    records = measure(kernel, settings, M4)
    assert all(r["ok"] for r in records), [r.get("error") for r in records]
    return kernel, {json.dumps(r["knobs"], sort_keys=True): r for r in records}


def corrupting_lower(wrong: dict):
    """lower_node, except that the candidate with knobs ``wrong`` gets its bias off by 1000:
    a deliberately wrong candidate that only the bit-exact check can catch."""
    def lower(graph, node, target, knobs):
        lowered = lower_node(graph, node, target, knobs)
        if knobs != wrong:
            return lowered
        args = [dataclasses.replace(a, value=a.value + 1000) if a.name == "bias" else a for a in lowered.args]
        return dataclasses.replace(lowered, args=args)
    return lower


def test_measure_counts_every_candidate_and_the_knobs_matter(measured_space):
    _, table = measured_space
    counts = {r["instructions"] for r in table.values()}
    assert len(table) == 16 and all(r["cycles"] > r["instructions"] > 0 for r in table.values())
    assert len(counts) > 4, "different tiles should cost different instruction counts"


def test_search_with_a_fixed_seed_finds_the_known_best_in_fewer_trials(measured_space):
    kernel, table = measured_space
    best = min(table.values(), key=lambda r: (r["instructions"], r["cycles"]))
    pool, writer = TablePool(table), ListWriter()
    results = tune([kernel], pool, writer, budget=Budget(trials=10, batch=3), seed=1)
    assert results[0].best["knobs"] == best["knobs"]
    assert results[0].trials == 10 and len(pool.asked) == 10, "the search stays within --trials"
    assert pool.asked[0] == kernel.defaults, "the defaults are always measured first"
    again = TablePool(table)
    tune([kernel], again, ListWriter(), budget=Budget(trials=10, batch=3), seed=1)
    assert again.asked == pool.asked, "same seed, same candidates in the same order"


def test_search_is_exhaustive_when_the_space_fits_the_trials():
    space = {"a": [1, 2, 3], "b": ["x", "y"]}
    search = Search(space, seed=0)
    got = search.propose(100, trials_left=100)
    assert got == every_setting(space) and got[0] == {"a": 1, "b": "x"}


def test_log_round_trips_resumes_and_merges(measured_space, tmp_path):
    kernel, table = measured_space
    path = tmp_path / "tune.json"
    writer = tlog.Writer(path)
    first = TablePool(table)
    tune([kernel], first, writer, budget=Budget(trials=6, batch=4), seed=3)
    writer.close()
    records = tlog.read(path)
    assert [r["knobs"] for r in records] == first.asked
    assert records == [dict(table[json.dumps(k, sort_keys=True)], cost="instructions") for k in first.asked]
    assert json.loads(path.read_text().splitlines()[0]) == tlog.HEADER
    # resume: a second run with a larger budget measures only what is new
    writer, second = tlog.Writer(path), TablePool(table)
    tune([kernel], second, writer, budget=Budget(trials=9, batch=4), seed=3, previous=records)
    writer.close()
    assert len(second.asked) == 3 and not {json.dumps(k) for k in second.asked} & {json.dumps(k) for k in first.asked}
    # a killed run's torn last line is ignored, and appending starts on a new line
    with open(path, "a") as f:
        f.write('{"target": "cortex-m4", "kern')
    assert len(tlog.read(path)) == 9
    tlog.Writer(path).close()
    assert len(tlog.read(path)) == 9
    # merge: two logs that share candidates keep each once
    other = tmp_path / "other.json"
    tlog.write(other, records[:2] + [dict(records[0], instructions=1)])
    merged = tlog.read_many([path, other])
    assert len(merged) == 9 and merged[0]["instructions"] == records[0]["instructions"]
    best = tlog.best(merged, kernel.family, kernel.key, kernel.space_version)
    assert best["instructions"] == min(r["instructions"] for r in merged if r["ok"])
    assert tlog.best(merged, kernel.family, kernel.key, "another-space") is None
    # the defaults stay unless beaten by more than the margin (placement noise)
    default = dict(records[0], knobs=kernel.defaults, instructions=1000)
    near = dict(records[0], knobs={**kernel.defaults, "tile_p": 1}, instructions=999)
    far = dict(near, instructions=990)
    assert tlog.best([default, near], kernel.family, kernel.key, kernel.space_version, kernel.defaults) is default
    assert tlog.best([default, far], kernel.family, kernel.key, kernel.space_version, kernel.defaults) is far
    assert tlog.best([default, near], kernel.family, kernel.key, kernel.space_version) is near


def test_cost_cycles_ranks_by_estimated_cycles_and_costs_never_compare(measured_space, tmp_path):
    """--cost cycles: the search and the choice rank by the estimated cycles; the log says which
    cost each record was tuned for; an instructions run and a cycles run of the same candidates
    are different records, and a build takes the cycles run's choice (tlog.preference)."""
    kernel, table = measured_space
    by_cycles = min(table.values(), key=lambda r: (r["cycles"], r["instructions"]))
    path = tmp_path / "tune.json"
    writer = tlog.Writer(path)
    res_i = tune([kernel], TablePool(table), writer, budget=Budget(trials=16, batch=8))
    res_c = tune([kernel], TablePool(table), writer, budget=Budget(trials=16, batch=8), cost=Cost("cycles"))
    writer.close()
    records = tlog.read(path)
    assert len(records) == 32, "the cycles run measured again: an instructions record is not a cycles record"
    assert {r["cost"] for r in records[:16]} == {"instructions"} and {r["cost"] for r in records[16:]} == {"cycles"}
    assert all(r["measured_on"] == "qemu" and r["cycles_are"] == "estimated" for r in records)
    assert res_c[0].best == tlog.best(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults,
                                      key="cycles")
    margin_ok = res_c[0].best["cycles"] == by_cycles["cycles"] or res_c[0].best["knobs"] == kernel.defaults
    assert margin_ok and res_c[0].best["cycles"] <= res_i[0].best["cycles"]
    assert res_i[0].best["cost"] == "instructions" and res_c[0].best["cost"] == "cycles"
    # a build prefers the cycles records; without them the instructions ones; old records are instructions
    pick = tlog.best_for_build(records, kernel.family, kernel.key, kernel.space_version, kernel.defaults)
    assert pick is res_c[0].best or pick == res_c[0].best
    only_i = [r for r in records if r["cost"] == "instructions"]
    assert tlog.best_for_build(only_i, kernel.family, kernel.key, kernel.space_version, kernel.defaults) \
        == res_i[0].best
    old = [{k: v for k, v in r.items() if k not in ("cost", "measured_on", "cycles_are")} for r in only_i]
    assert tlog.cost_key(old[0]) == "instructions" and tlog.identity(old[0]) == tlog.identity(only_i[0])
    # records measured on a board are that board's: a build for another target does not take them
    board = [dict(r, cost="cycles", measured_on="netduinoplus2", cycles_are="measured", cycles=1) for r in only_i]
    assert tlog.best_for_build(board, kernel.family, kernel.key, kernel.space_version, kernel.defaults) is None
    assert tlog.best_for_build(board + only_i, kernel.family, kernel.key, kernel.space_version, kernel.defaults,
                               board="netduinoplus2")["measured_on"] == "netduinoplus2"
    bad = tmp_path / "bad.json"
    tlog.write(bad, [dict(records[0], cost="joules")])
    with pytest.raises(UserError, match="unknown cost 'joules'"):
        tlog.read(bad)


def test_a_file_that_is_not_a_log_is_one_user_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}\n')
    with pytest.raises(UserError, match="is not a tuning log"):
        tlog.read(bad)
    bad.write_text(json.dumps(tlog.HEADER) + "\n{not json\n{}\n")
    with pytest.raises(UserError, match=":2 is not JSON"):
        tlog.read(bad)


def test_a_wrong_candidate_is_an_error_record_never_a_result():
    """One candidate's kernel gets a corrupted bias (test-only): the firmware's own comparison
    with mbmicro.reference.int8 catches it, the other candidates of the batch still count."""
    kernel = pointwise_kernel(seed=2)
    settings = every_setting(scalar_subspace(kernel))[:3]
    wrong = settings[1]

    corrupting = corrupting_lower(wrong)

    records = measure(kernel, settings, M4, lower=corrupting)
    assert [r["ok"] for r in records] == [True, False, True]
    assert records[1]["error"].startswith("verify:") and "instructions" not in records[1]
    assert tlog.best(records, kernel.family, kernel.key, kernel.space_version)["knobs"] != wrong


@pytest.fixture(scope="module")
def mnv2_32():
    from mbmicro.pipeline import make_model

    return make_model("mobilenetv2", 0.35, 32, 10, 0)[1]


def test_tune_balanced_finds_the_row_kernels_the_build_runs(mnv2_32):
    """``tune --memory balanced`` tunes what a balanced build runs: the row kernels of its fused
    regions (keys with the row shapes, one call per row group) instead of those layers'
    whole-tensor kernels; ``fast`` has no regions."""
    from mbmicro.codegen.fused import build_regions
    from mbmicro.graph.fusion import family_of
    from mbmicro.tune.measure import unique_kernels

    whole = unique_kernels(mnv2_32, M4, memory="fast")
    rows = unique_kernels(mnv2_32, M4, memory="balanced")
    assert not any(k.rows for k in whole) and all(k.calls == len(k.layers) for k in whole)
    fused = {n for r in build_regions(mnv2_32, "balanced", False, family_of(M4.features)) for n in r.nodes}
    assert "s1b1.dw" in fused and "s2b1.project" in fused
    by_layer = {layer: k for k in rows for layer in k.layers}
    whole_by_layer = {layer: k for k in whole for layer in k.layers}
    for layer in fused & set(by_layer):
        assert by_layer[layer].rows and by_layer[layer].key != whole_by_layer[layer].key
    for layer in set(by_layer) - fused:
        assert by_layer[layer].key == whole_by_layer[layer].key
    pw = by_layer["s1b1.project"]  # a 1x1 on one row, once per output row (16x16)
    assert pw.layers == ["s1b1.project"] and pw.calls == 16 and pw.shape()["inputs"] == [[1, 1, 16, 16]]
    # the M4's wide-ring depthwise row kernel has no knob that changes its C: nothing to tune
    assert "s1b1.dw" not in by_layer
    # a whole-tensor kernel only fused layers use is not tuned: the build never runs it
    only_fused = {k.key for k in whole if set(k.layers) <= fused}
    assert only_fused and not only_fused & {k.key for k in rows}


def test_model_totals_count_every_call_of_a_row_kernel():
    """A row kernel's measurement is one call (one row group): the model totals multiply it by
    its calls per inference, a whole-tensor kernel's by its layers."""
    from types import SimpleNamespace

    from mbmicro.tune.tuner import KernelResult, totals

    results = [KernelResult(SimpleNamespace(layers=["a"], calls=16), default={"instructions": 100},
                            best={"instructions": 90}),
               KernelResult(SimpleNamespace(layers=["b", "c"], calls=2), default={"instructions": 1000},
                            best={"instructions": 1000})]
    assert totals(results, "instructions") == (16 * 100 + 2 * 1000, 16 * 90 + 2 * 1000)


def test_tuning_summary_lists_every_layer_once():
    """build.json's tuning summary: a whole-tensor record of a fused layer is not claimed, a row
    record is; a row record of a layer the final lowering did not fuse (a retry with another
    --memory) is not; every layer is in exactly one list."""
    from types import SimpleNamespace

    from mbmicro.tune.apply import summary

    graph = SimpleNamespace(nodes=[SimpleNamespace(name=n) for n in "abcde"])
    rec = lambda kernel: {"kernel": kernel, "cost": "instructions", "changed": True}  # noqa: E731
    t = summary(["t.jsonl"], {"a": rec("pw"), "b": rec("pw"), "c": rec("dw")}, graph, fused=frozenset("bcd"),
                row_used={"c": rec("dw_row"), "e": rec("pw_row")})
    assert t["layers_from_log"] == ["a"] and t["layers_from_log_fused"] == ["c"] and t["layers_fused"] == ["b"]
    assert t["kernels_from_log"] == ["dw_row", "pw"] and t["layers_changed"] == 2 and t["layers_default"] == 2


def test_build_with_a_tuning_log_uses_the_record_and_stays_bit_exact(tmp_path, capsys, mnv2_32):
    """A whole-tensor record applies to the unfused layers of its kernel, never to a fused layer's
    row kernel (s2b1.project keeps the row defaults); a row kernel's record (s1b1.project, as
    ``tune --memory balanced`` writes it) changes that fused layer's C, and the build is bit-exact."""
    from mbmicro.tune.measure import unique_kernels

    graph = mnv2_32
    kernel = next(k for k in unique_kernels(graph, M4) if k.key.startswith("pw_") and len(k.layers) > 1)
    other = next(s for s in every_setting(kernel.space) if s != kernel.defaults and s["micro"] == "none")
    row = next(k for k in unique_kernels(graph, M4, memory="balanced") if k.layers == ["s1b1.project"])
    row_other = next(s for s in every_setting(row.space) if s["micro"] == "none" and s != row.defaults)
    log_path = tmp_path / "tune.json"
    writer = tlog.Writer(log_path)
    writer.append(measure(kernel, [other], M4))
    writer.append(measure(row, [row_other], M4))
    writer.close()
    assert all(r["ok"] for r in tlog.read(log_path))
    out = tmp_path / "b"
    assert cli_main(["build", "--model", "mobilenetv2", "--width", "0.35", "--resolution", "32", "--classes", "10",
                     "--target", "cortex-m4", "-o", str(out), "--tuning-log", str(log_path)]) == 0
    # the default --memory balanced runs s2b1 as a fused region: its project is a row kernel, with the
    # row kernel's defaults (the record measured the whole-tensor kernel), and the build says so
    build = json.loads((out / "build.json").read_text())
    fused = build["tuning"]["layers_fused"]
    assert fused == ["s2b1.project"] and build["tuning"]["layers_from_log_fused"] == ["s1b1.project"]
    n = len(kernel.layers) - len(fused)
    assert f"tuning log: {n} layers and 1 fused layers' row kernels (2 kernels) from the log, {n + 1} of them " \
        f"with knobs other than the defaults; 57 layers not in the log (default knobs); 1 layers in the log run " \
        f"fused as row kernels (default knobs)" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    tuned = {x["name"]: x for x in report["layers"] if x["knobs_from"] == "tuning log"}
    assert set(tuned) == set(kernel.layers) - set(fused) and all(x["knobs"] == other for x in tuned.values())
    layers = {x["name"]: x for x in report["layers"]}
    assert layers["s2b1.project"]["knobs_from"] == "default (fused row kernel)"
    assert layers["s2b1.project"]["knobs"] != other
    assert layers["s1b1.project"]["knobs_from"] == "tuning log (fused row kernel)"
    assert layers["s1b1.project"]["knobs"] == row_other
    assert build["tuning"]["kernels_from_log"] == sorted([kernel.key, row.key])
    assert build["tuning"]["layers_changed"] == n + 1
    assert "and 1 fused layers' row kernels" in (out / "report.md").read_text()
    # the knobs are in the C: the model calls the tuned row function, not the default one
    row_graph, row_node = row.graph, row.graph.node(row.node)
    tuned_fn = lower_node(row_graph, row_node, M4, row_other).function
    default_fn = lower_node(row_graph, row_node, M4).function
    c = "".join(p.read_text() for p in sorted(out.rglob("*.c")))
    assert tuned_fn != default_fn and f"{tuned_fn}(" in c and f"{default_fn}(" not in c
    assert cli_main(["verify", str(out), "--count", "1"]) == 0
    assert "verified 1/1 inputs bit-exact" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--target", "host"], "has no instruction-counting simulator"),
    (["--target", "cortex-m4", "--time-budget", "soon"], "is not a duration"),
    (["--target", "cortex-m4", "--trials", "0"], "--trials 0 must be at least 1"),
    (["--target", "cortex-m4", "--tracker", "nohost"], "is not HOST:PORT"),
    (["--target", "cortex-m4", "--key", "cortex-m4"], "--key needs --tracker"),
    (["--target", "cortex-m4", "--board", "netduinoplus2", "--cost", "cycles"], "--board needs --tracker"),
    (["--target", "cortex-m4", "--board", "netduinoplus2", "--tracker", "h:1"], "add --cost cycles"),
    (["--target", "cortex-m4", "--board", "nosuchboard"], "unknown board 'nosuchboard'"),
])
def test_tune_bad_input_is_one_line_exit_2(argv, message, tmp_path, capsys):
    code = cli_main(["tune", "--model", "mobilenetv2", "--log", str(tmp_path / "t.json"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("mbmicro: error: ") and err.count("\n") == 1
    assert not (tmp_path / "t.json").exists()


# ----------------------------------------------------------------------------- RPC tracker

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _busy(pid: int) -> bool:
    """Whether a worker is measuring: a compiler or QEMU runs below it."""
    for child in _descendants(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu" in cmd or b"arm-none-eabi" in cmd:
            return True
    return False


def _kill_tree(proc: subprocess.Popen) -> None:
    for pid in [*_descendants(proc.pid), proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _wait_for_tracker(port: int) -> None:
    from tvm import rpc

    end = time.monotonic() + 30
    while True:
        try:
            rpc.connect_tracker("127.0.0.1", port).summary()
            return
        except Exception:  # noqa: BLE001 - not listening yet
            assert time.monotonic() < end, "the tracker did not start"
            time.sleep(0.2)


def test_tracker_and_two_workers_share_a_run_and_a_killed_worker_loses_nothing(tmp_path):
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port",
                               str(port), "--port-end", str(port + 1), "--silent"], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    key = "test-cortex-m4"
    try:
        for _ in range(2):  # started with the tracker: a worker waits for it to answer
            procs.append(subprocess.Popen([sys.executable, "-m", "mbmicro", "tune-worker", "--tracker",
                                           f"127.0.0.1:{port}", "--key", key, "--host", "127.0.0.1",
                                           "--port", str(_free_port())],
                                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        _wait_for_tracker(port)
        pool = TrackerPool("127.0.0.1", port, key, timeout=120, target_name="cortex-m4")
        deadline = time.monotonic() + 40
        while pool.workers() < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert pool.workers() == 2, "both workers registered with the tracker"
        kernels = [pointwise_kernel(seed=3), pointwise_kernel(seed=4, k=16)]
        for k in kernels:
            k.space = scalar_subspace(k)
        killed = []

        def progress(result, n):
            if not killed:  # the first round is back: kill a worker while it measures another one
                end = time.monotonic() + 20
                while time.monotonic() < end:
                    for proc in procs[1:]:
                        if _busy(proc.pid):
                            _kill_tree(proc)
                            killed.append(proc)
                            return
                    time.sleep(0.05)

        writer = ListWriter()
        results = tune(kernels, pool, writer, budget=Budget(trials=4, batch=2), progress=progress)
        assert killed and pool.lost >= 1, "a worker was killed during a measurement"
        assert all(r["ok"] for r in writer.records), [r.get("error") for r in writer.records]
        assert sorted(len([r for r in writer.records if r["kernel"] == k.key]) for k in kernels) == [4, 4]
        assert all(r.trials == 4 for r in results)
        local = measure(kernels[0], [r["knobs"] for r in writer.records if r["kernel"] == kernels[0].key], M4)
        remote = [r for r in writer.records if r["kernel"] == kernels[0].key]
        assert [r["instructions"] for r in local] == [r["instructions"] for r in remote], "same counts as local"
    finally:
        for proc in reversed(procs):
            _kill_tree(proc)


def test_an_interrupted_run_keeps_its_finished_rounds_and_resumes(measured_space, tmp_path):
    """Ctrl-C after the first round: that round is in the log; the next run skips it."""
    kernel, table = measured_space

    class InterruptedPool(TablePool):
        def run(self, next_jobs, kernel_of, finished):
            index, candidates = next_jobs(set())[0]
            self.asked += candidates
            finished(index, [self.table[json.dumps(c, sort_keys=True)] for c in candidates])
            raise KeyboardInterrupt

    path = tmp_path / "tune.json"
    writer = tlog.Writer(path)
    with pytest.raises(KeyboardInterrupt):
        tune([kernel], InterruptedPool(table), writer, budget=Budget(trials=8, batch=3))
    writer.close()
    kept = tlog.read(path)
    assert len(kept) == 3
    again = TablePool(table)
    results = tune([kernel], again, ListWriter(), budget=Budget(trials=8, batch=3), previous=kept)
    assert len(again.asked) == 5 and results[0].trials == 8
    assert not {json.dumps(k, sort_keys=True) for k in again.asked} & {json.dumps(r["knobs"], sort_keys=True)
                                                                     for r in kept}


def test_jobs_2_measures_on_both_local_workers_and_equals_jobs_1():
    """--jobs 2: two local tune-worker processes behind a private tracker (the farm's code path)
    both measure rounds, and with a fixed seed every kernel gets the same candidates, counts and
    choice as --jobs 1 in-process (the search of a kernel sees only its own rounds, in order)."""
    from mbmicro.tune.worker import LocalWorkers

    def kernels():
        ks = [pointwise_kernel(seed=5), pointwise_kernel(seed=6, k=16)]
        for k in ks:
            k.space = scalar_subspace(k)
        return ks

    budget = dict(trials=4, batch=2)
    one = ListWriter()
    res_one = tune(kernels(), LocalPool(M4), one, budget=Budget(**budget), seed=7)
    pool = LocalWorkers(2, "cortex-m4", timeout=120)
    try:
        two = ListWriter()
        res_two = tune(kernels(), pool, two, budget=Budget(**budget), seed=7)
    finally:
        pool.close()
    assert all(r["ok"] for r in one.records + two.records)
    workers = {r["worker"] for r in two.records}
    assert len(workers) == 2 and "" not in workers, f"both workers measured candidates: {workers}"

    def per_kernel(records):
        return {k: [(json.dumps(r["knobs"], sort_keys=True), r["instructions"], r["cycles"])
                    for r in records if r["kernel"] == k] for k in {r["kernel"] for r in records}}

    assert per_kernel(two.records) == per_kernel(one.records)
    assert [(r.kernel.key, r.best["knobs"]) for r in res_two] == [(r.kernel.key, r.best["knobs"]) for r in res_one]


def _synthetic_table(kernel) -> dict[str, dict]:
    """A 128-point space with one known best (a=5, b=2, c=y) and a smooth landscape around it."""
    from mbmicro.tune.measure import make_record

    table = {}
    for s in every_setting(kernel.space):
        n = 1000 + 40 * (s["a"] - 5) ** 2 + 25 * (s["b"] - 2) ** 2 + (0 if s["c"] == "y" else 300)
        table[json.dumps(s, sort_keys=True)] = make_record(kernel, s, ok=True, instructions=n, cycles=2 * n,
                                                           measured_on="qemu", cycles_are="estimated")
    return table


def test_xgb_search_finds_the_known_best_of_a_small_space_with_a_fixed_seed():
    from mbmicro.tune import xgb

    kernel = pointwise_kernel(seed=7)
    kernel.space = {"a": list(range(8)), "b": list(range(8)), "c": ["x", "y"]}
    table = _synthetic_table(kernel)
    pool = TablePool(table)
    results = tune([kernel], pool, ListWriter(), budget=Budget(trials=24, batch=8), seed=1, search=xgb.factory(1))
    assert results[0].best["knobs"] == {"a": 5, "b": 2, "c": "y"}
    assert len(pool.asked) == 24 and pool.asked[0] == kernel.defaults
    again = TablePool(table)
    tune([kernel], again, ListWriter(), budget=Budget(trials=24, batch=8), seed=1, search=xgb.factory(1))
    assert again.asked == pool.asked, "same seed, same candidates"


def test_xgb_search_finds_the_measured_best(measured_space):
    from mbmicro.tune import xgb

    kernel, table = measured_space
    best = min(table.values(), key=lambda r: (r["instructions"], r["cycles"]))
    results = tune([kernel], TablePool(table), ListWriter(), budget=Budget(trials=10, batch=3), seed=1,
                   search=xgb.factory(1))
    assert results[0].best["knobs"] == best["knobs"]


def test_search_xgb_without_xgboost_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # what an environment without the extra imports
    code = cli_main(["tune", "--model", "mobilenetv2", "--target", "cortex-m4", "--log", str(tmp_path / "t.json"),
                     "--search", "xgb"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("mbmicro: error: --search xgb needs XGBoost") and err.count("\n") == 1
    assert "tune-xgb" in err and not (tmp_path / "t.json").exists()
