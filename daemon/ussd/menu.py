"""A menu as data: the document's model (pydantic) and the loaded, checked `Menu`.

    [menu]
    version = "2026.12.1"          # a new file is a new version (daemon.ussd.menu_store)
    codes = ["*334#"]
    start = "main"
    language = "en"                # for a session in a language the menu has no labels in
    languages = ["en", "sw"]       # every label, prompt and text has each of these

    [screens.main]                 # a list of choices
    title = {en = "M-PESA", sw = "M-PESA"}
    choices = [
      {label = {en = "Send money", sw = "Tuma pesa"}, roles = ["customer"], next = "send_phone"},
    ]

    [screens.send_phone]           # an input step: an SMS argument type
    arg = "phone"                  # daemon.ussd.arg_kinds.KINDS
    name = "phone"                 # the input's name in later texts and the run (default: arg)
    prompt = {en = "Enter phone number", sw = "Weka nambari ya simu"}
    next = "send_amount"

    [screens.send_pin]             # the last step runs the command: `run` names the inputs
    arg = "pin"
    prompt = {en = "Send {amount} to {phone}? Enter PIN", sw = "..."}
    run = "SEND {phone} {amount} {pin}"

    [screens.help]                 # a final text
    text = {en = "Call 100", sw = "Piga 100"}

A choice leads to a screen (`next`) or runs a command (`run`). `{name}` in a title, prompt, label
or text shows an input collected before it. A PIN is asked last: its step runs the command at
once, so a PIN is never kept in a session. Checks beyond the shapes: daemon.ussd.menu_check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from daemon.commands.registry import Role
from daemon.schema_ussd import MENU_VERSION_MAX_CHARS

MAX_CHOICES = 97  # 98 is More, 0 is Back
ScreenId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
InputName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Labels = dict[Language, Text]  # language -> text
Version = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=MENU_VERSION_MAX_CHARS),
]
Code = Annotated[str, StringConstraints(pattern=r"^\*[0-9*]{1,30}#$")]
RunTemplate = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class MenuError(Exception):
    """A menu file that cannot be used: one line, `FILE: screen X: problem`."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MenuHeader(_Strict):
    version: Version
    codes: Annotated[list[Code], Field(min_length=1)]
    start: ScreenId
    language: Language = "en"
    languages: list[Language] = Field(default_factory=list)

    @model_validator(mode="after")
    def _default_language_listed(self) -> MenuHeader:
        if self.languages and self.language not in self.languages:
            raise ValueError(f"language {self.language} is not in languages")
        return self

    @property
    def all_languages(self) -> tuple[str, ...]:
        return tuple(self.languages) or (self.language,)


class Choice(_Strict):
    label: Labels
    roles: list[Role] | None = None  # None: every role sees it
    next: ScreenId | None = None
    run: RunTemplate | None = None

    @model_validator(mode="after")
    def _one_way_on(self) -> Choice:
        if (self.next is None) == (self.run is None):
            raise ValueError("a choice has either next or run")
        return self

    def visible_to(self, role: Role) -> bool:
        return self.roles is None or role in self.roles


class Kind(StrEnum):
    CHOICES = "choices"
    INPUT = "input"
    TEXT = "text"


class ScreenDoc(_Strict):
    title: Labels | None = None  # choices: the line above them
    choices: Annotated[list[Choice], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    arg: str | None = None  # input: its kind (daemon.ussd.arg_kinds)
    name: InputName | None = None
    prompt: Labels | None = None
    next: ScreenId | None = None
    run: RunTemplate | None = None
    text: Labels | None = None  # a final text

    @model_validator(mode="after")
    def _one_kind(self) -> ScreenDoc:
        kinds = [self.choices is not None, self.arg is not None, self.text is not None]
        if sum(kinds) != 1:
            raise ValueError("a screen has exactly one of choices, arg (an input) or text")
        if self.arg is not None:
            if self.prompt is None:
                raise ValueError("an input needs a prompt")
            if (self.next is None) == (self.run is None):
                raise ValueError("an input has either next or run")
        else:
            extra = [k for k in ("name", "prompt", "next", "run") if getattr(self, k) is not None]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only for an input (arg)")
        if self.title is not None and self.choices is None:
            raise ValueError("title: only for a list of choices")
        return self

    @property
    def kind(self) -> Kind:
        if self.choices is not None:
            return Kind.CHOICES
        return Kind.INPUT if self.arg is not None else Kind.TEXT

    @property
    def input_name(self) -> str | None:
        return (self.name or self.arg) if self.arg is not None else None


class MenuDoc(_Strict):
    menu: MenuHeader
    screens: Annotated[dict[ScreenId, ScreenDoc], Field(min_length=1)]


@dataclass(frozen=True)
class Menu:
    """A checked menu and the document it came from (stored as it is: daemon.ussd.menu_store)."""

    doc: MenuDoc
    document: str  # the file's text
    digest: bytes  # SHA-256 of the text, UTF-8
    source: str  # where it was read from (shown in errors)
    data: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)  # as parsed

    @property
    def version(self) -> str:
        return self.doc.menu.version

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.doc.menu.codes)

    @property
    def start(self) -> str:
        return self.doc.menu.start

    @property
    def language(self) -> str:
        return self.doc.menu.language

    @property
    def languages(self) -> tuple[str, ...]:
        return self.doc.menu.all_languages

    def screen(self, screen_id: str) -> ScreenDoc:
        return self.doc.screens[screen_id]

    def has_screen(self, screen_id: str) -> bool:
        return screen_id in self.doc.screens

    def language_of(self, wanted: str) -> str:
        """The language a session in `wanted` sees: it, if the menu has it, else the default."""
        return wanted if wanted in self.languages else self.language
