"""The instruction classifier of the counting plugin and the per-core cycle tables.

The classifier (targets/common/insn_class.c) is compiled for the host and called on
instruction strings as QEMU 7.2's disassembler prints them (taken from real runs), with
the bytes where Capstone 4 cannot name a Helium instruction.
"""

from __future__ import annotations

import ctypes
import json
import subprocess

import pytest

from mbmicro.sim import cycles
from mbmicro.targets.target import load_target, targets_root
from test_targets import ARM_TARGETS

CLASSES = ["alu", "mul", "div", "dsp", "load", "store", "branch", "fp", "vector", "vector_mem", "other"]

THUMB = [
    ("ldr.w fp, [sp, #0x14]", "load"), ("ldrsh.w r3, [r1], #2", "load"), ("pop {r4, r5, r6, pc}", "load"),
    ("strd r2, r3, [sp, #8]", "store"), ("push.w {r4, r5, r6, r7, r8, sb, sl, lr}", "store"),
    ("smlad r6, r7, r8, r6", "dsp"), ("sxtb16 r5, r4", "dsp"), ("sxtab16 r0, r1, r2, ror #8", "dsp"),
    ("pkhbt r1, r2, r3, lsl #16", "dsp"), ("sel r0, r1, r2", "dsp"), ("uadd8 r0, r1, r2", "dsp"),
    ("mla r0, r1, r2, r0", "mul"), ("muls r0, r1, r0", "mul"), ("smull r0, r1, r2, r3", "mul"),
    ("smlatt r0, r1, r2, r0", "mul"), ("smmulr r0, r1, r2", "mul"), ("sdiv r0, r1, r2", "div"),
    ("bne.w #0x6000050e", "branch"), ("ble #0x100", "branch"), ("cbz r0, #0x20", "branch"),
    ("bx lr", "branch"), ("bl #0x60000400", "branch"),
    ("bic.w r0, r1, #3", "alu"), ("bfi r0, r1, #0, #8", "alu"), ("bics r0, r1", "alu"), ("itett eq", "alu"),
    ("movs r0, #0", "alu"), ("ssat r0, #8, r1", "alu"), ("clz r0, r1", "alu"), ("add.w r0, r1, r2, lsl #2", "alu"),
    ("bkpt #0xab", "other"), ("nop ", "other"), ("pld [r0, #0x40]", "other"), ("dsb sy", "other"),
    ("vadd.f32 s0, s1, s2", "fp"), ("vmov r0, s0", "fp"), ("vldr s0, [r0, #4]", "load"),
    ("vpush {d8, d9, d10, d11}", "store"), ("vpop {d8, d9, d10, d11, d12, d13, d14, d15}", "load"),
    ("vmul.i32 q0, q0, q3", "vector"), ("vqrdmulh.s32 q1, q1, q2", "vector"), ("vdup.32 q4, sb", "vector"),
]
#: Helium as Capstone 4 prints it, with the instruction's bytes (little-endian halfwords)
HELIUM = [
    (".byte 0x1f, 0xf0", bytes.fromhex("1ff017c0"), "branch"),        # LETP lr, ...
    (".byte 0x07, 0xf0", bytes.fromhex("07f023c0"), "branch"),        # WLSTP.8 lr, r7, ...
    (".byte 0x07, 0xf0", bytes.fromhex("07f001e8"), "vector"),        # VCTP.8 r7
    (".byte 0x27, 0xee", bytes.fromhex("27ee466f"), "vector"),        # a vector op in the cp14/15 space
    (".byte 0xf0, 0xee", bytes.fromhex("f0ee280f"), "vector"),
    ("ldc p14, c1, [r3], #0x40", bytes.fromhex("b3ec101e"), "vector_mem"),  # VLDRB.8 q0, [r3], #0x40
    ("stc p15, c7, [r2]", bytes.fromhex("82ed007f"), "vector_mem"),
    (".byte 0x80, 0xf3", bytes.fromhex("80f30a88"), "other"),         # MSR MSPLIM
]
A64 = [
    ("ldr x0, [x1, #8]", "load"), ("ldrsb w2, [x3], #1", "load"), ("ldr d0, [x0]", "load"),
    ("ldr q0, [x1, #16]", "vector_mem"), ("ldp q0, q1, [x0]", "vector_mem"), ("ld1 {v0.16b}, [x0], #16", "vector_mem"),
    ("stp x29, x30, [sp, #-0x10]!", "store"), ("st1 {v0.4s, v1.4s}, [x2]", "vector_mem"),
    ("smlal v0.8h, v1.8b, v2.8b", "vector"), ("sadalp v0.4s, v1.8h", "vector"), ("mul v0.4s, v1.4s, v2.4s", "vector"),
    ("umov w0, v1.s[1]", "vector"), ("sqrdmulh s0, s1, s2", "vector"), ("dup v3.4s, w4", "vector"),
    ("madd w0, w1, w2, w3", "mul"), ("smull x0, w1, w2", "mul"), ("mul w0, w1, w2", "mul"), ("udiv w0, w1, w2", "div"),
    ("b.ne #0x400100", "branch"), ("ret ", "branch"), ("tbnz w0, #3, #0x40", "branch"), ("cbz x0, #0x20", "branch"),
    ("fadd s0, s1, s2", "fp"), ("scvtf d0, x1", "fp"),
    ("add x0, x1, x2", "alu"), ("bic w0, w1, w2", "alu"), ("csel w0, w1, w2, lt", "alu"), ("sxtb w0, w1", "alu"),
    ("prfm pldl1keep, [x0]", "other"), ("svc #0", "other"), ("nop ", "other"),
]
EXTRA = [("push {r4, r5, r6, lr}", 0, 3), ("pop {r4, pc}", 0, 1), ("ldrd r0, r1, [r2]", 0, 1),
         ("vpop {d8, d9, d10, d11}", 0, 3), ("ldr r0, [r1]", 0, 0), ("ldp x0, x1, [sp]", 1, 1),
         ("ld1 {v0.16b, v1.16b}, [x0]", 1, 1), ("add x0, x1, x2", 1, 0)]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """insn_class.c built as a host shared library (the plugin's own classifier)."""
    common = targets_root() / "common"
    so = tmp_path_factory.mktemp("insn-class") / "libinsn_class.so"
    subprocess.run(["gcc", "-std=c11", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(common),
                    "-o", str(so), str(common / "insn_class.c")], check=True)
    dll = ctypes.CDLL(str(so))
    dll.insn_classify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    dll.insn_classify.restype = ctypes.c_int
    dll.insn_extra_registers.argtypes = [ctypes.c_char_p, ctypes.c_int]
    dll.insn_extra_registers.restype = ctypes.c_uint
    return dll


def classify(lib, text: str, data: bytes | None = None, a64: bool = False) -> str:
    return CLASSES[lib.insn_classify(text.encode(), data, len(data or b""), int(a64))]


def test_class_names_match_the_plugin(lib):
    names = (ctypes.c_char_p * len(CLASSES)).in_dll(lib, "insn_class_names")
    assert [n.decode() for n in names] == CLASSES


@pytest.mark.parametrize("text, expected", THUMB)
def test_thumb(lib, text, expected):
    assert classify(lib, text) == expected


@pytest.mark.parametrize("text, data, expected", HELIUM)
def test_helium_by_encoding(lib, text, data, expected):
    assert classify(lib, text, data) == expected


@pytest.mark.parametrize("text, expected", A64)
def test_a64(lib, text, expected):
    assert classify(lib, text, a64=True) == expected


@pytest.mark.parametrize("text, a64, extra", EXTRA)
def test_extra_registers(lib, text, a64, extra):
    assert lib.insn_extra_registers(text.encode(), a64) == extra


def test_undecodable_without_bytes_is_other(lib):
    assert classify(lib, ".byte 0x27, 0xee") == "other"
    assert classify(lib, "") == "other"


@pytest.mark.parametrize("name", ARM_TARGETS)
def test_cycle_tables_price_every_class(name):
    target = load_target(name)
    table = cycles.load_table(target)
    assert table is not None and set(table["cycles"]) == set(CLASSES)
    assert all(v > 0 for v in table["cycles"].values()) and table["extra_register"] >= 0
    raw = json.loads(cycles.table_path(target).read_text())
    assert "Technical Reference Manual" in raw["source"] and raw["approximations"]


def test_estimate_weights_the_mix():
    table = {"cycles": {"alu": 1, "load": 2, "vector": 2}, "extra_register": 0.5}
    mix = {"alu": 10, "load": 3, "vector": 4, "extra_registers": 4}
    assert cycles.estimate(mix, table) == 10 + 6 + 8 + 2
    assert cycles.instructions(mix) == 17
    with pytest.raises(RuntimeError, match="no entry for instruction class"):
        cycles.estimate({"dsp": 1}, table)


def test_host_has_no_cycle_table():
    assert cycles.load_table(load_target("host")) is None
