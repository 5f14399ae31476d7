"""Test helper: build an artifact (a compiled test driver) once per test run, shared by every
pytest-xdist worker, instead of once per worker and module.

Why: a module-scoped fixture runs again in each xdist worker that gets one of the module's
tests, so ``-n 2`` compiled the same 30-CPU-second driver twice.  The artifact is keyed by
the bytes of its inputs and the command that builds it, so a changed header or flag builds
a new one; it lives in the run's own temporary folder (shared by the workers of that run,
removed with it), and a file lock makes the other workers wait for the first one's build.

    exe = shared_artifact(tmp_path_factory, "driver_neon", [DRIVER, *HEADERS.glob("*.h")], cmd,
                          lambda out: subprocess.run([*cmd, "-o", str(out)], check=True))
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Callable


def run_folder(tmp_path_factory) -> Path:
    """This run's folder: the basetemp itself under -n 0, its parent (the run's) under xdist."""
    base = Path(tmp_path_factory.getbasetemp())
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_artifact(tmp_path_factory, name: str, inputs: list[Path], recipe: list[str],
                    build: Callable[[Path], object]) -> Path:
    """The file ``build(path)`` writes, built by the first worker that asks for it in this run;
    ``inputs`` and ``recipe`` (the command) are its key."""
    digest = hashlib.sha256(repr(recipe).encode())
    for path in sorted(Path(p) for p in inputs):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    folder = run_folder(tmp_path_factory) / "shared-artifacts"
    folder.mkdir(exist_ok=True)
    out = folder / f"{name}-{digest.hexdigest()[:16]}"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.exists():
            part = out.with_name(out.name + ".part")
            build(part)
            part.rename(out)
    return out
