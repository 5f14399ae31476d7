"""``mbmicro export-onnx MODEL -o m.onnx [--int8]``: the model as an ONNX file.

Why export ONNX at all: it lets any ONNX runtime check our float model and
our int8 model (as QDQ) independently of the reference interpreters and the
generated C.  MODEL may be an .onnx file: the export is then the imported
graph as mbmicro sees it (NHWC input, folded BatchNorm, fused activations).
Why write through a temporary file and ``os.replace``: an interrupted export
must never leave a truncated .onnx where a good one was.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mbmicro.errors import UserError
from mbmicro.models.estimate import Estimate, check_memory, estimate
from mbmicro.commands.build import add_preprocess_options, calibration_source
from mbmicro.models.options import (ModelConfig, add_model_argument, add_model_options, check_calibration_file,
                                    config_from_args)
from mbmicro.units import format_bytes, format_size

#: protobuf's limit on one serialized message: an ONNX model without external data.
ONNX_LIMIT_BYTES = 2**31 - 1

HELP = "write the float model (or with --int8 the quantized model as QDQ) to an ONNX file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="ONNX file to write, e.g. model.onnx")
    p.add_argument("--int8", action="store_true",
                   help="export the int8 model as QDQ (QuantizeLinear/DequantizeLinear) instead of the float one")
    add_model_options(p)
    p.add_argument("--calibration", metavar="FILE",
                   help="with --int8: calibration images, a .npy float32 (N,H,W,3) or a folder of image files "
                        "made by --preprocess (default: seeded random images)")
    add_preprocess_options(p)


def _check_destination(path: Path) -> None:
    """Fail before the slow part if the file cannot be written."""
    if path.is_dir():
        raise UserError(f"output {path} is a directory: pass a file name such as {path / 'model.onnx'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"output folder {folder} does not exist: create it or pass another -o path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"cannot write {path}: pass an -o path in a writable folder")


def _check_onnx_size(config: ModelConfig, est: Estimate, int8: bool) -> None:
    """Refuse a model whose weights alone pass protobuf's 2 GiB message limit: onnx cannot
    even assemble such a graph (EncodeError, after the whole model was built).

    Lower bound of the initializers: 4 bytes per float parameter, or 1 per
    int8 one (weights; the QDQ biases are int32).
    """
    need = est.params * (1 if int8 else 4)
    if need > ONNX_LIMIT_BYTES:
        kind = "int8 QDQ" if int8 else "float"
        raise UserError(f"{config.model} at width {config.width:g} with {config.classes:,} classes has "
                        f"{est.params:,} parameters: the {kind} ONNX file would hold at least {format_bytes(need)} of "
                        f"weights, over ONNX's {format_size(ONNX_LIMIT_BYTES)} limit: try a smaller --width or --classes"
                        + ("" if int8 else ", or --int8"))


def write_atomically(data: bytes, path: Path) -> None:
    """Write data to a temporary file next to path, then rename it over path.

    The temporary name carries the process id so two exports to the same
    file cannot clobber each other's half-written data.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _output_shape(graph) -> tuple[int, ...]:
    """The exported output's shape: (1, N) for a (1, 1, 1, N) tensor (onnx_float.emit_output)."""
    shape = tuple(graph.output.shape)
    return (1, shape[3]) if shape[1] == shape[2] == 1 else shape


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out = Path(args.output)
    _check_destination(out)
    if args.calibration is not None and not args.int8:
        raise UserError("--calibration only applies to the int8 model: add --int8 or drop --calibration")
    check_calibration_file(args.calibration)
    if config.file is None:  # an imported model is no larger than the ONNX file it came from
        _check_onnx_size(config, estimate(config), args.int8)  # before the slow, large part
    check_memory(config, quantize=args.int8, calibration=args.calibration)

    if args.int8:
        from mbmicro.formats.onnx_qdq import export_qdq
        from mbmicro.pipeline import make_model

        from mbmicro.graph.images import make_preprocess

        float_graph, graph = make_model(config.model, config.width, config.resolution, config.classes, config.seed,
                                        calibration=calibration_source(args, make_preprocess(args.preprocess,
                                                                                              args.resize)))
        if float_graph is None:  # an int8 .tflite: its TFLite rounding has no QDQ ONNX equivalent
            raise UserError(f"model file {config.model} is an int8 .tflite; QDQ export is for models mbmicro "
                            "quantized: use the .tflite itself, or mbmicro build")
        model = export_qdq(graph)
    else:
        from mbmicro.formats.onnx_float import export_float
        from mbmicro.pipeline import float_graph_for

        graph = float_graph_for(config)
        model = export_float(graph)
    data = model.SerializeToString()
    try:
        write_atomically(data, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}; pass an -o path in a writable folder") from None
    kind = "int8 QDQ" if args.int8 else "float"
    print(f"wrote {out}: {config.name} {kind}, input {tuple(graph.input.shape)} NHWC, "
          f"output {_output_shape(graph)}, {len(model.graph.node)} nodes, {format_bytes(len(data))}")
    return 0
