"""Target descriptions: one folder per target under ``targets/`` (shipped as
``mbmicro.targets``), each with a ``target.json``.

Why data and not code: a new core or board is a new folder (compiler, flags,
memory map, simulator), not new logic; everything that differs between
targets is read from here.

Two kinds of folder (docs/BOARDS.md):

* a **core** (``cortex-m4``, ``cortex-a53``, ``host``, ...): compiler, flags,
  features, kernels, cycles table, a simulator, and the budgets of one
  typical board;
* a **board** (``"kind": "board"``, e.g. ``netduinoplus2``): names the core
  it uses (``"core"``) and adds a ``"board"`` block (MCU, clock, memory map,
  console UART, probe, QEMU machine, deployment).  The loader merges the
  core's target.json under the board's own keys, so a board builds exactly
  like its core unless it says otherwise; its SRAM/flash budgets default to
  the lengths of its ``sram`` and ``flash`` memory regions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from mbmicro.errors import UserError

#: Keys that are Target fields; every other target.json key lands in Target.extra.
_FIELDS = {"name", "description", "board", "sram_bytes", "flash_bytes", "cc", "cflags",
           "ldflags", "features", "tvm_target", "simulator", "kind"}
#: Keys a board's "board" block must have (docs/BOARDS.md).
_BOARD_KEYS = ("title", "mcu", "vendor", "clock_hz", "clock_note", "memory", "console", "probe", "qemu",
               "deploy")
_DEPLOY = ("mcu", "linux-ssh")


@dataclass(frozen=True)
class Region:
    """One memory region of a board: where it starts and how many bytes it has."""

    origin: int
    length: int

    @property
    def end(self) -> int:
        return self.origin + self.length


@dataclass(frozen=True)
class Board:
    """The ``"board"`` block of a board's target.json (docs/BOARDS.md).

    ``memory`` maps region names to :class:`Region`; ``flash`` and ``sram``
    always exist on an MCU board (weights and code go to ``flash``, the arena
    and the stack to ``sram``; ``vectors``, when present, is where the core
    fetches its vector table at reset if that is not the start of ``flash``).
    ``console`` (driver, instance, base, baud, pins), ``probe`` (openocd
    arguments, pyocd target name) and ``qemu`` (``{"machine": ...}``) are
    dicts as written, or None when the board has none.
    """

    title: str
    mcu: str
    vendor: str
    clock_hz: int
    clock_note: str
    memory: dict[str, Region]
    console: dict[str, Any] | None
    probe: dict[str, Any] | None
    qemu: dict[str, Any] | None
    deploy: str

    @property
    def qemu_machine(self) -> str | None:
        """The QEMU machine that models this board, or None (then its core's simulator is used)."""
        return (self.qemu or {}).get("machine")


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    board_name: str
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
    kind: str = "core"
    core: str = ""
    board: Board | None = None
    core_folder: Path | None = None

    @property
    def is_host(self) -> bool:
        return self.simulator.get("kind") == "native"

    @property
    def is_board(self) -> bool:
        return self.board is not None


def targets_root() -> Path:
    return Path(str(resources.files("mbmicro.targets")))


def target_names() -> list[str]:
    """Every target folder, cores and boards: what --target accepts."""
    root = targets_root()
    return sorted(p.name for p in root.iterdir() if (p / "target.json").is_file())


def _kind(name: str) -> str:
    return str(_read(name).get("kind", "core"))


def core_names() -> list[str]:
    """The core folders ('mbmicro targets')."""
    return [n for n in target_names() if _kind(n) != "board"]


def board_names() -> list[str]:
    """The board folders ('mbmicro boards')."""
    return [n for n in target_names() if _kind(n) == "board"]


def _read(name: str) -> dict[str, Any]:
    path = targets_root() / name / "target.json"
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"targets/{name}/target.json is not valid JSON ({exc}): fix it") from None
    if not isinstance(data, dict):
        raise UserError(f"targets/{name}/target.json is not a JSON object: fix it")
    return data


def load_target(name: str) -> Target:
    """Load ``targets/<name>/target.json`` (a core or a board); unknown names are a UserError."""
    names = target_names()
    if name not in names:
        raise UserError(f"unknown target '{name}': choose a core ({', '.join(core_names())}) "
                        f"or a board ({', '.join(board_names())}); see 'mbmicro targets' and 'mbmicro boards'")
    data = _read(name)
    folder = targets_root() / name
    if data.get("kind") == "board":
        return _load_board(name, data, folder)
    return _make(data, folder, folder, kind=str(data.get("kind", "core")), board=None,
                 board_name=str(data["board"]))


def _make(data: dict[str, Any], folder: Path, core_folder: Path, *, kind: str, board: Board | None,
          board_name: str) -> Target:
    return Target(
        name=data["name"],
        description=data["description"],
        board_name=board_name,
        sram_bytes=int(data["sram_bytes"]),
        flash_bytes=int(data["flash_bytes"]),
        cc=data["cc"],
        cflags=tuple(data["cflags"]),
        ldflags=tuple(data["ldflags"]),
        features=tuple(data["features"]),
        tvm_target=dict(data["tvm_target"]),
        simulator=dict(data["simulator"]),
        folder=folder,
        extra={k: v for k, v in data.items() if k not in _FIELDS},
        kind=kind,
        core=str(data.get("core", data["name"])),
        board=board,
        core_folder=core_folder,
    )


def _load_board(name: str, data: dict[str, Any], folder: Path) -> Target:
    """A board: its core's target.json with the board's keys on top (docs/BOARDS.md)."""
    where = f"targets/{name}/target.json"
    core = data.get("core")
    if not isinstance(core, str) or core not in target_names() or _kind(core) == "board":
        raise UserError(f"{where}: \"core\" must name a core folder ({', '.join(core_names())}): fix it")
    board = _parse_board(data.get("board"), where)
    base = _read(core)
    # the core's files are named relative to the core folder: name them from the board folder
    base["files"] = [_rebase(f, core) for f in base.get("files", [])]
    merged = {**base, **{k: v for k, v in data.items() if k not in ("board", "kind")}}
    if board.deploy == "mcu":
        for key, region in (("sram_bytes", "sram"), ("flash_bytes", "flash")):
            if key not in data:  # budgets from the board's memory map
                merged[key] = board.memory[region].length
    merged["name"] = name
    if board.qemu_machine and "simulator" not in data:
        merged["simulator"] = _with_machine(base["simulator"], board.qemu_machine)
    return _make(merged, folder, targets_root() / core, kind="board", board=board,
                 board_name=f"{board.title} ({board.mcu})")


def _rebase(path: str, core: str) -> str:
    """A file named in targets/<core>/target.json, named from a sibling board folder."""
    return path if path.startswith("../") else f"../{core}/{path}"


def _with_machine(simulator: dict[str, Any], machine: str) -> dict[str, Any]:
    """The core's QEMU command with ``-M <machine>`` replaced by the board's machine."""
    args = list(simulator.get("args", []))
    if "-M" in args:
        args[args.index("-M") + 1] = machine
    else:
        args = ["-M", machine, *args]
    return {**simulator, "args": args}


def _parse_board(block: Any, where: str) -> Board:
    """Check and convert a board block; a missing or malformed key names itself."""
    if not isinstance(block, dict):
        raise UserError(f"{where}: a board needs a \"board\" object (docs/BOARDS.md): fix it")
    missing = [k for k in _BOARD_KEYS if k not in block]
    if missing:
        raise UserError(f"{where}: the \"board\" object lacks {', '.join(missing)} (docs/BOARDS.md): fix it")
    if block["deploy"] not in _DEPLOY:
        raise UserError(f"{where}: \"deploy\" must be one of {', '.join(_DEPLOY)}: fix it")
    memory = {}
    for region, spec in dict(block["memory"]).items():
        try:
            memory[region] = Region(int(spec["origin"]), int(spec["length"]))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: memory region {region!r} needs integer \"origin\" and \"length\": "
                            "fix it") from None
    if block["deploy"] == "mcu" and not {"flash", "sram"} <= set(memory):
        raise UserError(f"{where}: an MCU board's memory needs \"flash\" and \"sram\" regions: fix it")
    return Board(title=str(block["title"]), mcu=str(block["mcu"]), vendor=str(block["vendor"]),
                 clock_hz=int(block["clock_hz"]), clock_note=str(block["clock_note"]), memory=memory,
                 console=block["console"], probe=block["probe"], qemu=block["qemu"],
                 deploy=str(block["deploy"]))
