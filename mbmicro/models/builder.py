"""Build the float Graph of a Table A model with deterministic weights.

Why two steps: the structure comes from Table A (mbmicro/models/specs.py) plus the
per-model details (mbmicro/models/details.py); the weights are He-initialised
and then "BatchNorm-folded" from data: one forward pass over a fixed, seeded
batch of random images rescales every conv / depthwise / fully_connected so
that each output channel's pre-activation has a chosen std (1, or 0.5 for the
projection feeding a residual add, so sums do not grow) and a small seeded
mean (non-negative where a nonlinearity follows, see ACTIVATED_BETA).  An
untrained random network otherwise drifts to exploding or vanishing
activations with depth, which would make int8 quantization meaningless.

Block = [expand 1x1 + act] -> depthwise kxk/s + act -> [SE] -> project 1x1
(linear) -> [residual add].  relu/relu6 are fused into the producing node's
``act`` attr; other activations are separate ``act`` nodes.  Names are
readable and stable ("s2b1.expand", "s2b1.dw", "s2b1.se.gate", "head.conv",
"pool", "classifier"); a tensor has its producing node's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mbmicro.reference.float32 import activation, run_node
from mbmicro.graph.ir import Graph, Node, Tensor, conv_out_size, same_padding
from mbmicro.models.options import ModelConfig, check_options
from mbmicro.models.details import ModelDetails, get_details, split_channels
from mbmicro.models.specs import get_spec

FUSED_ACTS = ("none", "relu", "relu6")

#: The BN-folding batch (uniform [-1, 1], seeded) holds about this many
#: pixels, and between MIN and MAX images.  Why more images at low resolution:
#: the deep, spatially tiny layers then vary mostly from image to image, and
#: std estimates from 4 images drifted layer after layer (tensor stds up to
#: ~20 on unseen images at 96x96); ~30 images keep them near 1-2.
CALIBRATION_PIXELS = 6 * 224 * 224
MIN_CALIBRATION_IMAGES, MAX_CALIBRATION_IMAGES = 4, 128


def calibration_images(resolution: int) -> int:
    """Number of images in the BN-folding batch at this resolution."""
    wanted = -(-CALIBRATION_PIXELS // (resolution * resolution))
    return int(min(MAX_CALIBRATION_IMAGES, max(MIN_CALIBRATION_IMAGES, wanted)))
#: Pre-activation std of a projection whose output feeds a residual add.
RESIDUAL_BRANCH_STD = 0.5
#: Folded means (BN beta), as a fraction of the target std: uniform in
#: LINEAR_BETA for a linear output (projection, SE expand, classifier) and in
#: ACTIVATED_BETA for a pre-activation that feeds a nonlinearity (relu, relu6,
#: hswish, swish: stem, expansion, depthwise, SE reduce, head).
#:
#: Why non-negative before a nonlinearity: a normalised layer y = phi(h),
#: h ~ N(beta, 1), passes a small random perturbation of h with gain
#: sqrt(E[phi'(h)^2]) but keeps only std(phi(h)) of signal, and by the Gaussian
#: Poincare inequality std(phi(h)) <= sqrt(E[phi'(h)^2]) (equality only for a
#: linear phi).  So each normalised nonlinear layer amplifies noise relative to
#: signal by r(beta) = sqrt(E[phi'^2] / Var phi) >= 1; for ReLU r = 1.34, 1.21,
#: 1.12 at beta = -0.5, 0, +0.5 (hswish 1.15, 1.09, 1.05).  Compounded over the
#: ~30-50 nonlinear layers of these models, betas of +-0.5 made the random
#: networks chaotic: int8 rounding noise grew block by block until the int8 vs
#: float logit cosine of MobileNetV3-Large fell to 0.93 at width 0.35 / 96 px
#: (per-tensor int8 resolution was fine, 20-40 levels per std).  Betas in
#: [0, 0.5] keep most units on the near-linear side of the nonlinearity, so
#: the random networks are much less chaotic (docs/MODELS.md has the numbers).
LINEAR_BETA = (-0.5, 0.5)
ACTIVATED_BETA = (0.0, 0.5)


@dataclass(frozen=True)
class BlockChannels:
    """Channels of one Table A block at the built width."""

    #: expansion channels; None: no expansion conv (Table A's Exp == its input)
    exp: int | None
    out: int
    #: SE squeeze channels; None: no SE
    se: int | None


@dataclass(frozen=True)
class ChannelPlan:
    """Every channel count of a model at one width, before any graph is built.

    Why apart from the graph: width 1.0 must be Table A exactly, every other
    width must follow the family's reference code (details.WidthRule), and
    both are easiest to read, and to test against timm, as plain numbers.
    """

    stem: int
    #: per stage, per block (MobileNetV3's stage-7 conv: exp = se = None)
    blocks: list[list[BlockChannels]]
    head_conv: int | None
    head_fc: int | None


def channel_plan(model: str, width: float = 1.0) -> ChannelPlan:
    """The channels of ``model`` at ``width`` (see docs/MODELS.md, "Width"):
    Table A's numbers as printed at 1.0, :func:`scaled_plan` at other widths."""
    return _plan(model, width, exact=width == 1.0)


def scaled_plan(model: str, width: float) -> ChannelPlan:
    """The family's WidthRule applied at ``width``: stem and block outputs
    scaled (ReXNet: its linear schedule), each expansion = the rule's
    rounding of the *scaled* input times Table A's Exp / input ratio, SE
    squeezes from the scaled expansion, the head as the reference does.
    At 1.0 it gives Table A's numbers (tests/test_width_scaling.py), so
    1.0 is no special case of the rules, only of the code path."""
    return _plan(model, width, exact=False)


def _plan(model: str, width: float, exact: bool) -> ChannelPlan:
    """Table A's numbers where ``exact``, else the WidthRule's."""
    spec, d = get_spec(model), get_details(model)
    rule = d.width
    table = [b for stage in spec["stages"] for b in stage]
    outs = iter([b["out"] for b in table] if exact else rule.outs([b["out"] for b in table], width))
    stem = spec["stem"] if exact else rule.stem(spec["stem"], width)
    table_in, cin, stages = spec["stem"], stem, []
    for s, stage in enumerate(spec["stages"], start=1):
        row = []
        for block in stage:
            out = next(outs)
            if block["op"] == "conv":  # MobileNetV3's final 1x1 conv stage
                row.append(BlockChannels(None, out, None))
            else:
                exp = block["exp"] if exact else None
                row.append(_block_channels(d, s, block, table_in, cin, out, exp))
            table_in, cin = block["out"], out
        stages.append(row)

    def head(h: int | None) -> int | None:
        return h if h is None or exact else rule.head(h, width)

    return ChannelPlan(stem, stages, head(d.head_conv), head(d.head_fc[0] if d.head_fc else None))


def _block_channels(d: ModelDetails, stage: int, block: dict, table_in: int, cin: int, out: int,
                    exp: int | None) -> BlockChannels:
    """One MBConv block whose Table A input is ``table_in`` and built input ``cin``.

    ``exp``: the expansion to use (Table A's at width 1.0), None to apply the
    rule: Table A's ratio Exp / input times ``cin``, rounded by the family's
    ``mid`` rule (timm's ``make_divisible(in_chs * exp_ratio)``).  Whether
    there is an expansion conv at all is Table A's (Exp != input) at every width.
    """
    ratio = block["exp"] / table_in
    if block["exp"] == table_in:
        exp = None
    elif exp is None:
        exp = d.width.mid(cin, ratio)
    se = d.se_squeeze(stage, exp or cin, ratio) if block["se"] else None
    return BlockChannels(exp, out, se)


class _GraphWriter:
    """Appends nodes and tensors with He-initialised weights; remembers each
    weighted node's target std for the folding pass."""

    def __init__(self, resolution: int, rng: np.random.Generator):
        self.rng = rng
        self.tensors: dict[str, Tensor] = {"input": Tensor("input", (1, resolution, resolution, 3))}
        self.nodes: list[Node] = []
        self.target_std: dict[str, float] = {}
        #: weighted nodes whose pre-activation feeds a nonlinearity
        self.activated: set[str] = set()

    def shape(self, t: str) -> tuple[int, ...]:
        return self.tensors[t].shape

    def _node(self, name: str, op: str, inputs: list[str], shape: tuple[int, ...],
              attrs: dict | None = None, params: dict | None = None) -> str:
        self.nodes.append(Node(name, op, list(inputs), [name], attrs or {}, params or {}))
        self.tensors[name] = Tensor(name, tuple(int(s) for s in shape))
        return name

    def _he(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    def activate(self, t: str, func: str) -> str:
        """Fuse relu/relu6 into ``t``'s producer, else add an ``act`` node."""
        if func == "none":
            return t
        producer = self.nodes[-1]
        if func in FUSED_ACTS and producer.outputs[0] == t and "act" in producer.attrs:
            producer.attrs["act"] = func
            return t
        return self._node(f"{t}.act", "act", [t], self.shape(t), {"func": func})

    def conv(self, name: str, x: str, out: int, kernel: int, stride: int, act: str,
             groups: int = 1, target: float = 1.0) -> str:
        _, h, w, c = self.shape(x)
        pt, pb = same_padding(h, kernel, stride)
        pl, pr = same_padding(w, kernel, stride)
        weight = self._he((out, kernel, kernel, c // groups), kernel * kernel * c // groups)
        self._node(name, "conv2d", [x], (1, conv_out_size(h, stride), conv_out_size(w, stride), out),
                   {"kernel": (kernel, kernel), "stride": stride, "pad": (pt, pl, pb, pr),
                    "groups": groups, "act": "none"},
                   {"weight": weight, "bias": np.zeros(out, np.float32)})
        return self._fold_target(name, target, act)

    def depthwise(self, name: str, x: str, kernel: int, stride: int, act: str,
                  activated: bool | None = None) -> str:
        _, h, w, c = self.shape(x)
        pt, pb = same_padding(h, kernel, stride)
        pl, pr = same_padding(w, kernel, stride)
        self._node(name, "depthwise", [x], (1, conv_out_size(h, stride), conv_out_size(w, stride), c),
                   {"kernel": (kernel, kernel), "stride": stride, "pad": (pt, pl, pb, pr), "act": "none"},
                   {"weight": self._he((kernel, kernel, c), kernel * kernel),
                    "bias": np.zeros(c, np.float32)})
        return self._fold_target(name, 1.0, act, activated)

    def fc(self, name: str, x: str, out: int, act: str) -> str:
        c = self.shape(x)[3]
        self._node(name, "fully_connected", [x], (1, 1, 1, out), {"act": "none"},
                   {"weight": self._he((out, c), c), "bias": np.zeros(out, np.float32)})
        return self._fold_target(name, 1.0, act)

    def _fold_target(self, name: str, std: float, act: str, activated: bool | None = None) -> str:
        """Record the BN-fold target of weighted node ``name``, then activate it.
        ``activated``: whether a nonlinearity follows (default: act != "none")."""
        self.target_std[name] = std
        if activated is None:
            activated = act != "none"
        if activated:
            self.activated.add(name)
        return self.activate(name, act)

    def op(self, name: str, op: str, inputs: list[str], shape: tuple[int, ...],
           attrs: dict | None = None) -> str:
        return self._node(name, op, inputs, shape, attrs)


class _ShapeWriter(_GraphWriter):
    """The same walk with zero-stride placeholder weights: every node, tensor
    and parameter shape of the float graph, for no memory and no random draws
    (layer tables and the up-front size estimates, mbmicro/models/estimate.py)."""

    def __init__(self, resolution: int):
        super().__init__(resolution, rng=None)

    def _he(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return np.broadcast_to(np.float32(0.0), shape)


def _mixed_depthwise(g: _GraphWriter, name: str, x: str, kernels: list[int], stride: int,
                     act: str) -> str:
    """MixConv: split channels (remainder to the first group), one depthwise
    per kernel size, concat; then the block's activation."""
    if len(kernels) == 1:
        return g.depthwise(name, x, kernels[0], stride, act)
    _, h, w, c = g.shape(x)
    fused = act if act in FUSED_ACTS else "none"
    outs, begin = [], 0
    for i, (k, size) in enumerate(zip(kernels, split_channels(c, len(kernels)))):
        part = g.op(f"{name}.g{i}.slice", "slice", [x], (1, h, w, size),
                    {"begin": begin, "end": begin + size})
        outs.append(g.depthwise(f"{name}.g{i}", part, k, stride, fused, activated=act != "none"))
        begin += size
    oshape = (1, conv_out_size(h, stride), conv_out_size(w, stride), c)
    y = g.op(name, "concat", outs, oshape)
    return y if fused == act else g.activate(y, act)


def _squeeze_excite(g: _GraphWriter, d: ModelDetails, prefix: str, x: str, squeeze: int) -> str:
    c = g.shape(x)[3]
    pooled = g.op(f"{prefix}.se.pool", "global_avg_pool", [x], (1, 1, 1, c))
    s = g.fc(f"{prefix}.se.reduce", pooled, squeeze, d.se_act)
    e = g.fc(f"{prefix}.se.expand", s, c, "none")
    gate = g.op(f"{prefix}.se.gate", "act", [e], (1, 1, 1, c), {"func": d.se_gate})
    return g.op(f"{prefix}.se.mul", "mul", [x, gate], g.shape(x))


def _even(*counts: int) -> bool:
    return all(n % 2 == 0 for n in counts)


def _mbconv(g: _GraphWriter, d: ModelDetails, prefix: str, x: str, block: dict,
            ch: BlockChannels, stage: int, index: int) -> str:
    cin, out = g.shape(x)[3], ch.out
    expand_act, dw_act = d.block_acts(stage, block["se"])
    expand_groups, project_groups = d.groups(stage, index)
    h = x
    if ch.exp is not None:
        groups = expand_groups if _even(cin, ch.exp) else 1
        h = g.conv(f"{prefix}.expand", h, ch.exp, 1, 1, expand_act, groups=groups)
    h = _mixed_depthwise(g, f"{prefix}.dw", h, block["kernel"], block["stride"], dw_act)
    if ch.se is not None:
        h = _squeeze_excite(g, d, prefix, h, ch.se)
    stride1 = block["stride"] == 1
    residual = stride1 and (cin == out or (d.residual == "partial" and cin < out))
    groups = project_groups if _even(g.shape(h)[3], out) else 1
    y = g.conv(f"{prefix}.project", h, out, 1, 1, "none", groups=groups,
               target=RESIDUAL_BRANCH_STD if residual else 1.0)
    if residual:
        y = g.op(f"{prefix}.add", "add", [y, x], g.shape(y), {"act": "none"})
    return y


def _fold_batchnorm(graph: Graph, target_std: dict[str, float], activated: set[str],
                    seed: int) -> None:
    """Data-dependent BN fold: rescale each weighted node so its
    pre-activation has std ``target_std[name]`` and a seeded mean, drawn from
    ACTIVATED_BETA for the nodes in ``activated``, else from LINEAR_BETA."""
    r = graph.input.shape[1]
    batch = np.random.default_rng([seed, 1]).uniform(
        -1.0, 1.0, (calibration_images(r), r, r, 3)).astype(np.float32)
    betas = np.random.default_rng([seed, 2])
    last_use = {t: i for i, n in enumerate(graph.nodes) for t in n.inputs}
    values = {graph.inputs[0]: batch}
    for i, node in enumerate(graph.nodes):
        ins = [values[t] for t in node.inputs]
        if node.name in target_std:
            act = node.attrs["act"]
            node.attrs["act"] = "none"
            pre = run_node(node, ins)
            node.attrs["act"] = act
            flat = pre.reshape(-1, pre.shape[-1])
            mean = flat.mean(axis=0, dtype=np.float64)
            meansq = np.einsum("ij,ij->j", flat, flat, dtype=np.float64) / flat.shape[0]
            if node.op == "fully_connected":
                # After global pooling every random image looks alike: a
                # per-channel std over the batch is tiny and noisy, and so is
                # the value of a channel whose weights happen to be nearly
                # orthogonal to the (almost constant) input.  Normalising
                # either blows up on the next image, so an FC gets one scale:
                # the RMS over the batch and all its output channels.
                std = np.full(mean.shape, np.sqrt(meansq.mean()))
                mean = np.zeros_like(mean)
            else:
                std = np.sqrt(np.maximum(meansq - mean ** 2, 0.0))
            target = target_std[node.name]
            scale = np.where(std > 1e-6, target / np.maximum(std, 1e-30), 1.0)
            lo, hi = ACTIVATED_BETA if node.name in activated else LINEAR_BETA
            beta = target * betas.uniform(lo, hi, scale.shape)
            w = node.params["weight"].astype(np.float64)
            # output channels: axis 0 of conv2d/fully_connected, last axis of depthwise
            w = w * scale if node.op == "depthwise" else w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
            node.params["weight"] = w.astype(np.float32)
            node.params["bias"] = (beta - mean * scale).astype(np.float32)
            out = activation(pre * scale.astype(np.float32) + node.params["bias"], act)
        else:
            out = run_node(node, ins)
        values[node.outputs[0]] = out
        for t in set(node.inputs):
            if last_use[t] == i:
                del values[t]


def build_float_graph(model: str, width: float = 1.0, resolution: int = 224,
                      classes: int = 1000, seed: int = 0) -> Graph:
    """The float Graph of ``model`` (a name from specs.MODEL_NAMES).

    width 1.0 uses Table A's channels exactly; other widths scale them the
    way the family's reference code does (:func:`channel_plan`).  Weights
    depend only on the arguments.  Bad options raise UserError.
    """
    return build_from_config(check_options(model, width, resolution, classes, seed))


def build_from_config(cfg: ModelConfig) -> Graph:
    """The float Graph for already checked options (see :func:`build_float_graph`)."""
    g = _GraphWriter(cfg.resolution, np.random.default_rng([cfg.seed, 0]))
    graph = _layers(cfg, g)
    _fold_batchnorm(graph, g.target_std, g.activated, cfg.seed)
    return graph


def structure_from_config(cfg: ModelConfig) -> Graph:
    """The float graph's nodes, attributes and tensor shapes without its weights.

    Why: showing a model's layers or estimating its memory must not cost the
    weights (a 100,000-class classifier alone is gigabytes).  The parameters
    are read-only zero-stride arrays of the right shapes (``.size`` is the
    real parameter count, the memory is a few bytes), and nothing is folded.
    """
    return _layers(cfg, _ShapeWriter(cfg.resolution))


def _layers(cfg: ModelConfig, g: _GraphWriter) -> Graph:
    """Walk Table A, its channel plan and the model's details through writer ``g``:
    the validated, unfolded graph."""
    spec, d = get_spec(cfg.model), get_details(cfg.model)
    plan = channel_plan(cfg.model, cfg.width)
    x = g.conv("stem", "input", plan.stem, 3, 2, d.stem_act)
    for s, (stage, channels) in enumerate(zip(spec["stages"], plan.blocks), start=1):
        for b, (block, ch) in enumerate(zip(stage, channels), start=1):
            prefix = f"s{s}b{b}"
            if block["op"] == "conv":  # MobileNetV3's final 1x1 conv stage
                x = g.conv(f"{prefix}.conv", x, ch.out, block["kernel"][0], block["stride"],
                           d.conv_stage_act)
            else:
                x = _mbconv(g, d, prefix, x, block, ch, s, b)
    if plan.head_conv is not None:
        x = g.conv("head.conv", x, plan.head_conv, 1, 1, d.head_act)
    x = g.op("pool", "global_avg_pool", [x], (1, 1, 1, g.shape(x)[3]))
    if plan.head_fc is not None:
        x = g.fc("head.fc", x, plan.head_fc, d.head_fc[1])
    x = g.fc("classifier", x, cfg.classes, "none")

    graph = Graph(name=cfg.model, tensors=g.tensors, nodes=g.nodes, inputs=["input"], outputs=[x],
                  meta={"model": cfg.model, "width": cfg.width, "resolution": cfg.resolution,
                        "classes": cfg.classes, "seed": cfg.seed})
    graph.validate()
    return graph
