"""``mbmicro tune-worker``: measure tuning candidates for ``mbmicro tune --tracker`` clients.

Why a TVM RPC server: the tracker (``python -m tvm.exec.rpc_tracker``) is what TVM users already
run for board farms; the worker registers under a key (the core it measures, e.g. cortex-m4)
and serves one function, mbmicro.tune.measure, that lowers, builds, runs and verifies a batch
of candidates: in the core's QEMU (instructions, estimated cycles), or with ``--board NAME
--probe ...`` on an attached board, flashed through the probe and timed by its cycle counter
(mbmicro.tune.board: cycles measured, read from the firmware's console).
"""

from __future__ import annotations

import argparse
import os
import socket
import time

from mbmicro.errors import UserError

HELP = "serve tuning measurements to 'mbmicro tune --tracker' through a TVM RPC tracker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracker", required=True, metavar="HOST:PORT", help="the RPC tracker to register with")
    p.add_argument("--key", required=True, help="the key clients ask for, e.g. cortex-m4")
    p.add_argument("--board", help="measure on this attached board (see 'mbmicro boards') with its cycle counter")
    p.add_argument("--probe", choices=("openocd", "pyocd", "gdb"),
                   help="--board: how to flash it (default: openocd if the board has openocd settings, else pyocd)")
    p.add_argument("--gdb", metavar="HOST:PORT", help="--board --probe gdb: the gdb server to load through")
    p.add_argument("--serial", metavar="PORT",
                   help="--board: its console (default /dev/ttyACM0; socket://HOST:PORT for QEMU)")
    p.add_argument("--board-timeout", type=float, default=60.0,
                   help="--board: seconds one firmware may run before its batch counts as hung (default 60)")
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=9091, help="first port to try (default 9091)")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the tracker to answer (default 60)")


def board_spec(args: argparse.Namespace) -> dict | None:
    """The --board options as mbmicro.tune.board.BoardSpec fields (checked), or None without --board."""
    if args.board is None:
        for name in ("probe", "gdb", "serial"):
            if getattr(args, name) is not None:
                raise UserError(f"--{name} is for --board: drop it or name the attached board with --board NAME")
        return None
    from mbmicro.tune.board import BoardSpec, check_spec

    spec = BoardSpec(board=args.board, probe=args.probe, gdb=args.gdb, serial=args.serial,
                     timeout=args.board_timeout)
    return check_spec(spec).__dict__


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.tune import parse_address
    from mbmicro.tune import worker

    tracker = parse_address(args.tracker)
    config = {"name": f"{socket.gethostname()}:{os.getpid()}", "board": board_spec(args)}
    worker.wait_for_tracker(tracker, args.wait)
    try:
        server = worker.start_server(tracker, args.key, host=args.host, port=args.port, config=config)
    except Exception as exc:  # noqa: BLE001 - the tracker or port is the user's
        raise UserError(f"cannot start a tune worker for {args.tracker} ({str(exc).splitlines()[0][:120]}): "
                        "check that the tracker runs and --host/--port are free") from None
    what = f"board {args.board}" if args.board else "QEMU"
    print(f"tune worker {config['name']} for key {args.key} on port {server.port} ({what}), tracker {args.tracker}",
          flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.terminate()
