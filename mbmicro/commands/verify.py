"""``mbmicro verify DIR``: the generated C must equal the int8 reference bit for bit.

Why it traces on failure: "the outputs differ" is not actionable; rebuilding
with -DMBMICRO_TRACE dumps every layer's output, and the first layer that
differs from the reference names the kernel to fix.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mbmicro import progress
from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.errors import UserError

#: Most random inputs one verify runs: each is a run of the program (in QEMU, seconds each).
MAX_COUNT = 10_000

HELP = "build and run a build folder on random inputs and compare bit for bit with the int8 reference"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="a folder made by 'mbmicro build'")
    p.add_argument("--count", type=int, default=3,
                   help=f"number of random int8 inputs, 1 to {MAX_COUNT} (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs, >= 0 (default 0)")
    add_json_flag(p, "the verdict (inputs verified, the first failure and its layer)")
    from mbmicro.commands.run import add_device_arguments

    add_device_arguments(p)


def first_mismatch(graph, records, reference: dict) -> str | None:
    """Describe the first traced layer whose bytes differ from the reference, or None."""
    for index, data in records:
        if not 0 <= index < len(graph.nodes):
            return f"trace names layer {index}, but the graph has {len(graph.nodes)} layers"
        node = graph.nodes[index]
        want = reference[node.outputs[0]].astype(np.int16).reshape(-1)
        got = np.frombuffer(data, dtype=np.int8).astype(np.int16)
        if got.size != want.size:
            return f"layer {index} {node.name} ({node.op}): {got.size} bytes traced, {want.size} expected"
        diff = np.abs(got - want)
        if diff.any():
            return (f"first mismatching layer {index} {node.name} ({node.op}): "
                    f"{int((diff > 0).sum())} of {diff.size} bytes differ, max |diff| {int(diff.max())}")
    return None


def check_arguments(count: int, seed: int) -> None:
    """--count in 1..MAX_COUNT (each input is a run of the program: 10**12 would never end) and
    --seed >= 0 (numpy refuses negative seeds)."""
    if not 1 <= count <= MAX_COUNT:
        raise UserError(f"--count {count} is invalid: pass 1 to {MAX_COUNT}")
    if seed < 0:
        raise UserError(f"--seed {seed} is invalid: pass 0 or a larger integer")


def verify_on_device(folder, args: argparse.Namespace) -> dict:
    """The same random inputs sent to the flashed board; its outputs must equal the reference.

    A board cannot write a trace, so a mismatch names the input and points to
    the simulator's verify, whose trace names the first differing layer."""
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim import device

    graph = folder.graph
    rng = np.random.default_rng(args.seed)
    with device.connect(folder, args.serial, args.timeout, args.host) as board:
        result = _result(folder, args, port=board.port)
        for i in progress.track(range(args.count), desc="verifying on the device", unit="input"):
            x = rng.integers(-128, 128, size=tuple(graph.input.shape), dtype=np.int8)
            y, _ = device.run_on_device(board, folder, x)
            want = run_int8(graph, x)
            if not np.array_equal(y, want):
                result["failure"] = {"input": i, "differing": int((y != want).sum()), "size": int(y.size),
                                     "first_mismatch": None}
                return result
            result["verified"] += 1
    return result


def _result(folder, args: argparse.Namespace, port: str | None = None) -> dict:
    """The --json document before any input ran: ``verified`` counts up, ``failure`` stays None if all pass."""
    return {"build": str(folder.path), "model": folder.model, "target": folder.target.name,
            "on_device": port is not None, "port": port, "count": args.count, "seed": args.seed,
            "verified": 0, "failure": None}


def verify_in_simulator(folder, args: argparse.Namespace) -> dict:
    """Random inputs through the build's program; on the first mismatch, a traced run names the layer."""
    from mbmicro.reference.int8 import run_int8
    from mbmicro.sim.execute import run_build

    graph = folder.graph
    rng = np.random.default_rng(args.seed)
    result = _result(folder, args)
    for i in progress.track(range(args.count), desc="verifying", unit="input"):
        x = rng.integers(-128, 128, size=tuple(graph.input.shape), dtype=np.int8)
        y, _ = run_build(folder, x)
        want = run_int8(graph, x)
        if np.array_equal(y, want):
            result["verified"] += 1
            continue
        _, records = run_build(folder, x, trace=True)
        where = first_mismatch(graph, records, run_int8(graph, x, collect=True))
        result["failure"] = {"input": i, "differing": int((y != want).sum()), "size": int(y.size),
                             "first_mismatch": where or "every traced layer matches: the difference is in the "
                                                        "final copy to the output"}
        return result
    return result


def print_result(r: dict, dir_arg: str) -> None:
    """The text verify has always printed: a line per failure detail, then the verdict."""
    where = (r["model"], r["target"]) + ((r["port"],) if r["on_device"] else ())
    f = r["failure"]
    if f is None:
        print(f"verified {r['count']}/{r['count']} inputs bit-exact{' on the device' if r['on_device'] else ''} "
              f"({', '.join(where)})")
    elif r["on_device"]:
        print(f"input {f['input']}: the board's output differs from the reference in {f['differing']} "
              f"of {f['size']} values; 'mbmicro verify {dir_arg}' (in the simulator) names the first "
              "differing layer")
        print(f"verification on the device FAILED on input {f['input'] + 1}/{r['count']} ({r['model']}, {r['target']})")
    else:
        print(f"input {f['input']}: output differs from the reference in {f['differing']} of {f['size']} values")
        print(f["first_mismatch"])
        print(f"verification FAILED on input {f['input'] + 1}/{r['count']} ({r['model']}, {r['target']})")


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.run import check_device_arguments
    from mbmicro.sim.build_folder import load_build_folder

    check_arguments(args.count, args.seed)
    check_device_arguments(args)
    folder = load_build_folder(args.dir, need_graph=True)
    result = verify_on_device(folder, args) if args.on_device else verify_in_simulator(folder, args)
    if args.json:
        print_json(result)
    else:
        print_result(result, args.dir)
    return 0 if result["failure"] is None else 1
