"""The per-layer report, its plots and report.html (issue 13; docs/REPORT.md).

A hand-made lut/add graph with plain C kernels (tests/test_build_host.py's
toy) keeps these fast: built for the host to check the per-layer ROM/RAM
columns and that two builds give byte-identical PNGs and HTML, and for
cortex-m4 to run the real ``mbmicro profile`` in QEMU and see its counts in
the report. The HTML is opened in headless Chromium (Debian ``chromium``) and
its screenshot must show the plots.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mbmicro.cli import main
from mbmicro.codegen import report
from mbmicro.codegen.project import build_project
from mbmicro.codegen.report_html import markdown_to_html
from mbmicro.targets.target import load_target
from test_build_host import fake_lower, toy_graph

INFO = {"model": "toy-net", "options": {}}


def _toy(out: Path, target: str = "host") -> Path:
    build_project(toy_graph(), load_target(target), out, prefix="toy_net", force=False, info=INFO, lower=fake_lower)
    return out


@pytest.fixture(scope="module")
def host_pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    return _toy(base / "one"), _toy(base / "two")


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """The toy built for cortex-m4 and profiled in QEMU by the CLI (which redraws the report)."""
    folder = _toy(tmp_path_factory.mktemp("m4") / "build", "cortex-m4")
    assert main(["profile", str(folder), "--json"]) == 0
    return folder


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        chunks.append(data[i + 4:i + 8])
        i += 12 + length
    return chunks


def test_layers_carry_shapes_rom_and_ram(host_pair):
    folder, _ = host_pair
    r = json.loads((folder / "report.json").read_text())
    layers = r["layers"]
    # the toy: n0 lut x->a, n1 lut a->b, n2 add(b, x)->c in place of b, ... n4 add(d, a), n5 lut e->y (caller's)
    assert [x["input_shapes"] for x in layers][2] == [[1, 5, 3, 8], [1, 5, 3, 8]]
    assert sum(x["weight_bytes"] for x in layers) == r["weights_bytes"] == 4 * 256 + 2 * 12
    assert [x["weight_bytes"] for x in layers] == [256, 256, 12, 256, 12, 256]  # a table; 2 + 1 int32
    # a (120 B, 16-aligned to 128) lives from n0 to n4; the b/c/d/e chain from n1 to n5
    assert [x["arena_live_bytes"] for x in layers] == [128, 256, 256, 256, 256, 128]
    assert max(x["arena_live_bytes"] for x in layers) == r["arena_lower_bound"]
    assert r["arena_plan"]["buffers"] == [
        {"tensor": "a", "tensors": ["a"], "offset": 0, "bytes": 120, "first": 0, "last": 4},
        {"tensor": "b", "tensors": ["b", "c", "d", "e"], "offset": 128, "bytes": 120, "first": 1, "last": 5}]
    md = (folder / "report.md").read_text()
    assert "| weights (flash) B | arena live (RAM) B |" in md
    assert "| 2 | n2 | add | 1x5x3x8, 1x5x3x8 | 1x5x3x8 | 120 | 12 | 256 |" in md
    assert "![" in md and "](report_arena.png)" in md and "instructions" not in md


def test_shared_arrays_are_counted_once():
    """Two layers with the same table: the second stores nothing new, and says what it shares."""
    g = toy_graph()
    g.nodes[3].params["table"] = g.nodes[1].params["table"].copy()
    from mbmicro.codegen import aot, report_layers

    program = aot.lower_graph(g, load_target("host"), "toy_net", lower=fake_lower)
    rows = report_layers.layer_rows(program, INFO)
    assert (rows[3]["weight_bytes"], rows[3]["weight_bytes_shared"]) == (0, 256)
    assert sum(x["weight_bytes"] for x in rows) == program.weights.total_bytes


def test_plots_and_html_are_byte_identical_across_builds(host_pair):
    one, two = host_pair
    files = json.loads((one / "build.json").read_text())["files"]
    assert {"report.html", "report_arena.png"} <= set(files)
    for name in ("report.json", "report.md", "report.html", "report_arena.png"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    png = (one / "report_arena.png").read_bytes()
    assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(_png_chunks(png))  # no software name, no date
    assert Image.open(one / "report_arena.png").size == (1100, 550)


def test_html_is_self_contained_with_the_tables_of_report_md(host_pair):
    folder, _ = host_pair
    page = (folder / "report.html").read_text()
    md = (folder / "report.md").read_text()
    assert "<script" not in page and "http:" not in page and "https:" not in page and "url(" not in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == 1 and sources[0].startswith("data:image/png;base64,")
    assert base64.b64decode(sources[0].split(",", 1)[1]) == (folder / "report_arena.png").read_bytes()
    assert page.count("<tr>") == sum(1 for line in md.splitlines() if line.startswith("|") and "---|" not in line)
    assert "<td>n2</td><td>add</td>" in page and "<code>toy_net_test_add</code>" in page


def test_html_escapes_what_a_model_file_names():
    body = markdown_to_html("# <b>x</b> on host\n\n| a | b |\n|---|---|\n| <script>alert(1)</script> | `<i>` |\n", {})
    assert "<script" not in body and "<b>" not in body and "&lt;script&gt;" in body and "<code>&lt;i&gt;</code>" in body


def test_profile_puts_counts_and_bars_into_the_report(profiled, tmp_path):
    r = json.loads((profiled / "report.json").read_text())
    again = tmp_path / "again"  # what profile wrote, redrawn from report.json alone: the same bytes
    again.mkdir()
    report.write_files(again, report.render_files(r))
    for name in ("report.json", "report.md", "report.html", "report_arena.png", "report_profile.png"):
        assert (again / name).read_bytes() == (profiled / name).read_bytes(), name
    assert r["profile"]["target"] == "cortex-m4" and r["profile"]["exe"] == "app_profile.elf"
    assert all(x["instructions"] > 0 and x["estimated_cycles"] > 0 for x in r["layers"])
    assert sum(x["instructions"] for x in r["layers"]) == r["profile"]["total"]["instructions"]
    md = (profiled / "report.md").read_text()
    assert "| instructions | instr/MAC | est. cycles* |" in md and "](report_profile.png)" in md
    assert "ESTIMATE" in md
    page = (profiled / "report.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2
    assert not {b"tEXt", b"iTXt", b"tIME"} & set(_png_chunks((profiled / "report_profile.png").read_bytes()))


def test_profile_of_a_broken_report_is_one_line_and_writes_nothing(profiled, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(profiled, folder)
    r = json.loads((folder / "report.json").read_text())
    del r["arena_plan"]  # e.g. a folder from an older mbmicro
    (folder / "report.json").write_text(json.dumps(r))
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("report")}
    assert main(["profile", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report.json is broken" in err and "mbmicro build --force" in err, err
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name.startswith("report")} == before


def _colourful(pixels: np.ndarray) -> tuple[int, tuple[int, int, int, int] | None]:
    """(how many pixels are clearly coloured, their bounding box (x0, y0, x1, y1)): the page's CSS
    is grey only, so colour comes from the plots."""
    rgb = pixels.astype(int)
    ys, xs = np.nonzero(rgb.max(axis=2) - rgb.min(axis=2) > 60)
    return len(xs), ((xs.min(), ys.min(), xs.max(), ys.max()) if len(xs) else None)


def test_html_opens_in_headless_chromium_and_shows_the_plots(profiled, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian package chromium is needed (make setup installs it: DEB_PACKAGES in the Makefile)"
    shot = tmp_path / "out.png"
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot}", "--window-size=1200,2000", (profiled / "report.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    # the page itself: no failed load, no console message (dbus noise of a container is not the page's)
    assert not re.search(r"Failed to load resource|ERR_|CONSOLE\(|Uncaught", done.stderr), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (2000, 1200, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200  # text, tables and plots: not a blank page
    count, box = _colourful(pixels)
    assert count > 50_000, count  # the bars and boxes of both plots
    assert box is not None and box[2] - box[0] > 800 and box[3] - box[1] > 800, box  # two plots, one above the other


def test_profile_replaces_a_symlinked_report_file_without_following_it(profiled, tmp_path):
    """report_profile.png is not among build.json's files (the loader refuses those when they
    lead outside): a symlink there is replaced by the new plot, its target left alone."""
    folder, outside = tmp_path / "copy", tmp_path / "outside.txt"
    shutil.copytree(profiled, folder)
    outside.write_text("not mbmicro's\n")
    (folder / "report_profile.png").unlink()
    (folder / "report_profile.png").symlink_to(outside)
    assert main(["profile", str(folder)]) == 0
    assert outside.read_text() == "not mbmicro's\n"
    plot = folder / "report_profile.png"
    assert not plot.is_symlink() and plot.read_bytes() == (profiled / "report_profile.png").read_bytes()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".report")]  # no temporary file left


def test_arena_plot_hatches_scratch(host_pair):
    """Arena scratch (a fused region's rings) is drawn: the same report with a scratch box differs."""
    from mbmicro.codegen.report_plots import arena_png

    r = json.loads((host_pair[0] / "report.json").read_text())
    plain = arena_png(r)
    r["arena_plan"]["scratch"] = [{"step": 5, "offset": 0, "bytes": 96}]
    hatched = arena_png(r)
    assert hatched != plain and arena_png(r) == hatched
    assert Image.open(io.BytesIO(hatched)).size == (1100, 550)
