"""Import a quantized QDQ ONNX model (onnxruntime ``quantize_static``, mbmicro's own
``export_qdq``) as mbmicro's int8 Graph, keeping the model's own scales and zero points.

Why not re-calibrate: a QDQ model states its int8 grid (every QuantizeLinear's
scale and zero point, every int8 weight and int32 bias), and the model's
accuracy was measured on that grid.  Re-quantizing it from the dequantized
float weights would give another model.

How, in four steps (docs/ONNX_IMPORT.md, "QDQ models"):

1. Strip: every DequantizeLinear of an int8/int32 initializer becomes the float
   initializer it computes (the int values are kept aside); every
   QuantizeLinear -> DequantizeLinear pair on an activation becomes two
   Identity nodes (its scale and zero point are kept aside, uint8 ones as
   int8 with ``zp - 128``: the same grid).  What is left is a float ONNX model.
2. The float importer (:mod:`mbmicro.formats.onnx_import`) maps it to the
   float Graph; a subclass of its walker records which ONNX node wrote each
   IR node and which IR tensor each ONNX tensor became.
3. Every IR tensor takes the scale and zero point of its QuantizeLinear;
   every conv / fully_connected takes the int8 weight and int32 bias of its
   DequantizeLinear'd initializers.
4. :func:`mbmicro.quant.ptq.quantize_node` derives the requantization
   multipliers, clamp bounds and lookup tables from those, exactly as for a
   model mbmicro quantized itself.

Whatever cannot be kept exactly is refused in one line naming the ONNX node:
a float op with no int8 kernel, a per-axis scale on an axis other than the
output channels, a tensor without a QuantizeLinear, a QuantizeLinear inside
what mbmicro fuses into one op, concat / slice tensors on different grids.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from mbmicro.errors import UserError
from mbmicro.formats import onnx_import as fi
from mbmicro.graph.ir import Graph, Node
from mbmicro.models.options import file_model_name
from mbmicro.quant.lut import make_table
from mbmicro.quant.ptq import BIAS_LIMIT, quantize_node
from mbmicro.reference.arith import INT8_MAX, INT8_MIN

_Q, _DQ = "QuantizeLinear", "DequantizeLinear"
_WEIGHTED = ("conv2d", "depthwise", "fully_connected")
#: ONNX ops whose weight DequantizeLinear mbmicro reads, and the weight axis of the output channels
_WEIGHT_OPS = ("Conv", "Gemm", "MatMul")
#: swish / hswish written as x * gate(x): the gate's function
_GATES = {"swish": "sigmoid", "hswish": "hsigmoid"}
#: relative difference between a bias scale and x_scale * w_scale still taken as float32 rounding
_BIAS_SCALE_RTOL = 2.0 ** -20
#: what int8 graphs imported from QDQ record as their calibration
CALIBRATION = "scales of the QDQ model"


def is_qdq(model: onnx.ModelProto) -> bool:
    """Whether the model holds QuantizeLinear / DequantizeLinear nodes (a QDQ model)."""
    return any(n.op_type in (_Q, _DQ) for n in model.graph.node)


@dataclass(frozen=True)
class _IntConst:
    """An integer initializer a DequantizeLinear reads: values, scale, zero point, axis (None: per tensor)."""

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    node: str


@dataclass(frozen=True)
class _Grid:
    """An activation's int8 grid, from its QuantizeLinear (uint8 zero points shifted by -128)."""

    scale: float
    zero_point: int
    node: str


def _label(node: onnx.NodeProto) -> str:
    return f"ONNX node '{node.name or node.output[0]}' ({node.op_type})"


def _refuse(node: onnx.NodeProto, what: str) -> UserError:
    return UserError(f"{_label(node)}: {what}")


# ------------------------------------------------------------------ step 1: strip Q/DQ

class _Stripper:
    """Turns the QDQ model into a float one, keeping its integer constants and activation grids."""

    def __init__(self, model: onnx.ModelProto):
        self.model = onnx.ModelProto()
        self.model.CopyFrom(model)  # the caller's model stays as it was: nodes are renamed in place
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.consts: dict[str, _IntConst] = {}
        self.grids: dict[str, _Grid] = {}
        self.q_out: dict[str, tuple[str, _Grid]] = {}  # Q output -> (Q input, grid)

    def const_input(self, node: onnx.NodeProto, i: int, what: str) -> np.ndarray | None:
        if i >= len(node.input) or not node.input[i]:
            return None
        if node.input[i] not in self.inits:
            raise _refuse(node, f"its {what} is not an initializer: only constant scales and zero points "
                                "can be kept")
        return self.inits[node.input[i]]

    def scale_zp(self, node: onnx.NodeProto, data_type: int | None) -> tuple[np.ndarray, np.ndarray]:
        scale = np.asarray(self.const_input(node, 1, "scale"))
        zp = self.const_input(node, 2, "zero point")
        if zp is None:  # ONNX: no zero point means uint8 with zero point 0
            zp = np.zeros(scale.shape, np.uint8 if data_type is None else data_type)
        a = fi._attrs(node)
        if a.get("block_size", 0):
            raise _refuse(node, "block quantization: only per-tensor or per-channel scales are supported")
        if scale.dtype != np.float32 or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise _refuse(node, f"scale of dtype {scale.dtype} with values {scale.reshape(-1)[:4]}: "
                                "expected positive float32 scales")
        return scale, np.asarray(zp)

    def strip(self) -> onnx.ModelProto:
        keep = []
        for node in self.model.graph.node:
            if node.op_type == _DQ and node.input[0] in self.inits:
                self.dequantize_const(node)
            elif node.op_type == _Q:
                keep.append(self.quantize_act(node))
            elif node.op_type == _DQ:
                keep.append(self.dequantize_act(node))
            else:
                keep.append(node)
        keep = self.undecorate(keep)
        out = onnx.ModelProto()
        out.CopyFrom(self.model)
        del out.graph.node[:]
        out.graph.node.extend(keep)
        used = {n for node in keep for n in node.input}
        del out.graph.initializer[:]
        out.graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k)
                                     for k, v in self.inits.items() if k in used)
        return out

    def undecorate(self, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        """Let the float op write the shorter of the names around its Q/DQ pair.

        Why: the IR names a tensor after the ONNX tensor its producer writes.
        onnxruntime keeps the float model's name on the Q input (the DQ output is
        ``X_DequantizeLinear_Output``); mbmicro's export keeps it on the DQ output
        (the Q input is ``X.f``).  The shorter one is the undecorated name."""
        uses: dict[str, list[onnx.NodeProto]] = {}
        for n in nodes:
            for t in n.input:
                uses.setdefault(t, []).append(n)
        outputs = {o.name for o in self.model.graph.output}
        writer = {t: n for n in nodes for t in n.output}
        drop: set[int] = set()
        for q in [n for n in nodes if n.op_type == "Identity" and n.output[0] in self.q_out]:
            x, xq = q.input[0], q.output[0]
            dq = uses.get(xq, [])
            if len(dq) != 1 or dq[0].op_type != "Identity" or uses.get(x) != [q] or x in outputs \
                    or x not in writer or len(dq[0].output[0]) >= len(x):
                continue
            xd = dq[0].output[0]
            p = writer[x]
            p.output[list(p.output).index(x)] = xd
            self.grids[xd] = self.grids.pop(x)
            self.q_out[xq] = (xd, self.grids[xd])
            drop.update((id(q), id(dq[0])))
        return [n for n in nodes if id(n) not in drop]

    def dequantize_const(self, node: onnx.NodeProto) -> None:
        """DQ(int initializer) -> the float initializer it computes; the ints are kept."""
        q = np.asarray(self.inits[node.input[0]])
        if q.dtype not in (np.int8, np.uint8, np.int32):
            raise _refuse(node, f"dequantizes a {q.dtype} initializer: only int8, uint8 and int32 are supported")
        scale, zp = self.scale_zp(node, q.dtype)
        axis = None if scale.size == 1 else int(fi._attrs(node).get("axis", 1)) % max(q.ndim, 1)
        if axis is not None and (scale.ndim != 1 or q.shape[axis] != scale.size):
            raise _refuse(node, f"{scale.size} scales for axis {axis} of a {q.shape} initializer")
        shape = [1] * q.ndim
        if axis is not None:
            shape[axis] = -1
        value = ((q.astype(np.int64) - zp.astype(np.int64).reshape(shape)).astype(np.float32)
                 * scale.reshape(shape)).astype(np.float32)
        self.inits[node.output[0]] = value
        self.consts[node.output[0]] = _IntConst(q, scale, zp, axis, node.name or node.output[0])

    def quantize_act(self, node: onnx.NodeProto) -> onnx.NodeProto:
        """Q(x) on an activation -> Identity; x's grid is kept."""
        scale, zp = self.scale_zp(node, None)
        if scale.size != 1:
            raise _refuse(node, f"quantizes an activation per axis ({scale.size} scales): mbmicro's int8 "
                                "tensors have one scale and zero point (quantize activations per tensor)")
        if zp.dtype not in (np.int8, np.uint8):
            raise _refuse(node, f"quantizes to {zp.dtype}: only int8 and uint8 activations are supported")
        z = int(zp.reshape(-1)[0]) - (128 if zp.dtype == np.uint8 else 0)
        grid = _Grid(float(scale.reshape(-1)[0]), z, node.name or node.output[0])
        old = self.grids.get(node.input[0])
        if old is not None and (old.scale, old.zero_point) != (grid.scale, grid.zero_point):
            raise _refuse(node, f"quantizes tensor '{node.input[0]}' to a second grid (scale {grid.scale:g} "
                                f"vs {old.scale:g}): a tensor must have one scale and zero point")
        self.grids[node.input[0]] = grid
        self.q_out[node.output[0]] = (node.input[0], grid)
        return helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name)

    def dequantize_act(self, node: onnx.NodeProto) -> onnx.NodeProto:
        """DQ(Q(x)) with the Q's own scale and zero point -> Identity."""
        if node.input[0] not in self.q_out:
            raise _refuse(node, f"dequantizes '{node.input[0]}', which no QuantizeLinear writes: an int8 "
                                "graph input or an int8 value computed by another op cannot be imported")
        _, grid = self.q_out[node.input[0]]
        scale, zp = self.scale_zp(node, None)
        z = int(zp.reshape(-1)[0]) - (128 if zp.dtype == np.uint8 else 0)
        if scale.size != 1 or (float(scale.reshape(-1)[0]), z) != (grid.scale, grid.zero_point):
            raise _refuse(node, "dequantizes with another scale or zero point than its QuantizeLinear: "
                                "that is a requantization mbmicro cannot read from a QDQ pair")
        return helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name)


# ------------------------------------------------------------------ step 2: the float importer, recording origins

class _TrackingImporter(fi._Importer):
    """The float importer's walk, remembering the ONNX node behind every IR node."""

    def __init__(self, *args):
        super().__init__(*args)
        self.origin: dict[int, onnx.NodeProto] = {}
        self.current: onnx.NodeProto | None = None

    def visit(self, node: onnx.NodeProto) -> None:
        if node.op_type not in fi.SUPPORTED_OPS or node.domain not in ("", "ai.onnx"):
            raise UserError(f"{_label(node)} has no int8 kernel in mbmicro, so its QDQ group cannot be "
                            f"imported; the QDQ importer maps {', '.join(fi.SUPPORTED_OPS)} "
                            "(docs/ONNX_IMPORT.md)")
        self.current = node
        super().visit(node)

    def op_Identity(self, node: onnx.NodeProto) -> None:
        """Also passes a pending Pad on: onnxruntime quantizes a Pad's output before the Conv takes it."""
        v = self.value(node, 0)
        if isinstance(v, fi._Padded):
            return self.set(node, v)
        super().op_Identity(node)

    def emit(self, *args, **kwargs) -> str:
        name = super().emit(*args, **kwargs)
        self.origin[id(self.nodes[-1])] = self.current
        return name


# ------------------------------------------------------------------ step 3: grids, weights and biases

class _Int8Builder:
    """The int8 graph of the imported float graph, on the QDQ model's grids."""

    def __init__(self, graph: Graph, imp: _TrackingImporter, strip: _Stripper):
        self.graph, self.imp, self.strip = graph, imp, strip
        self.producers = {n.outputs[0]: n for n in graph.nodes}

    def onnx_of(self, node: Node) -> onnx.NodeProto:
        return self.imp.origin[id(node)]

    def ir_of(self, onnx_name: str) -> str | None:
        v = self.imp.values.get(onnx_name)
        return v.tensor if isinstance(v, fi._Act) else None

    def gates(self) -> dict[str, str]:
        """swish / hswish IR nodes whose gate (x -> sigmoid) is on its own grid: IR node -> ONNX gate tensor."""
        out = {}
        for n in self.graph.nodes:
            if n.op == "act" and n.attrs["func"] in _GATES:
                m = self.onnx_of(n)
                if m.op_type == "Mul":
                    gate = next((t for t in m.input if self.ir_of(t) != n.inputs[0]), None)
                    key = self.grid_key(gate) if gate is not None else None
                    if key is not None:
                        out[n.name] = key
        return out

    def grid_key(self, onnx_name: str) -> str | None:
        """The quantized ONNX tensor behind ``onnx_name``, through the Identity nodes Q/DQ became."""
        seen = onnx_name
        while seen not in self.strip.grids:
            if seen in self.strip.q_out:
                seen = self.strip.q_out[seen][0]
                continue
            src = next((n for n in self.imp.model.graph.node if seen in n.output), None)
            if src is None or src.op_type != "Identity":
                return None
            seen = src.input[0]
        return seen

    def qparams(self, gates: dict[str, str]) -> dict[str, tuple[float, int]]:
        """(scale, zero point) of every IR tensor, from the QuantizeLinear of the ONNX tensors behind it."""
        grids: dict[str, _Grid] = {}
        pads = []
        for onnx_name, grid in self.strip.grids.items():
            v = self.imp.values.get(onnx_name)
            if isinstance(v, fi._Padded):
                pads.append((onnx_name, grid, v))
            elif self.kept(onnx_name, grid, set(gates.values())):
                self.assign(grids, self.ir_of(onnx_name), onnx_name, grid)
        qp = {ir: (g.scale, g.zero_point) for ir, g in grids.items()}
        for name in self.graph.tensors:
            if name not in qp:
                self.missing(name)
        for onnx_name, grid, pad in pads:
            if qp.get(pad.source.tensor) != (grid.scale, grid.zero_point):
                raise _refuse(self.q_node(grid), f"gives the Pad output '{onnx_name}' another scale or zero "
                                                 "point than the Pad's input: mbmicro pads with the input's "
                                                 "zero point (quantize the Pad's output like its input)")
        return qp

    def kept(self, onnx_name: str, grid: _Grid, gate_names: set[str]) -> bool:
        """Whether the grid lands on an IR tensor; False for a swish gate and a quantized constant,
        refused for a rounding inside what the IR computes as one op."""
        ir = self.ir_of(onnx_name)
        if ir is not None and ir in self.graph.tensors:
            return True
        if onnx_name in gate_names or ir is None and onnx_name in self.strip.inits:
            return False
        raise _refuse(self.q_node(grid), f"rounds '{onnx_name}' inside what mbmicro computes as one int8 op "
                                         "(a conv with its activation, a folded BatchNorm or constant): that "
                                         "rounding cannot be kept; quantize without a QuantizeLinear there")

    def assign(self, grids: dict[str, _Grid], ir: str, onnx_name: str, grid: _Grid) -> None:
        """IR tensor ``ir`` takes ``grid``; views of one tensor (Reshape, Flatten) must agree."""
        old = grids.get(ir)
        if old is not None and (old.scale, old.zero_point) != (grid.scale, grid.zero_point):
            raise _refuse(self.q_node(grid), f"gives '{onnx_name}' scale {grid.scale:g}, zero point "
                                             f"{grid.zero_point} but the same tensor has scale {old.scale:g}, "
                                             f"zero point {old.zero_point} (QuantizeLinear '{old.node}'): a "
                                             "reshape or identity cannot requantize")
        grids[ir] = grid

    def q_node(self, grid: _Grid) -> onnx.NodeProto:
        return next(n for n in self.strip.model.graph.node if (n.name or n.output[0]) == grid.node)

    def missing(self, name: str) -> None:
        p = self.producers.get(name)
        if p is None:
            raise UserError(f"the model input '{self.graph.inputs[0]}' has no QuantizeLinear: a QDQ model "
                            "quantizes its input first")
        raise _refuse(self.onnx_of(p), f"its output '{name}' has no QuantizeLinear: every activation "
                                       "of an int8 model needs a scale and zero point")

    def check_shared(self, qp: dict[str, tuple[float, int]]) -> None:
        """concat and slice do not requantize: their tensors must share one grid."""
        for n in self.graph.nodes:
            if n.op in ("concat", "slice") and any(qp[t] != qp[n.outputs[0]] for t in n.inputs):
                raise _refuse(self.onnx_of(n), "its inputs and output are on different grids: mbmicro's "
                                               f"int8 {n.op} does not requantize (quantize them with one "
                                               "scale and zero point)")

    def weights(self, node: Node, sx: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(int8 weight in IR layout, float32 scale per output channel, int32 bias) from the DQ'd initializers."""
        m = self.onnx_of(node)
        if m.op_type not in _WEIGHT_OPS:
            raise _refuse(m, "is a float op between QDQ pairs with no int8 kernel of its own (mbmicro would "
                             "fold it into a conv, changing the int8 weights); fold it before quantizing")
        w = self.strip.consts.get(m.input[1])
        if w is None or w.q.dtype != np.int8:
            raise _refuse(m, f"its weight '{m.input[1]}' is not an int8 initializer read by a "
                             "DequantizeLinear: quantize weights to int8 (QuantType.QInt8)")
        channels = node.params["weight"].shape[-1 if node.op == "depthwise" else 0]
        out_axis = {"Conv": 0, "MatMul": 1}.get(m.op_type, 0 if fi._attrs(m).get("transB", 0) else 1)
        if w.axis is not None and w.axis != out_axis:
            raise _refuse(m, f"its weight is quantized per axis {w.axis}: only per-tensor or per-output-"
                             f"channel (axis {out_axis}) weight scales are supported")
        if np.any(w.zero_point != 0) or np.any(w.q == -128):
            raise _refuse(m, "its int8 weight has a nonzero zero point or the value -128: mbmicro's weights "
                             "are symmetric in [-127, 127] (quantize weights symmetrically)")
        ws = np.broadcast_to(w.scale.reshape(-1), (channels,)).astype(np.float32)
        wq = self.int_weight(node, m, ws)
        return wq, ws, self.bias(node, m, sx, ws)

    def int_weight(self, node: Node, m: onnx.NodeProto, ws: np.ndarray) -> np.ndarray:
        """The IR's float weight divided back onto its grid; refused unless that is exact."""
        wf = np.asarray(node.params["weight"], np.float32)
        shape = (1, 1, -1) if node.op == "depthwise" else (-1,) + (1,) * (wf.ndim - 1)
        s = ws.reshape(shape)
        wq = np.rint(wf.astype(np.float64) / s)
        if not np.array_equal((wq.astype(np.float32) * s).astype(np.float32), wf) or np.abs(wq).max() > 127:
            raise _refuse(m, "its weights are not its int8 initializer times its scales after the import "
                             "(a scaled Gemm or a folded constant): fold it before quantizing")
        return np.ascontiguousarray(wq.astype(np.int8))

    def bias(self, node: Node, m: onnx.NodeProto, sx: float, ws: np.ndarray) -> np.ndarray:
        """The int32 bias of the model if its scale is x_scale * w_scale (to float32 rounding), else
        the float bias requantized onto that scale (an unquantized or differently scaled bias)."""
        want = np.float64(np.float32(sx)) * ws.astype(np.float64)
        b = self.strip.consts.get(m.input[2]) if m.op_type != "MatMul" and len(m.input) > 2 and m.input[2] else None
        if b is not None and b.q.dtype == np.int32 and np.all(b.zero_point == 0):
            bs = np.broadcast_to(b.scale.reshape(-1), ws.shape).astype(np.float64)
            bq = np.broadcast_to(b.q.reshape(-1), ws.shape).astype(np.int64)
            same = np.abs(bs - want) <= _BIAS_SCALE_RTOL * want
            if np.all(same) and np.abs(bq).max(initial=0) <= BIAS_LIMIT:
                return np.ascontiguousarray(bq.astype(np.int32))
        bias = np.asarray(node.params["bias"], np.float64)
        bq = np.rint(bias / want)
        if np.abs(bq).max(initial=0) > BIAS_LIMIT:
            raise _refuse(m, f"its bias needs more than {BIAS_LIMIT:,} steps of x_scale * w_scale: "
                             "the int32 accumulator would overflow")
        return bq.astype(np.int32)

    def gated_table(self, node: Node, gate: str, qp: dict[str, tuple[float, int]]) -> np.ndarray:
        """x * Q(gate(x)): the gate's table on its own grid, then the product rounded as QuantizeLinear does."""
        (sx, zx), (sy, zy) = qp[node.inputs[0]], qp[node.outputs[0]]
        g = self.strip.grids[gate]
        tg = make_table(_GATES[node.attrs["func"]], sx, zx, g.scale, g.zero_point).astype(np.float32)
        q = np.arange(INT8_MIN, INT8_MAX + 1, dtype=np.float32)
        x = (q - np.float32(zx)) * np.float32(sx)
        prod = x * ((tg - np.float32(g.zero_point)) * np.float32(g.scale))
        y = np.rint(prod / np.float32(sy)) + zy
        return np.clip(y, INT8_MIN, INT8_MAX).astype(np.int8)

    def build(self) -> Graph:
        gates = self.gates()
        qp = self.qparams(gates)
        self.check_shared(qp)
        nodes = []
        for n in self.graph.nodes:
            weights = self.weights(n, qp[n.inputs[0]][0]) if n.op in _WEIGHTED else None
            q = quantize_node(self.graph, n, qp, weights)
            if n.name in gates:
                q.params["table"] = self.gated_table(n, gates[n.name], qp)
            nodes.append(q)
        tensors = {k: dataclasses.replace(t, dtype="int8", scale=qp[k][0], zero_point=qp[k][1])
                   for k, t in self.graph.tensors.items()}
        g = Graph(name=self.graph.name, tensors=tensors, nodes=nodes, inputs=list(self.graph.inputs),
                  outputs=list(self.graph.outputs), meta=dict(self.graph.meta, calibration=CALIBRATION,
                                                              num_calibration=0))
        g.validate()
        return g


# ------------------------------------------------------------------ entry points

def import_qdq_model(model: onnx.ModelProto, name: str = "model", where: str | None = None) -> tuple[Graph, Graph]:
    """(float graph, int8 graph) of an in-memory QDQ model; refusals are one-line UserErrors.

    The float graph is the model with its weights dequantized and no activation
    rounding; the int8 graph carries the model's own grids."""
    where = where or f"ONNX model '{name}'"
    opset = fi._default_opset(model, where)
    for node in model.graph.node:
        if node.op_type.startswith("QLinear") or node.op_type in fi._QDQ_OPS - {_Q, _DQ}:
            raise _refuse(node, "an integer-op model: mbmicro reads QDQ models (QuantizeLinear / "
                                "DequantizeLinear around float ops; quantize_static(quant_format=QuantFormat.QDQ))")
    fi._check(model, where)
    strip = _Stripper(model)
    stripped = strip.strip()
    x = fi._check_io(stripped, where)
    folded = fi._fold_constants(stripped, where)
    imp = _TrackingImporter(folded, opset, fi._shapes(folded), where)
    float_graph = imp.run(x)
    float_graph.name = name
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    float_graph.meta = {"model": name, "opset": opset, "producer": producer, "format": "qdq"}
    return float_graph, _Int8Builder(float_graph, imp, strip).build()


def import_file(path: str | Path) -> tuple[Graph, Graph | None]:
    """Read an .onnx file: (float graph, None) for a float model, (float, int8) for a QDQ one.

    Why one reader for both: the file is parsed once, and whether it is QDQ
    is a property of its nodes, not of its name."""
    model, sha256 = fi.load_model(path)
    source = {"file": Path(path).name, "sha256": sha256}
    if not is_qdq(model):
        graph = fi.import_model(model, file_model_name(path), where=f"model file {path}")
        graph.meta["source"] = source
        return graph, None
    float_graph, int8_graph = import_qdq_model(model, file_model_name(path), where=f"model file {path}")
    float_graph.meta["source"] = source
    int8_graph.meta["source"] = source
    return float_graph, int8_graph
