"""What an object file or linked ELF holds: section sizes by kind and symbol sizes/addresses.

Why pyelftools and not ``<cross>-size`` / ``<cross>-nm`` text: the numbers come
from the ELF headers themselves, the same for every toolchain (arm-none-eabi,
aarch64-linux-gnu, the host's), without a second tool to find on PATH or an
output format to parse.  Used by the build's report (the model's objects:
codegen/report.py), by QEMU profiling (the marker addresses: sim/qemu.py) and
by tests that check a linked image.

Kinds are those of GNU ``size``, with read-only data kept apart from code:
only sections that occupy memory at run time (SHF_ALLOC) count;
``bss`` = no file contents (SHT_NOBITS: .bss, .heap, .stack), ``text`` =
executable, ``data`` = writable, ``rodata`` = the rest (.rodata*, .ARM.exidx,
.eh_frame).  ``text + rodata`` is ``size``'s "text" column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.common.exceptions import ELFError

KINDS = ("text", "rodata", "data", "bss")


@dataclass(frozen=True)
class Symbol:
    """One defined symbol: its value (address in a linked image, offset in an object), size, type."""

    name: str
    address: int
    size: int
    kind: str      #: STT_FUNC, STT_OBJECT, ... (pyelftools' names)
    section: str   #: the section it is defined in


@dataclass(frozen=True)
class ElfSizes:
    """Bytes per kind (text, rodata, data, bss) and per allocated section of one ELF file."""

    text: int
    rodata: int
    data: int
    bss: int
    sections: dict[str, tuple[int, int]] = field(default_factory=dict)  #: name -> (size, address)

    def __add__(self, other: "ElfSizes") -> "ElfSizes":
        return ElfSizes(self.text + other.text, self.rodata + other.rodata, self.data + other.data,
                        self.bss + other.bss, {})

    @property
    def flash(self) -> int:
        """What a bare-metal image stores in flash: code, constants and .data's initial values."""
        return self.text + self.rodata + self.data

    @property
    def ram(self) -> int:
        """Static RAM: .data (copied there at start-up) and zero-initialised/reserved sections."""
        return self.data + self.bss


def _open(path: Path, stream):
    try:
        return ELFFile(stream)
    except ELFError as exc:
        raise ValueError(f"{path} is not an ELF file: {exc}") from exc


def kind_of(section) -> str | None:
    """The section's kind (one of KINDS), or None if it takes no memory at run time."""
    flags = section["sh_flags"]
    if not flags & SH_FLAGS.SHF_ALLOC or section["sh_size"] == 0:
        return None
    if section["sh_type"] == "SHT_NOBITS":
        return "bss"
    if flags & SH_FLAGS.SHF_EXECINSTR:
        return "text"
    return "data" if flags & SH_FLAGS.SHF_WRITE else "rodata"


def sizes(path: str | Path) -> ElfSizes:
    """Section sizes of an object file or a linked ELF."""
    path = Path(path)
    totals = dict.fromkeys(KINDS, 0)
    sections = {}
    with path.open("rb") as f:
        for sec in _open(path, f).iter_sections():
            kind = kind_of(sec)
            if kind is not None:
                totals[kind] += sec["sh_size"]
                sections[sec.name] = (sec["sh_size"], sec["sh_addr"])
    return ElfSizes(**totals, sections=sections)


def total_sizes(paths: list[str | Path]) -> ElfSizes:
    """The sum of :func:`sizes` over several objects (the per-section table is dropped)."""
    out = ElfSizes(0, 0, 0, 0)
    for p in paths:
        out = out + sizes(p)
    return out


def symbols(path: str | Path) -> dict[str, Symbol]:
    """Defined symbols of ``path`` by name (.symtab; locals included, section and file symbols not)."""
    path = Path(path)
    out: dict[str, Symbol] = {}
    with path.open("rb") as f:
        elf = _open(path, f)
        table = elf.get_section_by_name(".symtab")
        if table is None:
            return out
        names = {i: s.name for i, s in enumerate(elf.iter_sections())}
        for sym in table.iter_symbols():
            index = sym["st_shndx"]
            kind = sym["st_info"]["type"]
            if not sym.name or not isinstance(index, int) or kind in ("STT_SECTION", "STT_FILE"):
                continue
            out[sym.name] = Symbol(sym.name, sym["st_value"], sym["st_size"], kind, names.get(index, ""))
    return out


def undefined(path: str | Path) -> set[str]:
    """Names ``path`` uses but does not define (what a relocatable object needs from elsewhere)."""
    path = Path(path)
    with path.open("rb") as f:
        table = _open(path, f).get_section_by_name(".symtab")
        if table is None:
            return set()
        return {s.name for s in table.iter_symbols() if s.name and s["st_shndx"] == "SHN_UNDEF"}
