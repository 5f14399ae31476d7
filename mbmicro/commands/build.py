"""``mbmicro build``: model + target -> a self-contained C project folder.

Why the folder holds the int8 graph too: ``run`` and ``verify`` then work on
DIR alone, comparing the C against exactly the graph it was generated from.
A model that does not fit the SRAM/flash budgets (the target's board, or
--sram/--flash) is refused before DIR is written (mbmicro.targets.budgets):
at once when lower bounds from its layer shapes already exceed them, else
once it is lowered.  Every option, the prefix included, is checked before
the model is built.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mbmicro import progress
from mbmicro.graph.fusion import DEFAULT_MEMORY_MODE, MEMORY_MODES
from mbmicro.graph.images import DEFAULT_MODE, MODES, CalibrationFolder, Preprocess, list_images, make_preprocess
from mbmicro.models.estimate import check_memory
from mbmicro.models.options import MODEL_HELP, add_model_options, check_calibration_file, config_from_args
from mbmicro.targets.budgets import check_estimate, with_budgets
from mbmicro.errors import UserError
from mbmicro.targets.target import load_target
from mbmicro.units import format_bytes, parse_bytes

HELP = "generate a C project (AOT model, weights, kernels, Makefile) for a model and target"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--target", default="host", help="target name, see 'mbmicro targets' (default host)")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="build folder to create")
    add_model_options(p)
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration images: a .npy float32 (N,H,W,3), already preprocessed, or a folder of "
                        "image files (any depth, sorted, at most 1000 used, made by --preprocess) "
                        "(default: seeded random images)")
    add_preprocess_options(p)
    p.add_argument("--prefix", help="C symbol prefix (default: the model name as an identifier)")
    p.add_argument("--tuning-log", action="append", metavar="FILE",
                   help="take each kernel's best verified knobs from this 'mbmicro tune' log (repeat to merge logs)")
    p.add_argument("--force", action="store_true", help="replace DIR if it is an earlier mbmicro build")
    p.add_argument("--sram", metavar="BYTES", help="SRAM budget, e.g. 256K, 256KB, 256KiB, 262144 or 1.5M (K = 1024; default: the target's board)")
    p.add_argument("--flash", metavar="BYTES", help="flash budget, e.g. 1M or 1MiB (M = 1024*1024; default: the target's board)")
    p.add_argument("--io-in-arena", action="store_true",
                   help="place the input and output in the arena (<prefix>_input/_output(arena)): the input's "
                        "bytes are reused once it is dead, so SRAM drops by up to the input's size")
    p.add_argument("--memory", choices=list(MEMORY_MODES), default=DEFAULT_MEMORY_MODE,
                   help="fused row regions (docs/MEMORY.md): fast none; inplace none, depthwise layers written "
                        "over their input where that lowers the peak; balanced (default) the chains where the "
                        "arena peaks, within an estimated 5%% of the model's instructions (then in-place depthwise); "
                        "min every chain that lowers the peak, input/output in the arena. A build that "
                        "does not fit the SRAM budget is retried with min before it is refused")


def add_preprocess_options(p: argparse.ArgumentParser) -> None:
    """--preprocess and --resize: how an image file becomes the model's float input
    (mbmicro.graph.images), recorded in build.json for run --image, evaluate and calibration."""
    p.add_argument("--preprocess", choices=list(MODES), default=DEFAULT_MODE,
                   help="pixel scaling after resize and center crop: tf x/127.5-1 (TF/Keras MobileNet, "
                        "the built-in models' [-1, 1]), imagenet (x/255-mean)/std (torchvision), unit x/255 "
                        f"(default {DEFAULT_MODE})")
    p.add_argument("--resize", type=int, metavar="N",
                   help="resize the shorter side to N pixels (bilinear) before the center crop to the "
                        "model's resolution (default resolution*256/224, 256 for 224)")


def calibration_source(args: argparse.Namespace, pre: Preprocess):
    """What the quantizer reads: None, a .npy path, or a folder with its preprocessing."""
    if args.calibration is not None and Path(args.calibration).is_dir():
        return CalibrationFolder(args.calibration, pre)
    return args.calibration


def memory_io_in_arena(args: argparse.Namespace) -> bool:
    """Whether the input and output go into the arena: --io-in-arena, or --memory min (a board's
    firmware then copies its test input from flash into the arena)."""
    return bool(args.io_in_arena or args.memory == "min")


def estimate_or_retry(target, config, io_in_arena: bool, memory: str) -> None:
    """The up-front refusal: with ``memory``, and when that does not fit, with --memory min
    (the build retries with min too), so a model that fits fused is not refused."""
    try:
        check_estimate(target, config, io_in_arena=io_in_arena, memory=memory)
    except UserError:
        if memory == "min":
            raise
        check_estimate(target, config, io_in_arena=io_in_arena, memory="min")


#: Options that do not change what is built: where it goes, whether an old build is replaced, progress bars.
NOT_BUILD_OPTIONS = ("command", "output", "force", "quiet")
#: Options that are paths: provenance records their file names only (no build machine's folders).
PATH_OPTIONS = ("model", "calibration", "tuning_log")


def build_options(args: argparse.Namespace) -> dict:
    """The build's command-line options as a dict (defaults included), for its provenance
    (mbmicro.codegen.provenance): every option of 'mbmicro build' that decides the output."""
    from mbmicro.codegen.provenance import path_names

    given = {k: v for k, v in vars(args).items() if k not in NOT_BUILD_OPTIONS}
    return path_names(given, PATH_OPTIONS)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from mbmicro.codegen.aot import check_prefix, default_prefix
    from mbmicro.codegen.project import build_project, check_destination

    target = with_budgets(load_target(args.target),
                          sram=None if args.sram is None else parse_bytes(args.sram, "--sram"),
                          flash=None if args.flash is None else parse_bytes(args.flash, "--flash"))
    io_in_arena = memory_io_in_arena(args)
    config = config_from_args(args)
    prefix = check_prefix(args.prefix if args.prefix is not None else default_prefix(config.name)[:32])
    check_calibration_file(args.calibration)
    if args.calibration is not None and Path(args.calibration).is_dir():
        list_images(args.calibration, "calibration folder", warn=False)  # empty: refused at once
    pre = make_preprocess(args.preprocess, args.resize)
    if config.file is None:  # a built-in model's input size is known now: check --resize at once
        pre.resolved((config.resolution, config.resolution))
    out = Path(args.output)
    check_destination(out, args.force)  # fail before the slow part
    # a model far too large for the board: refused in milliseconds
    estimate_or_retry(target, config, io_in_arena, args.memory)
    check_memory(config, quantize=True, calibration=args.calibration)  # or too large for this machine

    from mbmicro.pipeline import make_model

    with progress.step("quantizing" if config.file is None else "importing"):
        _, graph = make_model(config.model, config.width, config.resolution, config.classes, config.seed,
                              calibration=calibration_source(args, pre))
    info = {"model": config.name,
            "options": {"width": config.width, "resolution": config.resolution, "classes": config.classes,
                        "seed": config.seed, "calibration": args.calibration},
            "preprocess": pre.record(tuple(graph.input.shape[1:3]))}
    if config.file is not None:  # a file's options are its own; record which file, exactly
        source = dict(graph.meta["source"], path=str(Path(config.file).resolve()))  # evaluate reopens it
        info.update(options={"calibration": args.calibration}, source=source)
    knobs, row_knobs, tuning = None, None, None
    if args.tuning_log:
        from mbmicro.tune import apply, log as tlog

        records = tlog.read_many(args.tuning_log)
        knobs, used = apply.tuned_knobs(graph, target, records)
        row_knobs = apply.RowKnobs(target, records)

        def tuning(fused: frozenset[str]) -> dict:
            return apply.summary(list(args.tuning_log), used, graph, fused=fused, row_used=row_knobs.used)
    from mbmicro.codegen.report import code_summary

    rep = build_project(graph, target, out, prefix=prefix, force=args.force, info=info, started=started,
                        io_in_arena=io_in_arena, knobs=knobs, row_knobs=row_knobs, tuning=tuning, memory=args.memory,
                        retry_memory="min", options=build_options(args))
    m = rep["memory"]
    b = format_bytes
    print(f"built {config.name} for {target.name} in {out}: arena {b(rep['arena_bytes'])} "
          f"(lower bound {b(rep['arena_lower_bound'])}), weights {b(rep['weights_bytes'])}, "
          f"code {code_summary(rep)}, {rep['unique_kernels']} kernels, {rep['build_time_s']:.1f} s; "
          f"SRAM {'' if m['measured'] else 'at least '}{m['sram_needed_bytes']:,} of {b(m['sram_budget_bytes'])}, "
          f"flash {'' if m['measured'] else 'at least '}{m['flash_needed_bytes']:,} of {b(m['flash_budget_bytes'])}")
    if args.tuning_log:
        t = rep["tuning"]
        fused = (f"; {len(t['layers_fused'])} layers in the log run fused as row kernels (default knobs)"
                 if t["layers_fused"] else "")
        rows = len(t["layers_from_log_fused"])
        rows = f" and {rows} fused layers' row kernels" if rows else ""
        print(f"tuning log: {len(t['layers_from_log'])} layers{rows} ({len(t['kernels_from_log'])} kernels) "
              "from the log, "
              f"{t['layers_changed']} of them with knobs other than the defaults; {t['layers_default']} layers "
              f"not in the log (default knobs){fused}")
    if (out / "firmware").is_dir():
        print(f"firmware for the {target.board.title} in {out / 'firmware'}: 'make' builds app.elf, "
              f"'make flash' programs it (docs/BOARDS.md)")
    return 0
