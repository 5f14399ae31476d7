"""``mbmicro tune-worker``: measure tuning candidates for ``mbmicro tune --tracker`` clients.

Why a TVM RPC server: the tracker (``python -m tvm.exec.rpc_tracker``) is what TVM users already
run for board farms; the worker registers under a key (the core it measures, e.g. cortex-m4)
and serves one function, mbmicro.tune.measure, that lowers, builds, runs in QEMU and verifies a
batch of candidates.  ``--board`` is the slot for measuring on an attached board; until board
probes land, a worker measures on the board's core simulator.
"""

from __future__ import annotations

import argparse
import time

from mbmicro.errors import UserError

HELP = "serve tuning measurements to 'mbmicro tune --tracker' through a TVM RPC tracker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracker", required=True, metavar="HOST:PORT", help="the RPC tracker to register with")
    p.add_argument("--key", required=True, help="the key clients ask for, e.g. cortex-m4")
    p.add_argument("--board", help="a board folder (see 'mbmicro boards'); measured on its core's simulator")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=9091, help="first port to try (default 9091)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the tracker to answer (default 60)")


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.tune import parse_address
    from mbmicro.targets.target import board_names
    from mbmicro.tune import worker

    tracker = parse_address(args.tracker)
    if args.board is not None and args.board not in board_names():
        raise UserError(f"unknown board {args.board!r}: pick one of {', '.join(board_names())} ('mbmicro boards')")
    worker._BOARD[0] = args.board
    worker.wait_for_tracker(tracker, args.wait)
    try:
        server = worker.start_server(tracker, args.key, host=args.host, port=args.port)
    except Exception as exc:  # noqa: BLE001 - the tracker or port is the user's
        raise UserError(f"cannot start a tune worker for {args.tracker} ({str(exc).splitlines()[0][:120]}): "
                        "check that the tracker runs and --host/--port are free") from None
    print(f"tune worker for key {args.key} on port {server.port}, tracker {args.tracker}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.terminate()
