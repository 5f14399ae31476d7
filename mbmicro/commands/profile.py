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

Beside the counts: the model's stack high-water mark, painted by the profile program before
the first layer and read after the last (outside every counted region,
mbmicro.sim.painted_stack); it is written into DIR/report.json and report.md beside the
compiler's bound (codegen.report.with_painted_stack, drawn by add_to_report).

Beside the instructions: estimated cycles per layer (mbmicro.sim.cycles), the plugin's
instruction mix weighted by the core's cycles per class (targets/<core>/cycles.json). It is
shown as an estimate, never as a measurement: QEMU has no timing model.

The counts also go into the folder's report (report.json, report.md,
report.html, and the bars of report_profile.png: docs/REPORT.md), so a
profiled build carries its own numbers.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from mbmicro.commands.json_output import add_json_flag, print_json
from mbmicro.codegen.report_layers import profiled_steps
from mbmicro.commands.table import print_table
from mbmicro.sim import cycles, painted_stack, qemu
from mbmicro.errors import UserError
from mbmicro.sim.build_folder import load_build_folder
from mbmicro.sim.execute import make

HELP = ("count executed instructions per layer of a build folder in QEMU (instructions per MAC), "
        "with an estimated cycle count from the instruction mix")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path, help="build folder made by 'mbmicro build'")
    add_json_flag(parser, "the profile")
    from mbmicro.commands.run import add_device_arguments

    add_device_arguments(parser)


def profile_on_device(folder: Path, port: str | None, timeout: float, host: str | None = None) -> dict:
    """Cycles per layer measured on the flashed board (DWT CYCCNT), on an all-zero input.

    The firmware must be the build's profile variant (-DMBMICRO_PROFILE with
    targets/common/layer_cycles.c): it sends one MBMICRO LAYER line per layer,
    which are paired with report.json's layers like the QEMU regions are."""
    from mbmicro.sim import device

    built = load_build_folder(folder, need_report=True)
    layers = profiled_steps(built.report["layers"])
    if device.deploys_over_ssh(built):
        raise UserError(f"profile --on-device reads the DWT cycles of an MCU board's firmware; board "
                        f"'{built.target.name}' runs Linux: profile this build in QEMU ('mbmicro profile {folder}')")
    with device.connect(built, port, timeout, host) as board:
        if not board.reply.profile:
            raise UserError(f"the firmware on {board.port} was built without MBMICRO_PROFILE and sends no "
                            f"per-layer cycles: 'make -C {folder}/firmware serve-profile', then "
                            f"'mbmicro flash {folder} --elf app_serve_profile.elf'")
        zeros = np.zeros(built.input.shape, dtype=np.int8)
        _, result = device.run_on_device(board, built, zeros)
    if len(result.layer_cycles) != len(built.report["layers"]):
        raise UserError(f"the board reported {len(result.layer_cycles)} layers but report.json lists "
                        f"{len(built.report['layers'])}: flash this build's firmware ('mbmicro flash {folder}')")
    step_cycles = _cycles_per_step(built.report["layers"], result.layer_cycles)
    rows = [{"name": layer["name"], "cycles": c, "macs": layer["macs"],
             "cycles_per_mac": c / layer["macs"] if layer["macs"] else None}
            for layer, c in zip(layers, step_cycles)]
    total_cycles, total_macs = sum(result.layer_cycles), sum(r["macs"] for r in rows)
    total = {"cycles": total_cycles, "macs": total_macs,
             "cycles_per_mac": total_cycles / total_macs if total_macs else None}
    return {"target": built.target.name, "port": board.port, "layers": rows, "total": total,
            "run_cycles": result.cycles}


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def print_device_table(result: dict) -> None:
    """The measured table: one row per layer, cycles and cycles per MAC."""
    header = ["#", "layer", "cycles", "MACs", "cycles/MAC"]
    lines = [[str(i), r["name"], f"{r['cycles']:,}", f"{r['macs']:,}", _ratio(r["cycles_per_mac"])]
             for i, r in enumerate(result["layers"])]
    t = result["total"]
    lines.append(["", "total (layers)", f"{t['cycles']:,}", f"{t['macs']:,}", _ratio(t["cycles_per_mac"])])
    print_table(header, lines, "rlrrr",
                title=f"{result['target']} on {result['port']}: cycles per layer measured on the device "
                      "(DWT CYCCNT, all-zero input)")
    print(f"whole run (model call, with the per-layer hooks): {result['run_cycles']:,} cycles")
    if result["run_cycles"] == 0:
        print("every count is 0: the device has no DWT cycle counter (QEMU models none); measure on a board")


def _cycles_per_step(layers: list, cycles: list[int]) -> list[int]:
    """The firmware's one counter per layer, summed per :func:`profiled_steps` step: a fused
    region's hooks wrap the whole region and add its cycles under its last layer's index
    (the other layers of the region stay 0), so the sum over the region is its cost."""
    steps, region_of_last = [], None
    for layer, c in zip(layers, cycles):
        region = layer.get("fused_region")
        if region is not None and region == region_of_last:
            steps[-1] += c
        else:
            steps.append(c)
        region_of_last = region
    return steps


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
    layers = profiled_steps(built.report["layers"])

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

    table = cycles.load_table(target)
    rows = []
    for i, (layer, instructions) in enumerate(zip(layers, counts.regions)):
        macs = layer["macs"]
        row = {"name": layer["name"], "instructions": instructions, "macs": macs,
               "instructions_per_mac": instructions / macs if macs else None}
        if table is not None and counts.mix:
            row["estimated_cycles"] = cycles.estimate(counts.mix[i], table)
            row["mix"] = counts.mix[i]
        rows.append(row)
    total_insns = sum(counts.regions)
    total_macs = sum(r["macs"] for r in rows)
    total = {"instructions": total_insns, "macs": total_macs,
             "instructions_per_mac": total_insns / total_macs if total_macs else None}
    if rows and all("estimated_cycles" in r for r in rows):
        total["estimated_cycles"] = sum(r["estimated_cycles"] for r in rows)
    result = {"target": target.name, "exe": exe.name, "layers": rows, "total": total,
              "program_instructions": counts.total}
    if "estimated_cycles" in total:
        result["cycles_table"] = f"targets/{target.core}/{cycles.TABLE_FILE}"
    result["model_stack"] = _stack_result(built.report, painted_stack.parse(counts.stdout))
    return result


def _stack_result(report: dict, painted) -> dict | None:
    """The painted stack beside the compiler's bound and the SRAM peak they give (the report's
    ``model`` section, codegen.report.with_painted_stack); None when the profile program printed
    no stack line (a folder built before stack painting)."""
    from mbmicro.codegen import report as report_module

    if painted is None:
        return None
    model = report_module.with_painted_stack(report, painted.used, painted.window, painted.floor).get("model")
    sram = model.get("sram", {}) if isinstance(model, dict) else {}
    return {"painted_bytes": painted.used, "window_bytes": painted.window, "floor_bytes": painted.floor,
            "overflowed": painted.overflowed, "untouched": painted.untouched,
            "compiler_bytes": sram.get("stack_compiler_bytes"),
            "sram_peak_bytes": model.get("sram_peak_bytes") if isinstance(model, dict) else None}


def print_profile_table(result: dict) -> None:
    """The QEMU table: one row per layer, instructions, per MAC and (if the core has a table) est. cycles."""
    estimated = "estimated_cycles" in result["total"]
    header = ["#", "layer", "instructions", "MACs", "instr/MAC"] + (["est. cycles*"] if estimated else [])

    def cells(index: str, name: str, r: dict) -> list[str]:
        row = [index, name, f"{r['instructions']:,}", f"{r['macs']:,}", _ratio(r["instructions_per_mac"])]
        return row + ([f"{r['estimated_cycles']:,}"] if estimated else [])

    lines = [cells(str(i), r["name"], r) for i, r in enumerate(result["layers"])]
    lines.append(cells("", "total (layers)", result["total"]))
    print_table(header, lines, "rlrrrr",
                title=f"{result['target']}: {result['exe']}, executed instructions per layer (QEMU, all-zero input)")
    print(f"whole program (start-up, file I/O, layers): {result['program_instructions']:,} instructions")
    print(_stack_line(result.get("model_stack")))
    if estimated:
        print(f"* est. cycles: an ESTIMATE, not a measurement (QEMU has no timing model): each layer's "
              f"instruction mix times the cycles per class in {result['cycles_table']} (from the core's "
              "technical reference manual; its approximations are listed there)")


def _stack_line(stack: dict | None) -> str:
    if stack is None:
        return "model stack: not painted (the folder predates stack painting: rebuild it with 'mbmicro build --force')"
    bound = "not measured" if stack["compiler_bytes"] is None else f"{stack['compiler_bytes']:,} B"
    if stack["overflowed"]:
        deep = f"at least {stack['window_bytes']:,} B (the whole painted window)"
    elif stack["untouched"]:
        deep = f"at most {stack['floor_bytes']:,} B (no painted word touched)"
    else:
        deep = f"{stack['painted_bytes']:,} B"
    peak = "" if stack["sram_peak_bytes"] is None else f"; model SRAM peak {stack['sram_peak_bytes']:,} B"
    return f"model stack: {deep} painted in QEMU, compiler bound {bound}{peak} (in report.json/md)"


def run(args: argparse.Namespace) -> int:
    from mbmicro.commands.run import check_device_arguments

    check_device_arguments(args)
    if args.on_device:
        result = profile_on_device(args.dir, args.serial, args.timeout, args.host)
        add_to_report(args.dir, result)
        if args.json:
            print_json(result)
        else:
            print_device_table(result)
        return 0
    result = profile(args.dir)
    add_to_report(args.dir, result)
    if args.json:
        print_json(result)
    else:
        print_profile_table(result)
    return 0


def add_to_report(folder: Path, result: dict) -> None:
    """Redraw the folder's report (report.json/.md/.html and the plots) with ``result``'s
    counts per layer (:func:`profile`'s instructions and estimated cycles, or
    :func:`profile_on_device`'s measured cycles), and add their bars (report_profile.png).

    Everything is drawn before anything is written, so a report.json that cannot be
    drawn (edited, or from an older mbmicro) changes no file and is one line. A folder
    whose build.json lists no report.md (made by hand around a model of its own, as the
    QEMU profiling tests do) has no drawn report to update: it is left as it is."""
    from mbmicro.codegen import report, report_layers

    built = load_build_folder(folder, need_report=True)
    if "report.md" not in built.build.get("files", ()):
        return
    try:
        rep = report_layers.with_profile(built.report, result)
        stack = result.get("model_stack")
        if stack:  # the stack painted in QEMU, beside the compiler's bound
            rep = report.with_painted_stack(rep, stack["painted_bytes"], stack["window_bytes"], stack["floor_bytes"])
        files = report.render_files(rep)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{folder}/report.json is broken or from an older mbmicro ({type(exc).__name__}: {exc}): "
                        "rebuild the folder with 'mbmicro build --force'") from None
    try:
        report.write_files(built.path, files)
    except OSError as exc:
        raise UserError(f"cannot write the report into {folder}: {exc.strerror or exc}: make the folder "
                        "writable, or profile a copy of it") from None
