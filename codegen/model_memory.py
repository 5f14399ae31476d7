"""The model's own flash and static SRAM, measured from its compiled objects.

Why from the objects: weights, code, the compiler's constants and any static
variable of the model are exactly the sections of ``<prefix>_model.o``,
``<prefix>_kernels.o`` and ``<prefix>_weights.o`` (read with pyelftools,
mbmicro.formats.elf), whatever the kernels look like.  The test program around
the model (mbmicro_main.c, start-up, newlib) is not in them: its needs are the
target's allowances (targets/budgets.py ``reserve``), listed apart.

No estimate: without the target's compiler nothing is measured and every
figure is ``None`` with the reason, so the fit check (targets/budgets.py) uses
only what is known and says so, never a guessed code size.  The objects stay
in the folder: ``make`` links them later instead of compiling the (large)
kernels file a second time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mbmicro.codegen import stack
from mbmicro.codegen.stack import StackNeed
from mbmicro.formats import elf
from mbmicro.processes import run_child


@dataclass(frozen=True)
class ModelObjects:
    """Bytes of the model's objects by kind; ``None`` everywhere when they could not be compiled."""

    code: int | None           #: .text of all model objects
    weights: int | None        #: read-only data + data of <prefix>_weights.o
    constants: int | None      #: .rodata/.data of the model and kernel objects (tables, literals)
    static_ram: int | None     #: .data + .bss of all model objects, without the static arena
    static_arena: int          #: the static arena's bytes found in .bss (0: none, or not measured)
    method: str
    stack: StackNeed

    @property
    def measured(self) -> bool:
        return self.code is not None

    @property
    def flash(self) -> int | None:
        """What the model stores in flash: code, weights, constants and .data's initial values."""
        return None if self.code is None else self.code + self.weights + self.constants


def object_names(prefix: str) -> list[str]:
    """The model's objects, as the build folder's Makefile names them (its MODEL_OBJS)."""
    return [f"{prefix}_model.o", f"{prefix}_kernels.o", f"{prefix}_weights.o"]


def from_objects(folder: Path, prefix: str, stack_need: StackNeed) -> ModelObjects:
    """Read the compiled model objects in ``folder``."""
    names = object_names(prefix)
    model, kernels, weights = (elf.sizes(folder / n) for n in names)
    arena = elf.symbols(folder / names[0]).get(f"{prefix}_arena")
    static_arena = arena.size if arena is not None and arena.section.startswith(".bss") else 0
    code_side = model + kernels
    return ModelObjects(
        code=code_side.text + weights.text, weights=weights.rodata + weights.data,
        constants=code_side.rodata + code_side.data,
        static_ram=code_side.ram + weights.ram - static_arena, static_arena=static_arena,
        method=f"measured: ELF sections (pyelftools) of {' + '.join(names)}", stack=stack_need)


def measure(folder: Path, program) -> ModelObjects:
    """Compile the model's objects in ``folder`` (``make objects``) and measure them and their stack.

    They are compiled with gcc's stack-usage flags (they change no code), so the
    model's worst call chain is measured too (mbmicro.codegen.stack); a compiler
    without them compiles the objects again without, and the stack is "not measured".
    """
    cc = program.target.cc
    if not (shutil.which(cc) and shutil.which("make")):
        why = f"not measured: {cc if not shutil.which(cc) else 'make'} is not installed"
        return ModelObjects(None, None, None, None, 0, why, StackNeed(None, why))
    names = object_names(program.prefix)
    made = run_child(["make", "-s", "objects", f"STACK_FLAGS={stack.STACK_FLAGS}"], cwd=folder, text=True)
    if made.returncode == 0:
        need = stack.measure(folder, names, program.prefix)
    else:
        made = run_child(["make", "-s", "objects"], cwd=folder, text=True)
        need = StackNeed(None, f"not measured: {cc} does not take {stack.STACK_FLAGS}")
    if made.returncode != 0:
        raise RuntimeError(f"generated C does not compile for {program.target.name}:\n{made.stderr[-4000:]}")
    return from_objects(folder, program.prefix, need)
