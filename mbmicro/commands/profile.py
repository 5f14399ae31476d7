"""``mbmicro profile DIR``: executed instructions per layer of a built model, in QEMU.

Why instructions per MAC: it is the repeatable figure QEMU can give (no cycle model), and
dividing by the layer's MACs makes layers of different sizes, and our kernels and
CMSIS-NN's (docs: shared notes), comparable.

Steps: ``make profile`` in DIR (the build folder's Makefile builds build.json's
exe["profile"] with -DMBMICRO_PROFILE, so each layer is wrapped in mbmicro_layer_begin/end
calls), run it
on an all-zero input under the counting plugin, and pair region i with layer i of
DIR/report.json. The input values do not change the instruction count of the kernels
(no data-dependent branches besides clamping), and zero makes the run reproducible.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path

from mbmicro.sim import qemu
from mbmicro.errors import UserError
from mbmicro.sim.execute import make
from mbmicro.targets.target import load_target

HELP = "count executed instructions per layer of a build folder in QEMU (instructions per MAC)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="build folder made by 'mbmicro build'")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is missing: is {path.parent} a folder made by 'mbmicro build'?") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}): rebuild the folder with 'mbmicro build'") from None


def _input_bytes(build: dict) -> int:
    """Size of the int8 input tensor: build.json "input": {"shape": [...]}."""
    try:
        return math.prod(int(d) for d in build["input"]["shape"])
    except (KeyError, TypeError, ValueError):
        raise UserError("build.json has no input shape: rebuild the folder with 'mbmicro build'") from None


def _profile_exe_name(build: dict, target) -> str:
    """build.json "exe" is {"all", "trace", "profile"} names; fall back to app_profile<suffix>."""
    exe = build.get("exe")
    if isinstance(exe, dict) and "profile" in exe:
        return str(exe["profile"])
    stem, dot, suffix = str(exe or target.extra.get("exe", "app")).partition(".")
    return f"{stem}_profile{dot}{suffix}"


def profile(folder: Path) -> dict:
    """Build and run the profiling executable; return the per-layer table as a dict."""
    folder = folder.resolve()
    build = _read_json(folder / "build.json")
    report = _read_json(folder / "report.json")
    target = load_target(str(build["target"]))
    if not qemu.is_simulated(target):
        raise UserError(f"{folder} was built for '{target.name}', which runs natively and has no instruction "
                        f"counter: profile a build for {', '.join(qemu.simulated_target_names())} "
                        "(e.g. 'mbmicro build --target cortex-m4 ...')")
    exe = folder / _profile_exe_name(build, target)
    layers = report.get("layers", [])

    make(folder, "profile")
    if not exe.exists():
        raise UserError(f"'make profile' did not produce {exe.name} in {folder}")
    # a private working folder without blanks: semihosting splits its command line at blanks
    with tempfile.TemporaryDirectory(prefix="mbmicro-profile-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(bytes(_input_bytes(build)))
        counts = qemu.count_instructions(target, exe, ["input.bin", "output.bin"], cwd=work)
    if len(counts.regions) != len(layers):
        raise UserError(f"the profiling run marked {len(counts.regions)} layers but report.json lists "
                        f"{len(layers)}: rebuild the folder ('mbmicro build') so both come from one model")

    rows = []
    for layer, instructions in zip(layers, counts.regions):
        macs = int(layer.get("macs", 0))
        rows.append({"name": layer["name"], "instructions": instructions, "macs": macs,
                     "instructions_per_mac": instructions / macs if macs else None})
    total_insns = sum(counts.regions)
    total_macs = sum(r["macs"] for r in rows)
    return {"target": target.name, "exe": exe.name, "layers": rows,
            "total": {"instructions": total_insns, "macs": total_macs,
                      "instructions_per_mac": total_insns / total_macs if total_macs else None},
            "program_instructions": counts.total}


def format_table(result: dict) -> str:
    def ratio(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    header = ["#", "layer", "instructions", "MACs", "instr/MAC"]
    lines = [[str(i), r["name"], f"{r['instructions']:,}", f"{r['macs']:,}", ratio(r["instructions_per_mac"])]
             for i, r in enumerate(result["layers"])]
    t = result["total"]
    lines.append(["", "total (layers)", f"{t['instructions']:,}", f"{t['macs']:,}", ratio(t["instructions_per_mac"])])
    widths = [max(len(x) for x in col) for col in zip(header, *lines)]
    right = {0, 2, 3, 4}
    out = [f"{result['target']}: {result['exe']}, executed instructions per layer (QEMU, all-zero input)"]
    for line in [header, *lines]:
        out.append("  ".join(x.rjust(w) if i in right else x.ljust(w) for i, (x, w) in enumerate(zip(line, widths))))
    out.append(f"whole program (start-up, file I/O, layers): {result['program_instructions']:,} instructions")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise UserError(f"{args.dir} is not a folder: pass a build folder made by 'mbmicro build'")
    result = profile(args.dir)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
