"""Memory budgets: what a build needs in SRAM and flash, checked against the board.

Why here and not after the build: a model that cannot fit the board is a user
mistake, so ``build`` refuses it with one line (bytes needed, bytes available,
what to change) before anything is written, instead of warning after a long
compile.  The same budgets are rendered into the target's linker script
(codegen/link_script.py), so what links in QEMU also fits the real part.

SRAM needed = arena + the model's input and output buffers (held by the
harness, outside the arena) + stack + heap (target.json, reserved by the
linker script) + ``runtime_sram_bytes`` (target.json: newlib's .data/.bss and
the harness's own variables, measured once from a linked image, see
docs/TARGETS.md).  Flash needed = weights + model code + ``runtime_flash_bytes``
(newlib, start-up and harness code, measured the same way).

The check runs twice: from the layer shapes alone before the model is even
built (:func:`check_estimate`, lower bounds of arena and weights, so a model
far too large is refused in milliseconds, not after minutes of quantizing and
lowering), and with the exact numbers once it is lowered and compiled.
"""

from __future__ import annotations

import dataclasses

from mbmicro.errors import UserError
from mbmicro.models.estimate import estimate
from mbmicro.models.options import ModelConfig
from mbmicro.targets.target import Target


def with_budgets(target: Target, sram: int | None = None, flash: int | None = None) -> Target:
    """``target`` with its SRAM/flash budgets replaced (None keeps target.json's)."""
    changes = {k: v for k, v in (("sram_bytes", sram), ("flash_bytes", flash)) if v is not None}
    return dataclasses.replace(target, **changes) if changes else target


def reserve(target: Target) -> dict[str, int]:
    """Bytes the target's runtime takes besides the model (0 where target.json has no entry)."""
    keys = ("stack_bytes", "heap_bytes", "runtime_sram_bytes", "runtime_flash_bytes")
    return {k: int(target.extra.get(k, 0)) for k in keys}


def requirements(target: Target, arena: int, io: int, weights: int, code: int) -> dict[str, int]:
    """SRAM and flash needed by a model on ``target``, with the parts they add up from."""
    r = reserve(target)
    sram_runtime = r["stack_bytes"] + r["heap_bytes"] + r["runtime_sram_bytes"]
    return {
        "arena_bytes": arena, "io_bytes": io, "runtime_sram_bytes": sram_runtime,
        "sram_needed_bytes": arena + io + sram_runtime, "sram_budget_bytes": target.sram_bytes,
        "weights_bytes": weights, "code_bytes": code, "runtime_flash_bytes": r["runtime_flash_bytes"],
        "flash_needed_bytes": weights + code + r["runtime_flash_bytes"], "flash_budget_bytes": target.flash_bytes,
    }


def check(need: dict[str, int], target: Target, model: str, code_known: bool, at_least: bool = False) -> None:
    """Refuse (UserError, one line) a model whose SRAM or flash need exceeds the budget.

    ``at_least``: the arena and weights in ``need`` are lower bounds (the
    up-front estimate, :func:`check_estimate`), and the message says so.
    """
    least, more = ("at least ", " or more") if at_least else ("", "")
    if need["sram_needed_bytes"] > need["sram_budget_bytes"]:
        raise UserError(
            f"{model} does not fit {target.name}: needs {need['sram_needed_bytes']:,} B SRAM{more} (arena "
            f"{least}{need['arena_bytes']:,} + input/output {need['io_bytes']:,} + stack/heap/runtime "
            f"{need['runtime_sram_bytes']:,}) but {need['sram_budget_bytes']:,} B are available: "
            f"try a smaller --width or --resolution, or a larger --sram")
    if need["flash_needed_bytes"] > need["flash_budget_bytes"]:
        code = f"code {need['code_bytes']:,}" if code_known else "code not yet compiled"
        raise UserError(
            f"{model} does not fit {target.name}: needs {need['flash_needed_bytes']:,} B flash{more} (weights "
            f"{least}{need['weights_bytes']:,} + {code} + runtime {need['runtime_flash_bytes']:,}) but "
            f"{need['flash_budget_bytes']:,} B are available: try a smaller --width or --resolution, "
            f"or a larger --flash")


def check_estimate(target: Target, cfg: ModelConfig, io_in_arena: bool = False,
                   memory: str = "fast") -> dict[str, int]:
    """Refuse, before anything is built, a model whose lower bounds already exceed the budgets.

    Why lower bounds (mbmicro.models.estimate): a refusal here must never turn
    away a model that would fit, so the exact check after the build stays.
    Returns the estimated requirements (empty for a model file: the estimate
    reads Table A, and an imported model is checked exactly once lowered).
    ``memory``: the ``build --memory`` mode (fused regions lower the arena).
    """
    if cfg.file is not None:
        return {}
    est = estimate(cfg, io_in_arena, memory)
    need = requirements(target, est.arena_bytes, est.io_bytes, est.weights_bytes, 0)
    check(need, target, cfg.model, code_known=False, at_least=True)
    return need
