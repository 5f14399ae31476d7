"""``mbmicro profile DIR``: executed instructions per layer of a built model, in QEMU.

Why instructions per MAC: it is the repeatable figure QEMU can give (no cycle model), and
dividing by the layer's MACs makes layers of different sizes, and our kernels and
CMSIS-NN's (docs: shared notes), comparable.

Steps: ``make profile`` in DIR (the build folder's Makefile builds the target's
profile executable, e.g. app_profile.elf, with -DMBMICRO_PROFILE, so each layer is wrapped
in mbmicro_layer_begin/end calls), run it
on an all-zero input under the counting plugin, and pair region i with layer i of
DIR/report.json. The input values do not change the instruction count of the kernels
(no data-dependent branches besides clamping), and zero makes the run reproducible.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from mbmicro.sim import qemu
from mbmicro.errors import UserError
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.sim.execute import make

HELP = "count executed instructions per layer of a build folder in QEMU (instructions per MAC)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="build folder made by 'mbmicro build'")
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")


def profile(folder: Path) -> dict:
    """Build and run the profiling executable; return the per-layer table as a dict.

    The folder is read by the same loader as run and verify (build.json and
    report.json validated, the executable named by the Makefile rule)."""
    built = load_build_folder(folder, need_report=True)
    target = built.target
    if not qemu.is_simulated(target):
        raise UserError(f"{folder} was built for '{target.name}', which runs natively and has no instruction "
                        f"counter: profile a build for {', '.join(qemu.simulated_target_names())} "
                        "(e.g. 'mbmicro build --target cortex-m4 ...')")
    layers = built.report["layers"]

    make(built.path, "profile")
    exe = built.made_exe("profile")
    if not exe.exists():
        raise UserError(f"'make profile' did not produce {exe.name} in {built.path}")
    # a private working folder without blanks: semihosting splits its command line at blanks
    with tempfile.TemporaryDirectory(prefix="mbmicro-profile-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(bytes(built.input.nbytes))
        counts = qemu.count_instructions(target, exe, ["input.bin", "output.bin"], cwd=work)
    if len(counts.regions) != len(layers):
        raise UserError(f"the profiling run marked {len(counts.regions)} layers but report.json lists "
                        f"{len(layers)}: rebuild the folder ('mbmicro build') so both come from one model")

    rows = []
    for layer, instructions in zip(layers, counts.regions):
        macs = layer["macs"]
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
    result = profile(args.dir)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
