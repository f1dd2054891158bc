"""Reading a menu file: TOML (tomllib) into the model (daemon.ussd.menu), then every check
(daemon.ussd.menu_check). Any problem is one MenuError line naming the file, the screen and what is
wrong; a TOML syntax error names the line and column."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from daemon.ussd.menu import Menu, MenuDoc, MenuError
from daemon.ussd.render import NETWORK_MAX_SEPTETS

if TYPE_CHECKING:
    from daemon.commands.registry import Registry
    from daemon.commands.types import ParseEnv

SHIPPED_MENU = Path(__file__).parent / "default_menu.toml"
MAX_FILE_BYTES = 256 * 1024


def menu_path(menu_file: Path | None) -> Path:
    """The configured menu file, or the one shipped with smscore."""
    return menu_file if menu_file is not None else SHIPPED_MENU


def load_menu_file(
    path: Path,
    registry: Registry | None = None,
    screen_max_chars: int = NETWORK_MAX_SEPTETS,
    env: ParseEnv | None = None,
) -> Menu:
    """The checked menu in `path`; MenuError (one line) if it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MenuError(f"{path}: cannot read the menu file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise MenuError(f"{path}: a menu file is at most {MAX_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MenuError(f"{path}: not UTF-8 text") from None
    return parse_menu(text, str(path), registry, screen_max_chars, env)


def parse_menu(
    text: str,
    source: str,
    registry: Registry | None = None,
    screen_max_chars: int = NETWORK_MAX_SEPTETS,
    env: ParseEnv | None = None,
) -> Menu:
    """The checked menu in the TOML `text` (read from `source`, named in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MenuError(f"{source}: not TOML: {exc}") from None
    menu = menu_of_data(data, text, source)
    from daemon.ussd.menu_check import check_menu

    check_menu(menu, registry, screen_max_chars, env)
    return menu


def menu_of_data(data: dict[str, Any], text: str, source: str) -> Menu:
    """The model of parsed data (shapes only); MenuError naming the first problem."""
    try:
        doc = MenuDoc.model_validate(data)
    except ValidationError as exc:
        raise MenuError(f"{source}: {_first_problem(exc)}") from None
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return Menu(doc, text, digest, source, data)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "not a known key"
    elif error["type"] == "missing":
        message = "missing"
    if len(loc) >= 2 and loc[0] == "screens":
        where = ".".join(loc[2:])
        return f"screen {loc[1]}: {where + ': ' if where else ''}{message}"
    return f"{'.'.join(loc) or 'menu'}: {message}"
