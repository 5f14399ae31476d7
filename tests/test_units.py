"""Byte sizes (mbmicro/units.py): every spelling a flag accepts, every refusal, and the two printed forms."""

from __future__ import annotations

import pytest

from mbmicro.cli import main
from mbmicro.errors import UserError
from mbmicro.units import format_bytes, format_size, parse_bytes


@pytest.mark.parametrize("text, expected", [
    ("65536", 65536), ("64K", 65536), ("64k", 65536), ("64KB", 65536), ("64kb", 65536), ("64KiB", 65536),
    ("64 KiB", 65536), (" 64K ", 65536), ("65536B", 65536), ("65,536 B", 65536), ("1,048,576", 1 << 20),
    ("1M", 1 << 20), ("1MB", 1 << 20), ("1MiB", 1 << 20), ("3mib", 3 << 20), ("1.5M", 3 << 19),
    ("0.5K", 512), ("2G", 2 << 30), ("4GiB", 4 << 30), ("1.0K", 1024), ("262144", 262144), ("256K", 262144),
])
def test_parse_bytes_accepts(text, expected):
    assert parse_bytes(text, "--sram") == expected


@pytest.mark.parametrize("text, fragment", [
    ("", "is not a size"), ("K", "is not a size"), ("12X", "is not a size"), ("-5", "is not a size"),
    ("1e3", "is not a size"), ("0x100", "is not a size"), ("64 K B", "is not a size"), ("1,00", "is not a size"),
    ("1,0000", "is not a size"), (",100", "is not a size"), ("64KiBs", "is not a size"), ("1T", "is not a size"),
    ("nan", "is not a size"), ("inf", "is not a size"), ("١٢٣", "is not a size"),  # Arabic-Indic digits
    ("0", "pass 1 B to 1 TiB"), ("0K", "pass 1 B to 1 TiB"), ("2048G", "pass 1 B to 1 TiB"),
    ("9" * 40, "pass 1 B to 1 TiB"), ("1.3K", "not a whole number"), ("0.1", "not a whole number"),
])
def test_parse_bytes_refuses_in_one_line(text, fragment):
    with pytest.raises(UserError) as info:
        parse_bytes(text, "--sram")
    message = str(info.value)
    assert message.startswith(f"--sram {text!r} ") and fragment in message and "\n" not in message


def test_parse_bytes_bounds_are_the_callers():
    assert parse_bytes("0", "--x", minimum=0) == 0
    with pytest.raises(UserError, match="pass 1 B to 64 KiB"):
        parse_bytes("65537", "--x", maximum=65536)


@pytest.mark.parametrize("n, exact, short", [
    (0, "0 B", "0 B"), (1000, "1,000 B", "1000 B"), (1024, "1,024 B", "1 KiB"), (65536, "65,536 B", "64 KiB"),
    (327680, "327,680 B", "320 KiB"), (5767168, "5,767,168 B", "5.5 MiB"), (1 << 30, "1,073,741,824 B", "1 GiB"),
    (300000, "300,000 B", "292.97 KiB"), (2**31 - 1, "2,147,483,647 B", "2 GiB"), (1 << 40, "1,099,511,627,776 B", "1 TiB"),
])
def test_format_bytes_and_size(n, exact, short):
    assert format_bytes(n) == exact and format_size(n) == short


@pytest.mark.parametrize("n", [1, 512, 65536, 300000, 5767168, 1 << 30])
def test_printed_sizes_parse_back(n):
    """What mbmicro prints can be pasted into a flag: the exact form always, the short one when it is exact."""
    assert parse_bytes(format_bytes(n), "--sram") == n
    if "." not in format_size(n) or n % 1024 == 0:
        assert parse_bytes(format_size(n), "--sram") == n


@pytest.mark.parametrize("flag, value, fragment", [
    ("--sram", "0.1K", "not a whole number"), ("--flash", "12X", "is not a size"), ("--sram", "0", "pass 1 B"),
])
def test_build_refuses_a_bad_size_before_writing(flag, value, fragment, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["build", "--model", "mobilenetv2", "--target", "cortex-m4", "-o", str(out), flag, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mbmicro: error: {flag} {value!r}") and fragment in err and err.count("\n") == 1
    assert not out.exists()
