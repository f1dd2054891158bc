"""The menu engine: where a session is, what to show, and which command a completed path runs.

Pure functions of (menu, state, answer, view): no database, no clock. The session code
(daemon.ussd.sessions) keeps the `SessionState` between screens and runs a `RunCommand` through the
same parse, role, PIN and handler path as an SMS; that command's reply is the last screen.

    start(menu, view) -> Screen | RunCommand
    answer(menu, state, text, view) -> Screen | RunCommand

An input is checked with its SMS argument type; a bad one shows the same screen with the type's
error first. A PIN is the last input of a path (daemon.ussd.menu_check) and goes straight into the
command: it is never in a SessionState.

"0" goes back to the screen that led here (the state keeps the last few screen ids, nothing else):
on an input screen, shown as "0. Back", unless "0" is a value of its kind (a reference, an account,
a word, a text: there 0 is taken as typed and no Back is offered); on the first page of a list (on a
later page, 0 is the page before). Going back forgets the input the screen gone back to had given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from daemon import replies
from daemon.commands.errors import ArgValueError
from daemon.commands.normalise import PIN_MASK
from daemon.commands.registry import Role
from daemon.commands.types import ParseEnv
from daemon.ussd import render
from daemon.ussd.arg_kinds import KINDS, ArgKind, shown
from daemon.ussd.menu import Choice, Kind, Menu, ScreenDoc

__all__ = ["RunCommand", "Screen", "SessionState", "StateError", "View", "answer", "start"]


BACK_MAX_SCREENS = 8  # the longest way back kept; a deeper menu goes back this far


class StateError(ValueError):
    """A stored session state that is not one (bad JSON, or a screen the menu does not have)."""


@dataclass(frozen=True, slots=True)
class SessionState:
    """Where a session is: the screen shown, its page, the inputs typed so far by name (as the
    command text takes them) and `back`, the ids of the screens that led here (the last
    BACK_MAX_SCREENS, oldest first). Never a PIN."""

    screen: str
    page: int = 0
    inputs: dict[str, str] = field(default_factory=dict)
    back: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {"screen": self.screen, "page": self.page, "inputs": self.inputs, "back": self.back},
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        try:
            data = json.loads(text)
            screen, page, inputs = data["screen"], data["page"], data["inputs"]
            back = data.get("back", [])  # a state stored before Back existed has none
        except (ValueError, TypeError, KeyError, AttributeError):
            raise StateError("not a session state") from None
        ok_inputs = isinstance(inputs, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()
        )
        ok_back = (
            isinstance(back, list)
            and len(back) <= BACK_MAX_SCREENS
            and all(isinstance(b, str) for b in back)
        )
        ok = isinstance(screen, str) and type(page) is int and page >= 0
        if not (ok and ok_inputs and ok_back):
            raise StateError("not a session state")
        return cls(screen, page, dict(inputs), tuple(back))


@dataclass(frozen=True, slots=True)
class Screen:
    """Show `text`; `final`: it ends the dialogue (no answer is expected)."""

    state: SessionState
    text: str
    final: bool = False


@dataclass(frozen=True, slots=True)
class RunCommand:
    """Run `command_text` as the subscriber's command; its reply is the last screen. `masked_text`
    is the same with the PIN as ****, for storing and logging. The session is done."""

    state: SessionState
    command_text: str
    masked_text: str


def _no_name(kind: str, value: str) -> str | None:
    return None


@dataclass(frozen=True)
class View:
    """Who is walking the menu and how screens are shown to them. `describe(kind, value)` may
    name the party behind an input for a confirming screen: ("phone", "254712345678") -> "JOHN D"
    (kind is the input's arg kind; a phone's value is its international digits)."""

    role: Role
    language: str
    parse_env: ParseEnv = field(default_factory=ParseEnv)
    screen_max_chars: int = render.NETWORK_MAX_SEPTETS
    describe: Callable[[str, str], str | None] = _no_name
    currency: str = ""  # amounts as replies show them: "KES 500.00" (config.service.currency)


Result = Screen | RunCommand


def start(menu: Menu, view: View) -> Result:
    """The first screen of a session."""
    return _enter(menu, SessionState(menu.start), menu.start, {}, view)


def answer(menu: Menu, state: SessionState, text: str, view: View) -> Result:
    """What follows the subscriber's answer `text` on the screen `state` is at."""
    if not menu.has_screen(state.screen):
        raise StateError(f"screen {state.screen} is not in menu {menu.version}")
    screen = menu.screen(state.screen)
    if screen.kind is Kind.CHOICES:
        return _choose(menu, state, screen, text.strip(), view)
    if screen.kind is Kind.INPUT:
        return _take_input(menu, state, screen, text, view)
    return _show(menu, state, screen, view)  # a final text answered: it is shown again


# --- choices


def visible_choices(screen: ScreenDoc, role: Role) -> list[Choice]:
    return [c for c in screen.choices or () if c.visible_to(role)]


def choice_lines(menu: Menu, screen: ScreenDoc, state: SessionState, view: View) -> list[str]:
    language = menu.language_of(view.language)
    values = _shown_inputs(menu, state.inputs, view)
    return [
        f"{number}. {render.fill(render.pick(c.label, language, menu.language), values)}"
        for number, c in enumerate(visible_choices(screen, view.role), start=1)
    ]


def _title(menu: Menu, screen: ScreenDoc, state: SessionState, view: View) -> str | None:
    if screen.title is None:
        return None
    language = menu.language_of(view.language)
    title = render.pick(screen.title, language, menu.language)
    return render.fill(title, _shown_inputs(menu, state.inputs, view))


def pages_of(
    menu: Menu, screen: ScreenDoc, state: SessionState, view: View
) -> tuple[str | None, list[str], render.Nav, list[tuple[int, int]]]:
    title, lines = _title(menu, screen, state, view), choice_lines(menu, screen, state, view)
    nav = render.Nav.of(menu.language_of(view.language))
    try:
        pages = render.paginate(title, lines, nav, view.screen_max_chars, bool(state.back))
    except render.DoesNotFit:  # measured at load for every screen size the config allows
        pages = [(i, i + 1) for i in range(len(lines))]
    return title, lines, nav, pages


def _choose(menu: Menu, state: SessionState, screen: ScreenDoc, text: str, view: View) -> Result:
    pages = pages_of(menu, screen, state, view)[3]
    page = min(state.page, max(len(pages) - 1, 0))
    if text == render.MORE and page + 1 < len(pages):
        return _list_page(menu, state, screen, view, page + 1)
    if text == render.BACK and page > 0:
        return _list_page(menu, state, screen, view, page - 1)
    if text == render.BACK and state.back:
        return _go_back(menu, state, view)
    if pages and text.isascii() and text.isdigit():  # not "¹": int() refuses it
        first, end = pages[page]
        number = int(text)
        if first < number <= end:
            choice = visible_choices(screen, view.role)[number - 1]
            if choice.run is not None:
                return _run(menu, state, choice.run, state.inputs, None, view)
            assert choice.next is not None
            return _enter(menu, state, choice.next, state.inputs, view)
    error = replies.render(menu.language_of(view.language), "ussd_bad_choice")
    return _list_page(menu, state, screen, view, page, error)


def _list_page(
    menu: Menu,
    state: SessionState,
    screen: ScreenDoc,
    view: View,
    page: int,
    error: str | None = None,
) -> Screen:
    title, lines, nav, pages = pages_of(menu, screen, state, view)
    moved = replace(state, page=page)
    if not pages:
        text = replies.render(menu.language_of(view.language), "ussd_nothing_here")
        return Screen(moved, render.clip(text, view.screen_max_chars), final=True)
    text = render.page_text(title, lines, nav, pages, page, bool(state.back))
    return Screen(moved, render.with_error(error, text, view.screen_max_chars))


# --- inputs


def _take_input(
    menu: Menu, state: SessionState, screen: ScreenDoc, text: str, view: View
) -> Result:
    kind = KINDS[screen.arg or ""]
    name = screen.input_name or ""
    language = menu.language_of(view.language)
    words = text.split()
    if _offers_back(state, kind) and words == [render.BACK]:
        return _go_back(menu, state, view)
    if not words:
        return _prompt(menu, state, screen, view, replies.render(language, "ussd_empty_input"))
    try:
        value, end = kind.type.take(words, 0, view.parse_env)
    except ArgValueError as exc:
        why = _reason(language, exc.reason)
        return _prompt(
            menu, state, screen, view, replies.render(language, "ussd_bad_input", why=why)
        )
    if end != len(words):
        why = replies.render(language, "ussd_reason_one_value")
        return _prompt(
            menu, state, screen, view, replies.render(language, "ussd_bad_input", why=why)
        )
    typed = kind.canonical(value)
    if kind.secret:  # the last input: straight into the command, never into the state
        assert screen.run is not None
        return _run(menu, state, screen.run, state.inputs, (name, typed), view)
    inputs = {**state.inputs, name: typed}
    if screen.run is not None:
        return _run(menu, state, screen.run, inputs, None, view)
    assert screen.next is not None
    return _enter(menu, state, screen.next, inputs, view)


def _offers_back(state: SessionState, kind: ArgKind) -> bool:
    return bool(state.back) and not kind.takes_zero


def _reason(language: str, reason: str) -> str:
    try:
        return replies.render(language, f"reason_{reason}")
    except replies.UnknownTemplate:
        return reason.replace("_", " ")


def _prompt(
    menu: Menu, state: SessionState, screen: ScreenDoc, view: View, error: str | None = None
) -> Screen:
    language = menu.language_of(view.language)
    assert screen.prompt is not None
    text = render.fill(
        render.pick(screen.prompt, language, menu.language),
        _shown_inputs(menu, state.inputs, view),
    )
    if _offers_back(state, KINDS[screen.arg or ""]):
        text = f"{text}\n{render.Nav.of(language).back}"
    return Screen(replace(state, page=0), render.with_error(error, text, view.screen_max_chars))


# --- moving on


def _enter(
    menu: Menu, came_from: SessionState, screen_id: str, inputs: dict[str, str], view: View
) -> Result:
    """Show `screen_id`, reached from the screen `came_from` is at (the start: from nowhere)."""
    back = () if screen_id == came_from.screen else (*came_from.back, came_from.screen)
    state = SessionState(screen_id, 0, dict(inputs), back[-BACK_MAX_SCREENS:])
    return _show(menu, state, menu.screen(screen_id), view)


def _go_back(menu: Menu, state: SessionState, view: View) -> Result:
    """The screen before, as first shown there: without the input it had given."""
    previous = state.back[-1]
    if not menu.has_screen(previous):
        raise StateError(f"screen {previous} is not in menu {menu.version}")
    given = menu.screen(previous).input_name
    inputs = {k: v for k, v in state.inputs.items() if k != given}
    return _show(
        menu, SessionState(previous, 0, inputs, state.back[:-1]), menu.screen(previous), view
    )


def _show(menu: Menu, state: SessionState, screen: ScreenDoc, view: View) -> Screen:
    if screen.kind is Kind.CHOICES:
        return _list_page(menu, state, screen, view, state.page)
    if screen.kind is Kind.INPUT:
        return _prompt(menu, state, screen, view)
    assert screen.text is not None
    language = menu.language_of(view.language)
    text = render.fill(
        render.pick(screen.text, language, menu.language), _shown_inputs(menu, state.inputs, view)
    )
    return Screen(state, render.clip(text, view.screen_max_chars), final=True)


def _run(
    menu: Menu,
    state: SessionState,
    template: str,
    inputs: dict[str, str],
    secret: tuple[str, str] | None,
    view: View,
) -> RunCommand:
    done = SessionState(state.screen, 0, dict(inputs), state.back)
    if secret is None:
        command = render.fill(template, inputs)
        return RunCommand(done, command, command)
    name, value = secret
    command = render.fill(template, {**inputs, name: value})
    masked = render.fill(template, {**inputs, name: PIN_MASK})
    return RunCommand(done, command, masked)


def _shown_inputs(menu: Menu, inputs: dict[str, str], view: View) -> dict[str, str]:
    kinds = input_kinds(menu)
    out = {}
    for name, value in inputs.items():
        kind = kinds.get(name)
        if kind is not None and not kind.secret:
            try:
                out[name] = shown(kind, value, view.parse_env, view.currency, view.describe)
            except ValueError:
                out[name] = value
    return out


def input_kinds(menu: Menu) -> dict[str, ArgKind]:
    """Each input name's kind (a checked menu gives a name one kind everywhere)."""
    return {
        screen.input_name: KINDS[screen.arg]
        for screen in menu.doc.screens.values()
        if screen.input_name is not None and screen.arg in KINDS
    }
