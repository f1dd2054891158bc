"""Reply catalogues: `daemon/locale/<language>/<area>.po`, gettext files read with Babel.

A language is a directory and all of its `.po` files are merged, so a feature adds its replies in
a file of its own (`money.po`) with no code change. msgid is the reply's key, msgstr its text with
`{field}` placeholders (flag `python-brace-format`). English is the reference: every other language
must have exactly its keys with the same fields (`catalogue_problems`, which a test runs). A key a
language lacks, or has only a fuzzy or empty translation for, is answered in English at run time.

A broken file stops loading with a CatalogueError: one line naming the file (and key or line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Formatter

from babel.messages.pofile import PoFileError, read_po

LOCALE_DIR = Path(__file__).parent / "locale"
REFERENCE_LANGUAGE = "en"

_LANGUAGE = re.compile(r"[a-z]{2,3}")
_KEY = re.compile(r"[a-z][a-z0-9_]*")
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ENTRY_LINE = re.compile(rf"(?P<keyword>[a-z_]+(?:\[[0-9]+\])?)\s+{_QUOTED}\s*")
_CONTINUATION = re.compile(rf"{_QUOTED}\s*")
_MSGID = re.compile(r'msgid\s+"(?P<key>[^"\\]*)"\s*')
# Which keyword may follow which: one msgid, one msgstr per entry; no plurals, no contexts.
_NEXT_KEYWORD = {None: {"msgid"}, "msgid": {"msgstr"}, "msgstr": {"msgid"}}


class CatalogueError(Exception):
    """A catalogue file is broken; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Catalogues:
    """Every language's templates, and where each came from (for the problems a test reports)."""

    languages: tuple[str, ...]  # the reference language first
    tables: Mapping[str, Mapping[str, str]]  # language -> key -> template
    sources: Mapping[str, Mapping[str, Path]]  # language -> key -> the file that has it
    untranslated: Mapping[str, tuple[tuple[str, Path], ...]]  # language -> fuzzy/empty keys


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


@cache
def _shipped() -> Catalogues:
    return load_catalogues(LOCALE_DIR)


_installed: list[Catalogues] = []  # what a reload put in place of the shipped catalogues


def default_catalogues() -> Catalogues:
    """The catalogues in daemon/locale, read once per process (and again at a reload)."""
    return _installed[-1] if _installed else _shipped()


def install_catalogues(catalogues: Catalogues) -> bool:
    """A reload (SIGHUP): `catalogues`, read and checked, answer from now on. Returns whether
    their texts differ from those in use."""
    changed = catalogues.tables != default_catalogues().tables
    _installed[:] = [catalogues]
    return changed


def load_catalogues(root: Path) -> Catalogues:
    """Read every `<root>/<language>/*.po`; CatalogueError for the first broken file."""
    directories = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    names = [p.name for p in directories]
    if REFERENCE_LANGUAGE not in names:
        raise CatalogueError(f"{root}: no {REFERENCE_LANGUAGE}/ directory (the reference language)")
    tables: dict[str, dict[str, str]] = {}
    sources: dict[str, dict[str, Path]] = {}
    untranslated: dict[str, tuple[tuple[str, Path], ...]] = {}
    for directory in sorted(directories, key=lambda p: (p.name != REFERENCE_LANGUAGE, p.name)):
        if not _LANGUAGE.fullmatch(directory.name):
            raise CatalogueError(f"{directory}: a language directory is a 2 or 3 letter code")
        table, source, skipped = _load_language(directory)
        tables[directory.name], sources[directory.name] = table, source
        untranslated[directory.name] = skipped
    return Catalogues(tuple(tables), tables, sources, untranslated)


def _load_language(
    directory: Path,
) -> tuple[dict[str, str], dict[str, Path], tuple[tuple[str, Path], ...]]:
    files = sorted(directory.glob("*.po"))
    if not files:
        raise CatalogueError(f"{directory}: no .po files")
    table: dict[str, str] = {}
    source: dict[str, Path] = {}
    skipped: list[tuple[str, Path]] = []
    for path in files:
        entries, fuzzy = read_catalogue_file(path)
        for key in (*entries, *fuzzy):
            earlier = source.get(key) or next((p for k, p in skipped if k == key), None)
            if earlier is not None:
                raise CatalogueError(f"{directory.name}: key {key} is in both {earlier} and {path}")
        for key, template in entries.items():
            table[key], source[key] = template, path
        skipped.extend((key, path) for key in fuzzy)
    return table, source, tuple(skipped)


def read_catalogue_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """A file's translated entries (key -> template) and its fuzzy or empty ones' keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot read as UTF-8: {exc}") from None
    return parse_catalogue(path, text)


def parse_catalogue(path: Path, text: str) -> tuple[dict[str, str], list[str]]:
    """`read_catalogue_file` on text already read (`path` only names it in errors)."""
    lines = text.splitlines()
    _check_syntax(path, lines)
    try:
        catalog = read_po(lines, charset="utf-8", ignore_obsolete=True, abort_invalid=True)
    except PoFileError as exc:
        raise CatalogueError(f"{path}: not a valid .po file: {exc}") from None
    entries: dict[str, str] = {}
    fuzzy: list[str] = []
    for message in catalog:
        if not message.id:
            continue  # the header
        key, template = str(message.id), str(message.string)
        _check_template(path, key, template)
        if message.fuzzy or not template:
            fuzzy.append(key)
        else:
            entries[key] = template
    return entries, fuzzy


def _check_syntax(path: Path, lines: list[str]) -> None:
    """What Babel lets through silently: unclosed quotes, a msgstr with no msgid, a key twice."""
    previous: str | None = None
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if _CONTINUATION.fullmatch(text) and previous is not None:
            continue
        match = _ENTRY_LINE.fullmatch(text)
        if match is None or match["keyword"] not in _NEXT_KEYWORD[previous]:
            raise CatalogueError(f"{path}:{number}: unexpected line {text[:40]!r}")
        previous = match["keyword"]
        msgid = _MSGID.fullmatch(text)
        if msgid is not None and msgid["key"]:
            if msgid["key"] in seen:
                raise CatalogueError(
                    f"{path}:{number}: key {msgid['key']} already at line {seen[msgid['key']]}"
                )
            seen[msgid["key"]] = number
    if previous == "msgid":
        raise CatalogueError(f"{path}: the last msgid has no msgstr")


def _check_template(path: Path, key: str, template: str) -> None:
    if not _KEY.fullmatch(key):
        raise CatalogueError(f"{path}: key {key[:40]!r}: keys are lower_case_words")
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise CatalogueError(f"{path}: {key}: {exc}") from None
    for _, name, _, _ in parsed:
        if name is not None and not name.isidentifier():
            raise CatalogueError(f"{path}: {key}: placeholder {{{name}}} must be a plain name")


def catalogue_problems(catalogues: Catalogues) -> list[str]:
    """Every difference from the reference language: missing, extra or untranslated keys, and
    templates whose fields differ. Empty when the catalogues are complete."""
    reference = catalogues.tables[REFERENCE_LANGUAGE]
    problems = [
        f"{language}: {key} in {path} is fuzzy or empty"
        for language in catalogues.languages
        for key, path in catalogues.untranslated.get(language, ())
    ]
    for language in catalogues.languages[1:]:
        table = catalogues.tables[language]
        problems += [f"{language}: missing {key}" for key in sorted(reference.keys() - table)]
        problems += [
            f"{language}: {key} in {catalogues.sources[language][key]} is not in English"
            for key in sorted(table.keys() - reference)
        ]
        for key in sorted(table.keys() & reference):
            fields, wanted = template_fields(table[key]), template_fields(reference[key])
            if fields != wanted:
                problems.append(
                    f"{language}: {key} has fields {sorted(fields)}, English {sorted(wanted)}"
                )
    return problems
