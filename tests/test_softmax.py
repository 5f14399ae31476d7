"""int8 SOFTMAX, bit-exact with TensorFlow Lite Micro (issue 8).

Checked: TFLM's Prepare numbers (multiplier, left shift, diff_min) for known
scales; the integer reference equals the ``tflite-micro`` interpreter on
random logits over many input scales, betas, zero points and class counts
(SOFTMAX-only models written in memory by tests/data/make_tflite.py), and
after a DEQUANTIZE to float; the reference stays within 2.5 output steps of
the float softmax; the micro-kernel kernel equals the reference on the host
on 240 random cases (one .so) plus rows of 1000 tied classes (final shift
above 31), and on cortex-m4 in QEMU on 60; the committed
softmax_classifier.tflite built for the host verifies and built for cortex-m4
gives TFLM's bytes; a SOFTMAX whose output is not 1/256, -128, one without
options (beta 0 in TFLM) and a too small beta * scale are one UserError.
(ONNX Softmax stays refused: tests/test_onnx_import.py.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from kernel_harness import run_cases, single_node_graph, tensor
from mbmicro.codegen.kernels import lower_node
from mbmicro.errors import UserError
from mbmicro.formats.tflite_import import import_tflite_bytes, import_tflite_file
from mbmicro.reference.arith import dequantize, tflite_softmax_params
from mbmicro.reference.float32 import softmax as float_softmax
from mbmicro.reference.int8 import run_int8, softmax
from tflm_oracle import tflm_output

DATA = Path(__file__).parent / "data"
CLASSIFIER = DATA / "tflite" / "softmax_classifier.tflite"
sys.path.insert(0, str(DATA))
import make_tflite  # noqa: E402


def _softmax_model(classes: int, scale: float, zp: int, beta: float) -> bytes:
    m = make_tflite.ModelWriter("softmax_only", 0)
    make_tflite.softmax_only(m, classes, scale, zp, beta)
    return m.finish()


def _random_params(rng):
    """(classes, float32 input scale, zero point, float32 beta) over the scales logits have."""
    classes = int(rng.choice([2, 3, 10, 17, 64, 100, int(rng.integers(2, 130))]))
    scale = float(np.float32(np.exp(rng.uniform(np.log(2e-4), np.log(4.0)))))
    beta = float(np.float32(1.0 if rng.random() < 0.5 else rng.uniform(0.05, 4.0)))
    return classes, scale, int(rng.integers(-128, 128)), beta


def test_prepare_numbers_are_tflm_s():
    # beta * s * 2**26 = 2**23 exactly: multiplier 2**30, left shift 24, radius 31 * 2**26 / 2**24 = 124
    assert tflite_softmax_params(1.0, 0.125) == (1 << 30, 24, -124)
    # a large scale caps the multiplier at 2**31 - 1 (left shift 31): only the row's maximum survives
    assert tflite_softmax_params(1.0, 1000.0) == ((1 << 31) - 1, 31, 0)
    with pytest.raises(ValueError, match="2\\*\\*-26"):
        tflite_softmax_params(1.0, 1e-9)


def test_reference_is_bit_exact_with_tflite_micro_over_many_scales():
    rng = np.random.default_rng(8)
    for _ in range(120):
        classes, scale, zp, beta = _random_params(rng)
        data = _softmax_model(classes, scale, zp, beta)
        graph = import_tflite_bytes(data, "softmax_only")
        assert [n.op for n in graph.nodes] == ["softmax"] and graph.nodes[0].attrs["beta"] == beta
        for _ in range(4):
            x = rng.integers(-128, 128, (1, 1, 1, classes)).astype(np.int8)
            if rng.random() < 0.25:  # ties and near-ties at the maximum
                x[..., : classes // 2] = x.max()
            want = tflm_output(data, x)
            got = run_int8(graph, x)
            assert got.tobytes() == want.tobytes(), (classes, scale, zp, beta, x.tolist())


def test_reference_follows_the_float_softmax():
    rng = np.random.default_rng(9)
    for _ in range(50):
        classes, scale, zp, beta = _random_params(rng)
        m, left, diff_min = tflite_softmax_params(beta, scale)
        x = rng.integers(-128, 128, (1, 1, 1, classes)).astype(np.int8)
        probs = dequantize(softmax(x, m, left, diff_min), 1 / 256, -128)
        exact = float_softmax((x.astype(np.float32) - zp) * np.float32(scale), beta)
        assert np.abs(probs - exact).max() <= 2.5 / 256, (classes, scale, beta)


def _kernel_case(rng):
    classes, scale, zp, beta = _random_params(rng)
    pixels = int(rng.choice([1, 1, 1, 4]))
    m, left, diff_min = tflite_softmax_params(beta, scale)
    x_t, y_t = tensor("x", (1, 1, pixels, classes), zp, scale), tensor("y", (1, 1, pixels, classes), -128, 1 / 256)
    attrs = dict(beta=beta, input_multiplier=m, input_left_shift=left, diff_min=diff_min)
    graph, node = single_node_graph("softmax", [x_t], y_t, attrs=attrs)
    graph.meta["requant"] = "tflite"
    x = rng.integers(-128, 128, x_t.shape).astype(np.int8)
    if rng.random() < 0.2:
        x[..., : classes // 2] = x.max()
    return graph, node, {"x": x}, None, softmax(x, m, left, diff_min)


def test_kernel_calls_the_micro_kernel():
    graph, node, *_ = _kernel_case(np.random.default_rng(1))
    k = lower_node(graph, node, "cortex-m4")
    assert k.headers == ("mbmicro_softmax.h",) and "mbmicro_softmax_s8(x, y, " in k.source
    assert k.source.startswith('#include <stdint.h>\n#include "mbmicro_softmax.h"\n')


def _tied_case(classes: int, value: int):
    """A row of ``classes`` equal logits: the sum of exps is classes * 2**19, the final shift 31 + more."""
    m, left, diff_min = tflite_softmax_params(1.0, 0.05)
    x_t, y_t = tensor("x", (1, 1, 1, classes), 0, 0.05), tensor("y", (1, 1, 1, classes), -128, 1 / 256)
    graph, node = single_node_graph("softmax", [x_t], y_t, attrs=dict(
        beta=1.0, input_multiplier=m, input_left_shift=left, diff_min=diff_min))
    x = np.full(x_t.shape, value, np.int8)
    x[..., 0] = min(127, value + 3)
    return graph, node, {"x": x}, None, softmax(x, m, left, diff_min)


def test_kernel_equals_the_reference_on_the_host():
    rng = np.random.default_rng(10)
    run_cases([_kernel_case(rng) for _ in range(240)] + [_tied_case(1000, 5), _tied_case(700, -128)])


def test_classifier_imports_with_softmax_last():
    graph = import_tflite_file(CLASSIFIER)
    assert [n.op for n in graph.nodes][-2:] == ["fully_connected", "softmax"]
    assert (graph.output.scale, graph.output.zero_point) == (1 / 256, -128)


def test_classifier_on_the_host_verifies(tmp_path, capsys):
    from mbmicro.cli import main

    out = tmp_path / "host"
    assert main(["build", "--model", str(CLASSIFIER), "--target", "host", "-o", str(out)]) == 0
    assert main(["verify", str(out), "--count", "2"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert (out / "model" / "mbmicro_softmax.h").is_file()


def test_classifier_on_cortex_m4_equals_tflite_micro_byte_for_byte(tmp_path):
    """The whole SOFTMAX-ended model built for cortex-m4, run in QEMU, against TFLM's interpreter."""
    from mbmicro.cli import main
    from mbmicro.sim.build_folder import load_build_folder
    from mbmicro.sim.execute import run_build

    data = CLASSIFIER.read_bytes()
    assert main(["build", "--model", str(CLASSIFIER), "--target", "cortex-m4", "-o", str(tmp_path / "m4")]) == 0
    folder = load_build_folder(tmp_path / "m4", need_graph=True)
    rng = np.random.default_rng(4)
    for _ in range(3):
        x = rng.integers(-128, 128, folder.graph.input.shape).astype(np.int8)
        y, _ = run_build(folder, x)
        want = tflm_output(data, x)
        assert y.dtype == want.dtype == np.int8 and y.tobytes() == want.tobytes()
        assert len(set(want.ravel().tolist())) > 1  # a real distribution, not one class at 1.0


def test_softmax_with_other_output_qparams_is_refused():
    m = make_tflite.ModelWriter("bad_softmax", 0)
    x = m.act("logits", (1, 10), 0.1, 0)
    y = m.act("probs", (1, 10), 1 / 128, 0)
    m.op(make_tflite.Op.SOFTMAX, [x], [y], ("softmax", 1.0))
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(UserError, match="SOFTMAX output 'probs' has qparams .*scale 1/256, zero point -128"):
        import_tflite_bytes(m.finish(), "bad_softmax", "bad_softmax.tflite")


def test_softmax_of_a_tiny_input_scale_is_refused():
    with pytest.raises(UserError, match="SOFTMAX cannot be imported.*below 2\\*\\*-26"):
        import_tflite_bytes(_softmax_model(10, 1e-9, 0, 1.0), "tiny", "tiny.tflite")


def test_kernel_equals_the_reference_on_cortex_m4_in_qemu():
    """The same micro-kernel compiled for the M4 (int64 division by a library call, ARM shifts)."""
    from qemu_kernel_harness import run_cases_qemu

    rng = np.random.default_rng(11)
    run_cases_qemu([_kernel_case(rng) for _ in range(60)], "cortex-m4")


def test_float_output_after_softmax_equals_tflite_micro():
    """SOFTMAX -> DEQUANTIZE to float32 (the TFLiteConverter's default output type) is TFLM's float output."""
    m = make_tflite.ModelWriter("softmax_float_out", 0)
    make_tflite.softmax_only(m, 12, 0.07, 4, 1.0)
    yf = m.tensor("probs_f", (1, 12), make_tflite.TensorType.FLOAT32)
    m.op(make_tflite.Op.DEQUANTIZE, [m.outputs[0]], [yf])
    m.outputs = [yf]
    data = m.finish()
    graph = import_tflite_bytes(data, "softmax_float_out")
    assert graph.meta["float_output"] and [n.op for n in graph.nodes] == ["softmax"]
    x = np.random.default_rng(2).integers(-128, 128, (1, 1, 1, 12)).astype(np.int8)
    want = tflm_output(data, x)
    got = dequantize(run_int8(graph, x), graph.output.scale, graph.output.zero_point)
    assert want.dtype == np.float32 and got.tobytes() == want.reshape(got.shape).tobytes()


def test_softmax_without_options_is_refused_as_tflm_would_fail():
    """No SoftmaxOptions: TFLM parses beta 0, which its Prepare cannot quantize."""
    m = make_tflite.ModelWriter("no_options", 0)
    x = m.act("logits", (1, 10), 0.1, 0)
    y = m.act("probs", (1, 10), 1 / 256, -128)
    m.op(make_tflite.Op.SOFTMAX, [x], [y])
    m.inputs, m.outputs = [x], [y]
    with pytest.raises(UserError, match="SOFTMAX cannot be imported: softmax beta \\* input scale = 0"):
        import_tflite_bytes(m.finish(), "no_options", "no_options.tflite")


def test_tied_rows_past_a_31_bit_final_shift_equal_tflite_micro():
    """520 classes tied one step below the maximum: the sum of exps needs a final shift of 32 bits."""
    data = _softmax_model(520, 0.05, 0, 1.0)
    graph = import_tflite_bytes(data, "ties")
    x = np.full((1, 1, 1, 520), 5, np.int8)
    x[..., 0] = 8
    want = tflm_output(data, x)
    assert run_int8(graph, x).tobytes() == want.tobytes() and len(set(want.ravel().tolist())) == 2
