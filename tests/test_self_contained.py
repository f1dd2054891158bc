"""The repository carries everything its code and tests read: no path names a place outside it.

A test that reads a team's shared folder by its absolute path passes on the machine it was written on and fails everywhere else, so every
source, test and build file is scanned for absolute paths into places that belong to a machine rather than to
the repository (home directories, work areas, the temporary directory) and for relative paths that climb out.
System and install locations (`/usr/lib/postgresql`, `/proc`, `/var/lib/smscore`, `/opt/smscore`) are allowed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCANNED_SUFFIXES = {".py", ".toml", ".cfg", ".ini", ".service", ".md"}
SCANNED_NAMES = {"bootstrap", "run"}
SKIPPED_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "data",
}
MACHINE_ROOTS = ("work", "home", "root", "tmp", "srv", "mnt", "media", "shared", "scratch")
_ROOTS = "|".join(MACHINE_ROOTS)
OUTSIDE_PATH = re.compile(
    rf"(?<![\w.:/])/(?:{_ROOTS})(?:/[\w.*-]+)*/?(?!\w)|\.\./(?:\.\./)*shared\b"
)


_SHARED_CORPUS = "/".join(("", "work", "shared", "interop", "pdus.jsonl"))
_TMP = "/" + "tmp"
_UP_TO_SHARED = "/".join(("..", "shared"))


def scanned_files() -> list[Path]:
    found = []
    for path in REPO.rglob("*"):
        relative = path.relative_to(REPO)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts[:-1]):
            continue
        if path.is_file() and (path.suffix in SCANNED_SUFFIXES or path.name in SCANNED_NAMES):
            found.append(path)
    return sorted(found)


def outside_paths(text: str) -> list[str]:
    hits = [match.group(0) for match in OUTSIDE_PATH.finditer(text)]
    parent = str(REPO.parent)
    # The parent as a path of its own, not a piece of another name (a file named after it).
    named = re.search(rf"(?<![\w.~/-]){re.escape(parent)}(?![\w.-])", text)
    if parent != "/" and named and not any(hit.startswith(parent) for hit in hits):
        hits.append(parent)
    return hits


def test_the_scan_sees_the_tree() -> None:
    names = {path.relative_to(REPO).as_posix() for path in scanned_files()}
    assert {"bootstrap", ".ci/run", "tests/interop.py", "smscore/codec.py", "README.md"} <= names
    assert not any(name.startswith("tests/data/") for name in names)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Built from parts, so this file does not itself name the paths it tests for.
        (f'Path("{_SHARED_CORPUS}")', [_SHARED_CORPUS]),
        (f"base_dir = '{_TMP}'", [_TMP]),
        (f"see {_UP_TO_SHARED}/DESIGN.md", [_UP_TO_SHARED]),
        ('glob.glob("/usr/lib/postgresql/*/bin/initdb")', []),
        ('Path(f"/proc/{pid}/stat")', []),
        ('state_dir = "/var/lib/smscore"', []),
        ('client.get("/v1/messages")', []),
        ("https://example.org/home/page", []),
    ],
)
def test_outside_paths_recognises_machine_paths(text: str, expected: list[str]) -> None:
    assert outside_paths(text) == expected


def test_no_file_names_a_path_outside_the_repository() -> None:
    offenders = {}
    for path in scanned_files():
        hits = outside_paths(path.read_text(errors="replace"))
        if hits:
            offenders[path.relative_to(REPO).as_posix()] = hits
    assert offenders == {}


def test_the_parent_is_found_as_a_path_not_inside_another_name(monkeypatch) -> None:
    # A checkout at <parent>/main: the parent's name inside "benchmarks/<name>load.py" is no path.
    parent = "/" + "srv"  # built from parts, as above
    monkeypatch.setattr(sys.modules[__name__], "REPO", Path(parent) / "main")
    assert outside_paths(f"see benchmarks{parent}load.py and x{parent}") == []
    assert outside_paths(f"copy it to {parent} then") == [parent]
