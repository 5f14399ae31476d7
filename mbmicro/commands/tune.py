"""``mbmicro tune``: search every unique kernel's knobs of a model on the target's simulator.

Why a log and not a build: tuning is slow and resumable, a build is fast and deterministic, so
tuning writes measurements (mbmicro.tune.log) and ``mbmicro build --tuning-log`` reads the best
verified record per kernel.  Each round is appended as soon as it is measured: Ctrl-C keeps it,
and running the same command again resumes (measured candidates are skipped).
"""

from __future__ import annotations

import argparse
import re
import time

from mbmicro import progress
from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.commands.table import print_table
from mbmicro.errors import UserError
from mbmicro.graph.fusion import DEFAULT_MEMORY_MODE, MEMORY_MODES
from mbmicro.models.options import MODEL_HELP, add_model_options, config_from_args
from mbmicro.targets.target import load_target

HELP = "tune every kernel's knobs of a model on the target's simulator, into a tuning log"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h)?$")


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h' -> seconds."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UserError(f"--time-budget {text!r} is not a duration: write e.g. 90s, 30m or 2h")
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


def parse_address(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--tracker {text!r} is not HOST:PORT: write e.g. --tracker 127.0.0.1:9190")
    return host, int(port)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--target", required=True, help="a target QEMU can count instructions on, e.g. cortex-m4")
    add_model_options(p)
    p.add_argument("--log", required=True, metavar="FILE", help="tuning log (JSON lines) to append to and resume from")
    p.add_argument("--trials", type=int, default=64, help="candidates per kernel at most (default 64)")
    p.add_argument("--time-budget", metavar="TIME", help="stop proposing after this long, e.g. 30m (default: none)")
    p.add_argument("--jobs", type=int, default=1, help="local measuring workers (default 1)")
    p.add_argument("--batch", type=int, default=16, help="candidates per firmware run (default 16)")
    p.add_argument("--tracker", metavar="HOST:PORT", help="measure on the workers of a TVM RPC tracker")
    p.add_argument("--key", help="the tracker key of the workers (default: the target's core)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds one measurement may take (default 300)")
    p.add_argument("--cost", choices=("instructions", "cycles"), default="instructions",
                   help="what to minimize: QEMU's instruction counts (default) or cycles (estimated from the "
                        "instruction mix in QEMU; measured with --board)")
    p.add_argument("--search", choices=("evolution", "xgb"), default="evolution",
                   help="how to pick candidates: the seeded evolutionary search (default) or an XGBoost cost "
                        "model that ranks many and measures the best-predicted (needs the tune-xgb extra)")
    p.add_argument("--search-seed", type=int, default=0, help="seed of the search's choices (default 0)")
    p.add_argument("--memory", choices=list(MEMORY_MODES), default=DEFAULT_MEMORY_MODE,
                   help="tune the kernels a 'build --memory' with this mode runs: the row kernels of its fused "
                        "regions, the whole-tensor kernels elsewhere (default balanced, as build's)")
    p.add_argument("--io-in-arena", action="store_true",
                   help="as build's --io-in-arena (it changes the regions build chooses, so tune the same)")
    p.add_argument("--board", metavar="NAME",
                   help="the tracker's workers measure on this board ('mbmicro tune-worker --board NAME'): "
                        "cycles from its counter, needs --tracker and --cost cycles")
    add_json_flag(p, "the closing table")


def _check(args) -> None:
    for name in ("trials", "jobs", "batch"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} {getattr(args, name)} must be at least 1")
    if args.timeout <= 0:
        raise UserError(f"--timeout {args.timeout:g} must be positive")
    if args.key and not args.tracker:
        raise UserError("--key needs --tracker HOST:PORT (the tracker the workers registered with)")
    if args.tracker:
        parse_address(args.tracker)
    if args.search == "xgb":
        from mbmicro.tune.xgb import require

        require()
    if args.board is not None:
        from mbmicro.targets.target import board_names

        if args.board not in board_names():
            raise UserError(f"unknown board {args.board!r}: pick one of {', '.join(board_names())} ('mbmicro boards')")
        if not args.tracker:
            raise UserError("--board needs --tracker HOST:PORT: boards measure through 'mbmicro tune-worker --board'")
        if args.cost != "cycles":
            raise UserError("--board measures cycles (a board's counter counts no instructions): add --cost cycles")


def _stepper(bar):
    """The tuner's progress hook: after each round, the trials it measured and the kernel's best so far."""
    from mbmicro.tune import log as tlog

    def step(result, n: int) -> None:
        best = result.best.get(tlog.cost_of(result.best)) if result.best else None
        bar.set_postfix_str(f"{result.kernel.key[:28]} best {best:,}" if best else result.kernel.key[:28])
        bar.update(n)

    return step


def make_pool(args, target):
    """The pool the options ask for: in-process, local worker processes, or a tracker's workers."""
    from mbmicro.tune import worker

    if args.tracker:
        host, port = parse_address(args.tracker)
        return worker.TrackerPool(host, port, args.key or target.core or target.name, timeout=args.timeout,
                                 target_name=target.name)
    if args.jobs > 1:
        return worker.LocalWorkers(args.jobs, target.name, timeout=args.timeout)
    return worker.LocalPool(target, timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    _check(args)
    deadline = None if args.time_budget is None else time.monotonic() + parse_duration(args.time_budget)
    config = config_from_args(args)
    target = load_target(args.target)
    from mbmicro.tune import log as tlog
    from mbmicro.tune.measure import core_target, unique_kernels
    from mbmicro.tune.tuner import Budget, Cost, tune

    core_target(target)  # refuse a target without a counting simulator before the model build
    previous = tlog.read(args.log)
    from mbmicro.pipeline import make_model

    _, graph = make_model(config.model, config.width, config.resolution, config.classes, config.seed)
    from mbmicro.commands.build import memory_io_in_arena

    kernels = unique_kernels(graph, target, memory=args.memory, io_in_arena=memory_io_in_arena(args))
    budget = Budget(trials=args.trials, deadline=deadline, batch=args.batch)
    cost = Cost(args.cost, args.board)
    search = None
    if args.search == "xgb":
        from mbmicro.tune import xgb

        search = xgb.factory(args.search_seed)
    pool = make_pool(args, target)
    writer = tlog.Writer(args.log)
    interrupted = False
    results = None
    try:
        with progress.bar(sum(min(k.space_size(), args.trials) for k in kernels), desc="tuning",
                          unit="trial") as bar:
            results = tune(kernels, pool, writer, budget=budget, previous=previous, progress=_stepper(bar),
                           cost=cost, seed=args.search_seed, search=search)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        writer.close()
        getattr(pool, "close", lambda: None)()
    if results is None:  # interrupted: the table from what the log now holds
        results = tune(kernels, _NoPool(), _NoWriter(), budget=Budget(trials=0),
                       previous=tlog.read(args.log), cost=cost)
    doc = summary(results, model=config.name, target=target.name, log=args.log, interrupted=interrupted,
                  cost=cost.key, memory=args.memory)
    if args.json:
        print_json(doc)
    else:
        print(f"tuned {len(kernels)} kernels of {config.name} for {target.name} ({cost.key}, --memory "
              f"{args.memory}: {sum(1 for k in kernels if k.rows)} of them row kernels) into {args.log}"
              + (" (interrupted: what was measured is in the log; run again to resume)" if interrupted else ""))
        print_tune_table(doc)
    return 130 if interrupted else 0


def _measured(record: dict | None) -> dict | None:
    return None if record is None else {k: record.get(k) for k in ("instructions", "cycles")}


def summary(results, *, model: str, target: str, log: str, interrupted: bool, cost: str = "instructions",
            memory: str = "fast") -> dict:
    """``tune --json``: per kernel its default and best verified measurement, and the model's totals;
    ``cost`` is the run's cost key (mbmicro.tune.log.cost_key: instructions, cycles, cycles@BOARD),
    ``memory`` the --memory mode whose kernels were tuned."""
    from mbmicro.tune.tuner import totals

    di, ti = totals(results, "instructions")
    dc, tc = totals(results, "cycles")
    kernels = [{"kernel": r.kernel.key, "layers": len(r.kernel.layers), "rows": r.kernel.rows,
                "calls": r.kernel.calls, "default": _measured(r.default),
                "tuned": None if r.best is None else dict(_measured(r.best), knobs=r.best["knobs"]),
                "trials": r.trials, "errors": r.errors} for r in results]
    return {"model": model, "target": target, "log": str(log), "interrupted": interrupted, "cost": cost,
            "memory": memory, "kernels": kernels,
            "total": {"layers": sum(k["layers"] for k in kernels), "default_instructions": di,
                      "tuned_instructions": ti, "tuned_over_default": ti / di if di else None,
                      "default_cycles": dc, "tuned_cycles": tc, "trials": sum(k["trials"] for k in kernels)}}


def print_tune_table(doc: dict) -> None:
    """The closing table (Markdown when not on a terminal: benchmarks/tune.py pastes it into results/tune/):
    per kernel default vs tuned, trials, and the model's totals."""
    def num(measured: dict | None, key: str) -> str:
        value = None if measured is None else measured.get(key)
        return "-" if value is None else f"{value:,}"

    board = doc["cost"].partition("@")[2]
    cycles = f"cycles on {board}" if board else "est. cycles"  # a board's are measured
    header = ["kernel", "layers", "default instr", "tuned instr", f"default {cycles}", f"tuned {cycles}",
              "trials (errors)", "tuned knobs"]
    rows = [[k["kernel"], k["layers"], num(k["default"], "instructions"), num(k["tuned"], "instructions"),
             num(k["default"], "cycles"), num(k["tuned"], "cycles"), f"{k['trials']} ({k['errors']})",
             ", ".join(f"{n}={v}" for n, v in k["tuned"]["knobs"].items()) if k["tuned"] else "-"]
            for k in doc["kernels"]]
    t = doc["total"]
    ratio = f" ({t['tuned_over_default']:.3f}x)" if t["tuned_over_default"] is not None else ""
    rows.append(["**model total**", t["layers"], f"{t['default_instructions']:,}", f"{t['tuned_instructions']:,}{ratio}",
                 f"{t['default_cycles']:,}", f"{t['tuned_cycles']:,}", t["trials"], ""])
    print_table(header, rows, "lrrrrrrl", markdown=True)


class _NoPool:
    def run(self, next_jobs, kernel_of, finished) -> None:
        return None


class _NoWriter:
    def append(self, records) -> None:
        return None
