"""Target descriptions: one folder per target under ``targets/`` (shipped as
``mbmicro.targets``), each with a ``target.json``.

Why data and not code: a new core is a new folder (compiler, flags, memory
budgets, simulator), not new logic; everything that differs between targets
is read from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mbmicro.errors import UserError


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    board: str
    sram_bytes: int
    flash_bytes: int
    cc: str
    cflags: tuple[str, ...]
    ldflags: tuple[str, ...]
    features: tuple[str, ...]
    tvm_target: dict[str, Any]
    simulator: dict[str, Any]
    folder: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_host(self) -> bool:
        return self.simulator.get("kind") == "native"


def targets_root() -> Path:
    return Path(str(resources.files("mbmicro.targets")))


def target_names() -> list[str]:
    root = targets_root()
    return sorted(p.name for p in root.iterdir() if (p / "target.json").is_file())


def load_target(name: str) -> Target:
    """Load ``targets/<name>/target.json``; unknown names are a UserError."""
    names = target_names()
    if name not in names:
        raise UserError(f"unknown target '{name}': choose one of {', '.join(names)} (see 'mbmicro targets')")
    folder = targets_root() / name
    data = json.loads((folder / "target.json").read_text())
    known = {"name", "description", "board", "sram_bytes", "flash_bytes", "cc", "cflags",
             "ldflags", "features", "tvm_target", "simulator"}
    return Target(
        name=data["name"],
        description=data["description"],
        board=data["board"],
        sram_bytes=int(data["sram_bytes"]),
        flash_bytes=int(data["flash_bytes"]),
        cc=data["cc"],
        cflags=tuple(data["cflags"]),
        ldflags=tuple(data["ldflags"]),
        features=tuple(data["features"]),
        tvm_target=dict(data["tvm_target"]),
        simulator=dict(data["simulator"]),
        folder=folder,
        extra={k: v for k, v in data.items() if k not in known},
    )
