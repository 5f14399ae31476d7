"""Memory budgets: what a build needs in SRAM and flash, checked against the board.

Why here and not after the build: a model that cannot fit the board is a user
mistake, so ``build`` refuses it with one line (bytes needed, bytes available,
what to change) before anything is written, instead of warning after a long
compile.  The same budgets are rendered into the target's linker script
(codegen/link_script.py), so what links in QEMU also fits the real part.

Two needs are kept apart (docs/REPORT.md).  The model's own: SRAM = arena +
its input and output buffers (outside the arena unless --io-in-arena) + its
static data + its stack (the compiler's worst call chain); flash = weights +
code + its constants, all measured from its compiled objects
(codegen/model_memory.py).  The test program's, which its linker script must
hold and the fit check compares: the model's without its stack + stack + heap
(target.json, reserved by the linker script; the model's stack runs inside
that stack) + ``runtime_sram_bytes`` (target.json: newlib's .data/.bss and the
harness's own variables, measured once from a linked image); flash = the
model's + ``runtime_flash_bytes`` (newlib, start-up and harness code).

The check runs twice: from the layer shapes alone before the model is even
built (:func:`check_estimate`, lower bounds of arena and weights, so a model
far too large is refused in milliseconds, not after minutes of quantizing and
lowering), and with the exact numbers once it is lowered and compiled.
"""

from __future__ import annotations

import dataclasses

from mbmicro.errors import UserError
from mbmicro.graph.fusion import family_of
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


def requirements(target: Target, arena: int, io: int, weights: int, code: int | None, *,
                 constants: int = 0, static: int = 0, model_stack: int | None = None) -> dict:
    """SRAM and flash needed on ``target``: the model's own, and the test program's, with their parts.

    The model's (``model_*``): SRAM = arena + input/output + its static data + its stack,
    flash = weights + code + its constants; ``code``/``model_stack`` None = not measured
    (no compiler), and the sums then hold only what is known (``measured`` False).
    The test program's (``sram_needed_bytes``, ``flash_needed_bytes``: what its linker
    script must hold and the fit check compares) = the model's without its stack, plus the
    target's reserve: the model's stack runs inside the program's stack allowance.
    """
    r = reserve(target)
    program_sram = r["stack_bytes"] + r["heap_bytes"] + r["runtime_sram_bytes"]
    model_flash = weights + constants + (code or 0)
    return {
        "measured": code is not None,
        "arena_bytes": arena, "io_bytes": io, "model_static_bytes": static, "model_stack_bytes": model_stack,
        "model_sram_bytes": arena + io + static + (model_stack or 0),
        "program_stack_bytes": r["stack_bytes"], "runtime_sram_bytes": program_sram,
        "sram_needed_bytes": arena + io + static + program_sram, "sram_budget_bytes": target.sram_bytes,
        "weights_bytes": weights, "code_bytes": code, "model_constants_bytes": constants,
        "model_flash_bytes": model_flash, "runtime_flash_bytes": r["runtime_flash_bytes"],
        "flash_needed_bytes": model_flash + r["runtime_flash_bytes"], "flash_budget_bytes": target.flash_bytes,
    }


def check(need: dict, target: Target, model: str, at_least: bool = False,
          code_missing: str = "not measured") -> None:
    """Refuse (UserError, one line) a model whose SRAM, stack or flash need exceeds the budget.

    ``at_least``: the arena and weights in ``need`` are lower bounds (the
    up-front estimate, :func:`check_estimate`), and the message says so.  A code
    size that was not measured (``code_bytes`` None) is left out, never guessed:
    the flash need is then a lower bound too, and the message says why (``code_missing``:
    "not measured" without a compiler, "not yet compiled" before the compile).
    """
    least, more = ("at least ", " or more") if at_least else ("", "")
    if need["sram_needed_bytes"] > need["sram_budget_bytes"]:
        static = f" + static data {need['model_static_bytes']:,}" if need.get("model_static_bytes") else ""
        raise UserError(
            f"{model} does not fit {target.name}: needs {need['sram_needed_bytes']:,} B SRAM{more} (arena "
            f"{least}{need['arena_bytes']:,} + input/output {need['io_bytes']:,}{static} + stack/heap/runtime "
            f"{need['runtime_sram_bytes']:,}) but {need['sram_budget_bytes']:,} B are available: "
            f"try a smaller --width or --resolution, or a larger --sram")
    stack, program_stack = need.get("model_stack_bytes"), need.get("program_stack_bytes")
    if stack is not None and program_stack and stack > program_stack:  # 0: the target reserves none (host)
        raise UserError(
            f"{model} does not fit {target.name}: its worst call chain needs {stack:,} B of stack (gcc "
            f"-fstack-usage) but the test program's stack is {need['program_stack_bytes']:,} B (stack_bytes in "
            f"targets/{target.name}/target.json): try a smaller --width (the kernels keep scratch on the stack)")
    if need["flash_needed_bytes"] > need["flash_budget_bytes"]:
        known = need["code_bytes"] is not None
        code = f"code {need['code_bytes']:,}" if known else f"code {code_missing}"
        more = more or ("" if known else " or more")
        consts = f" + constants {need['model_constants_bytes']:,}" if need.get("model_constants_bytes") else ""
        raise UserError(
            f"{model} does not fit {target.name}: needs {need['flash_needed_bytes']:,} B flash{more} (weights "
            f"{least}{need['weights_bytes']:,} + {code}{consts} + runtime {need['runtime_flash_bytes']:,}) but "
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
    est = estimate(cfg, io_in_arena, memory, family_of(target.features))
    need = requirements(target, est.arena_bytes, est.io_bytes, est.weights_bytes, None)
    check(need, target, cfg.model, at_least=True, code_missing="not yet compiled")
    return need
