"""The report's plots as PNG bytes: the arena over time, and instructions/cycles per layer.

Why PNG from matplotlib's Agg canvas, drawn from report.json alone: the plots
go beside report.md and inside report.html (base64), both in build folders
that must stay byte-identical from one identical build to the next. So: no
pyplot (no global figure state, no display), matplotlib's default style (a
user's matplotlibrc changes nothing), fixed size and dpi, and no
"Software"/date metadata in the file. ``build`` draws the arena;
``profile`` adds the per-layer counts.
"""

from __future__ import annotations

import io

#: Pixels per inch of every plot; with the figure sizes below, about 1100 px wide.
DPI = 110
_WIDTH_IN = 10.0
#: A buffer at least this share of the peak gets a label (name and bytes) in the arena plot.
_LABEL_SHARE = 0.04
#: Rough size of the arena plot's axes in pixels, and of a 7-point label's character and line:
#: a label is drawn only where it fits inside its box.
_AXES_PX = (0.90 * _WIDTH_IN * DPI, 0.81 * 5.0 * DPI)
_CHAR_PX, _LINE_PX = 5.8, 10.5


def _png(draw, height_in: float, layout: str | None = "constrained") -> bytes:
    """Run ``draw(fig)`` on a fresh figure in matplotlib's default style; the PNG's bytes.
    ``layout`` None: the figure's fixed margins (faster; for the plot every build draws)."""
    import matplotlib.style
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.style.context("default"):
        fig = Figure(figsize=(_WIDTH_IN, height_in), dpi=DPI, layout=layout)
        FigureCanvasAgg(fig)
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _colours() -> list[str]:
    """The default style's colour cycle (set by :func:`_png`'s style context)."""
    import matplotlib

    return [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]


def _bytes_axis(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))


def _short(name: str, n: int = 22) -> str:
    return name if len(name) <= n else name[:n - 1] + "\u2026"


def _label(buffer: dict) -> str:
    more = len(buffer.get("tensors", ())) - 1
    return f"{_short(buffer['tensor'])}{f' +{more}' if more > 0 else ''}\n{buffer['bytes']:,} B"


def _label_rotation(width_px: float, height_px: float, buffer: dict) -> int | None:
    """0 if the label fits across the box, 90 if it fits upright, None if neither (no label)."""
    long_px = _CHAR_PX * max(len(line) for line in _label(buffer).splitlines())
    if width_px >= long_px and height_px >= 2.4 * _LINE_PX:
        return 0
    if height_px >= long_px and width_px >= 2.4 * _LINE_PX:
        return 90
    return None


def arena_png(report: dict) -> bytes:
    """x = step (layer), y = arena offset: one rectangle per buffer from the step that writes it
    to its last reader; kernel scratch (fused rings too) hatched; large buffers labelled."""
    plan = report["arena_plan"]
    steps = max(len(report["layers"]), 1)

    def draw(fig) -> None:
        from matplotlib.patches import Patch, Rectangle

        fig.subplots_adjust(left=0.08, right=0.98, bottom=0.11, top=0.92)
        ax = fig.add_subplot()
        colours = _colours()
        peak = plan["peak"]
        px_step = _AXES_PX[0] / steps
        px_byte = _AXES_PX[1] / max(peak, 1)
        for i, b in enumerate(plan["buffers"]):
            x, w = b["first"] - 0.45, b["last"] - b["first"] + 0.9
            ax.add_patch(Rectangle((x, b["offset"]), w, b["bytes"], facecolor=colours[i % len(colours)],
                                   edgecolor="black", linewidth=0.5, alpha=0.85))
            rotation = _label_rotation(w * px_step, b["bytes"] * px_byte, b)
            if peak and b["bytes"] >= _LABEL_SHARE * peak and rotation is not None:
                ax.text(x + w / 2, b["offset"] + b["bytes"] / 2, _label(b), rotation=rotation,
                        ha="center", va="center", fontsize=7, clip_on=True)
        for s in plan["scratch"]:
            ax.add_patch(Rectangle((s["step"] - 0.45, s["offset"]), 0.9, s["bytes"], facecolor="white",
                                   edgecolor="dimgray", hatch="///", linewidth=0.5))
        ax.set_xlim(-0.7, steps - 0.3)
        ax.set_ylim(0, max(peak, 1) * 1.04)
        if peak:
            ax.axhline(peak, color="black", linestyle="--", linewidth=0.8)
        else:
            ax.text(steps / 2, 0.5, "empty arena: every tensor is the caller's input or output",
                    ha="center", va="center")
        _bytes_axis(ax)
        ax.set_xlabel("step (layer index)")
        ax.set_ylabel("arena offset (bytes)")
        ax.set_title(f"{report['model_name']} on {report['target']}: arena {peak:,} B "
                     f"(lower bound {report['arena_lower_bound']:,} B), one box per buffer lifetime")
        if plan["scratch"]:
            ax.legend(handles=[Patch(facecolor="white", edgecolor="dimgray", hatch="///", label="kernel scratch")],
                      loc="upper right", fontsize=8)

    return _png(draw, 5.0, layout=None)


#: The profile plot's panels, top to bottom, for the counts the report has.
_PANELS = (("instructions", "executed instructions (QEMU, all-zero input)"),
           ("estimated_cycles", "estimated cycles (instruction mix x cycles per class: not measured)"),
           ("cycles", "cycles measured on the device (DWT CYCCNT, all-zero input)"))


def profile_png(report: dict) -> bytes:
    """Instructions per layer (and estimated cycles, when the core has a cycle table), or cycles
    measured on a board, as bars coloured by op; needs the report of a profiled build
    (codegen.report_layers.with_profile)."""
    layers = report["layers"]
    ops = list(dict.fromkeys(x["op"] for x in layers))
    panels = [(key, title) for key, title in _PANELS if key in report["profile"]["total"]]

    def draw(fig) -> None:
        from matplotlib.patches import Patch

        colours = _colours()
        colour = {op: colours[i % len(colours)] for i, op in enumerate(ops)}
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        xs = list(range(len(layers)))
        for ax, (key, title) in zip(axes, panels):
            ax.bar(xs, [x[key] or 0 for x in layers], color=[colour[x["op"]] for x in layers], width=0.8)
            _bytes_axis(ax)
            ax.set_title(f"{report['model_name']} on {report['profile']['target']}: {title}", fontsize=10)
            ax.set_ylabel(key.replace("_", " "))
        axes[-1].set_xlabel("layer index")
        axes[-1].set_xlim(-0.7, len(layers) - 0.3)
        fig.legend(handles=[Patch(facecolor=colour[op], label=op) for op in ops], fontsize=8,
                   loc="outside upper center", ncols=min(len(ops), 6))

    return _png(draw, 3.2 + 2.6 * len(panels))
