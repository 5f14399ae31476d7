"""One way to print a command's ``--json`` document, so that every command's JSON reads alike.

Why a schema per command: scripts read these documents, so their shape is a
contract; each command's is a JSON Schema file shipped in the package
(mbmicro/schemas/<command>.json, described in docs/JSON.md) and the tests
validate every command's output against it.  With ``--json`` the document is
the only thing on stdout: warnings and progress go to stderr as always.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

#: the shipped schema files (package data of mbmicro)
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


def add_json_flag(p: argparse.ArgumentParser, what: str) -> None:
    """--json: print ``what`` as one JSON document instead of the table."""
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as one JSON document instead of text (schema: docs/JSON.md)")


def print_json(doc) -> None:
    """The document, indented, as the whole of stdout; NaN or infinity would not be JSON, so they are refused."""
    sys.stdout.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def schema_path(command: str) -> Path:
    """mbmicro/schemas/<command>.json, the schema of ``mbmicro <command> --json``."""
    return SCHEMA_DIR / f"{command}.json"
