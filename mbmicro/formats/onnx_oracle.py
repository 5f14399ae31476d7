"""onnxruntime sessions used as an oracle for mbmicro's ONNX exports.

Why graph optimizations are off: with them on, onnxruntime fuses QDQ groups
into its own int8 kernels (QLinearConv, u8s8 GEMM), whose results depend on
the CPU. On x86 with AVX2 but without AVX-512 VNNI that GEMM adds pairs of
u8*s8 products in int16 (``vpmaddubsw``) and saturates, so a conv can land
hundreds of LSB away from the exact result; with VNNI it does not. With
``ORT_DISABLE_ALL`` every QDQ group runs as written: DequantizeLinear, the
float op, QuantizeLinear. That is the exact float meaning of the QDQ model on
every CPU, and what an assertion may compare against.

``fused=True`` gives the default (fusing) session, for benchmarks that report
what onnxruntime's own int8 kernels do on this machine; no test asserts on it.
"""

from __future__ import annotations

import onnx


def session(model: onnx.ModelProto, config: dict[str, str] | None = None, fused: bool = False,
            optimized_path: str | None = None):
    """A CPU InferenceSession for ``model``; exact (no graph optimizations) unless ``fused``."""
    import onnxruntime as ort  # a test/benchmark dependency only

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not fused:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    if optimized_path is not None:
        so.optimized_model_filepath = optimized_path
    for key, value in (config or {}).items():
        so.add_session_config_entry(key, value)
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
