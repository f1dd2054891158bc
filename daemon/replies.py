"""Replies: every text the service sends comes from a catalogue in daemon/locale (see
daemon/catalogues.py and daemon/locale/README.md). `render` falls back to English for a language we
do not have, and for a key a language has no translation for."""

from typing import Any

from daemon.catalogues import (
    REFERENCE_LANGUAGE,
    CatalogueError,
    default_catalogues,
    template_fields,
)

__all__ = [  # and LANGUAGES, TEMPLATES (read lazily: see __getattr__)
    "DEFAULT_LANGUAGE",
    "CatalogueError",
    "UnknownTemplate",
    "language_names",
    "render",
    "template",
    "template_fields",
]

DEFAULT_LANGUAGE = REFERENCE_LANGUAGE


class UnknownTemplate(KeyError):
    pass


def template(language: str, key: str) -> str:
    """The template `key` in `language`, else in English; UnknownTemplate if English lacks it."""
    tables = default_catalogues().tables
    found = tables.get(language, {}).get(key) or tables[DEFAULT_LANGUAGE].get(key)
    if found is None:
        raise UnknownTemplate(key)
    return found


def render(language: str, key: str, **fields: object) -> str:
    """The reply `key` in `language` (English if we do not have that language) with its fields."""
    return template(language, key).format(**fields)


def language_names() -> dict[str, str]:
    """Language code -> its own name for itself ("Kiswahili"), for LANG."""
    return {code: template(code, "language_name") for code in default_catalogues().languages}


def __getattr__(name: str) -> Any:
    # LANGUAGES and TEMPLATES are read from the catalogues the first time they are asked for, so
    # importing this module reads no file.
    if name == "LANGUAGES":
        return default_catalogues().languages
    if name == "TEMPLATES":
        return default_catalogues().tables
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
