"""Small menu documents for the USSD menu tests: a valid base to break one way at a time, and menus
built from data (for hypothesis)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daemon.money.commands import service_registry
from daemon.ussd.menu import Menu
from daemon.ussd.menu_check import check_menu
from daemon.ussd.menu_file import load_menu_file, menu_of_data

REGISTRY = service_registry()

BASE = """\
[menu]
version = "t1"
codes = ["*334#"]
start = "main"
languages = ["en", "sw"]

[screens.main]
title = { en = "Main", sw = "Kuu" }
choices = [
  { label = { en = "Send", sw = "Tuma" }, next = "phone" },
  { label = { en = "Help", sw = "Msaada" }, next = "help" },
]

[screens.phone]
arg = "phone"
prompt = { en = "Phone?", sw = "Simu?" }
next = "amount"

[screens.amount]
arg = "amount"
prompt = { en = "Amount?", sw = "Kiasi?" }
next = "pin"

[screens.pin]
arg = "pin"
prompt = { en = "Send {amount} to {phone}? PIN", sw = "Tuma {amount} kwa {phone}? PIN" }
run = "SEND {phone} {amount} {pin}"

[screens.help]
text = { en = "Call 100", sw = "Piga 100" }
"""


def write_menu(tmp_path: Path, text: str, name: str = "menu.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def broken(old: str, new: str, base: str = BASE) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


def load(path: Path, screen_max_chars: int = 182) -> Menu:
    return load_menu_file(path, REGISTRY, screen_max_chars)


def menu_of(data: dict[str, Any], screen_max_chars: int = 182) -> Menu:
    """A checked menu of `data` (as a parsed file would give it)."""
    menu = menu_of_data(data, json.dumps(data), "test.toml")
    check_menu(menu, REGISTRY, screen_max_chars)
    return menu


def list_menu(labels: list[dict[str, str]], roles: list[list[str] | None] | None = None) -> dict:
    """A menu whose start screen lists `labels`, each leading to one final text."""
    choices = []
    for index, label in enumerate(labels):
        choice: dict[str, Any] = {"label": label, "next": f"end{index}"}
        if roles is not None and roles[index] is not None:
            choice["roles"] = roles[index]
        choices.append(choice)
    screens: dict[str, Any] = {"main": {"title": {"en": "Menu", "sw": "Menyu"}, "choices": choices}}
    for index in range(len(labels)):
        screens[f"end{index}"] = {"text": {"en": f"end {index}", "sw": f"mwisho {index}"}}
    return {
        "menu": {"version": "h1", "codes": ["*334#"], "start": "main", "languages": ["en", "sw"]},
        "screens": screens,
    }
