"""Snapshot the generated projects of every built-in model, and compare two snapshots.

Why: a refactor must not change what mbmicro generates. Run ``snapshot``
before and after, then ``compare``: every generated file of the 11 models on
two targets must be byte-identical, report.json and report.md included (the
build time is printed by ``mbmicro build``, not written into the folder).

Usage::

    python tools/snapshot_generated.py snapshot OUT [--targets cortex-m4,cortex-a53] [--jobs 2]
    python tools/snapshot_generated.py compare BEFORE AFTER [--by-name]

``--by-name`` compares the files of a build by file name, wherever they are in it:
for a move of generated files into a subfolder (the model library, model/), whose
contents must stay identical while their paths change.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import subprocess
import sys
from pathlib import Path

# budgets large enough for every model on every target (the A53 reserves 8 MiB for its runtime)
OPTIONS = ["--width", "0.35", "--resolution", "96", "--classes", "10", "--flash", "64M", "--sram", "64M"]
# the build-time row of report.md files written before the build time left the reports
_OLD_TIME_ROW = re.compile(rb'^\| build time \|.*\n', re.M)


def _build(model: str, target: str, out: Path) -> str:
    dest = out / f"{model}--{target}"
    cmd = [sys.executable, "-m", "mbmicro", "build", "--model", model, "--target", target,
           "-o", str(dest), "--force", *OPTIONS]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return dest.name


def model_names() -> list[str]:
    """Through the CLI, not an import: the script must outlive moves of the modules it would import."""
    listed = subprocess.run([sys.executable, "-m", "mbmicro", "models", "--json"], capture_output=True,
                            text=True, check=True).stdout
    return [row["name"] for row in json.loads(listed)]


def snapshot(out: Path, targets: list[str], jobs: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(_build, m, t, out) for m in model_names() for t in targets]
        for f in concurrent.futures.as_completed(futures):
            print("built", f.result(), flush=True)


def _generated(folder: Path, by_name: bool = False) -> dict[str, bytes]:
    """Every file of the build except compiler products, with wall-clock lines blanked.

    Keyed by path inside each build folder, or (``by_name``) by build folder and file name.
    """
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in (".o", ".elf", ".su", ".ci") and not path.name.startswith("app"):
            data = path.read_bytes()
            key = path.relative_to(folder)
            if by_name:
                key = Path(key.parts[0], path.name) if len(key.parts) > 1 else key
            if str(key) in files:
                raise SystemExit(f"two files named {path.name} in {key.parent}: compare without --by-name")
            files[str(key)] = _without_build_time(path.name, data)
    return files


def _without_build_time(name: str, data: bytes) -> bytes:
    """A report as it is written now, also when it comes from a snapshot of an older checkout
    (whose reports held the build time), so such a snapshot still compares with a new one."""
    if name == "report.md":
        return _OLD_TIME_ROW.sub(b"", data)
    if name == "report.json":
        report = json.loads(data)
        if "build_time_s" in report:
            del report["build_time_s"]
            return (json.dumps(report, indent=1) + "\n").encode()
    return data


def compare(before: Path, after: Path, by_name: bool = False) -> int:
    a, b = _generated(before, by_name), _generated(after, by_name)
    bad = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    for name in bad:
        print("differs:", name)
    print(f"{len(a)} files before, {len(b)} after, {len(bad)} differ")
    return 1 if bad or not a else 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("out", type=Path)
    s.add_argument("--targets", default="cortex-m4,cortex-a53")
    s.add_argument("--jobs", type=int, default=2)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--by-name", action="store_true", help="match files by name, not by path in the build")
    args = ap.parse_args(argv)
    if args.cmd == "snapshot":
        snapshot(args.out, args.targets.split(","), args.jobs)
        return 0
    return compare(args.before, args.after, args.by_name)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
