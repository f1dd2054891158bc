"""The checks of a menu beyond its shapes, run when it is loaded: every screen reachable and every
`next` known; each label in every language of the menu; each `{input}` a text or a run names
collected on every path to it; a PIN the last input; each run's command known to the registry and
parsing as it would from an SMS with each input in an argument of its kind
(daemon.ussd.menu_runs); and every screen, in every language, fitting the network's screen
with the longest values it may show. The first problem is a MenuError: `FILE: screen X: problem`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from daemon import replies
from daemon.commands.errors import ParseError
from daemon.commands.types import ParseEnv
from daemon.ussd import render
from daemon.ussd.arg_kinds import KINDS
from daemon.ussd.menu import Kind, Menu, MenuError, ScreenDoc
from daemon.ussd.menu_runs import landing_problems, samples_of

if TYPE_CHECKING:
    from daemon.commands.registry import Registry

ALL = frozenset({"*"})  # "every input": the start of the must-have analysis


def check_menu(
    menu: Menu, registry: Registry | None, screen_max_chars: int, env: ParseEnv | None = None
) -> None:
    def fail(screen_id: str | None, problem: str) -> MenuError:
        where = f"screen {screen_id}: " if screen_id else ""
        return MenuError(f"{menu.source}: {where}{problem}")

    _check_links(menu, fail)
    arrive = collected_on_arrival(menu)
    for screen_id, screen in menu.doc.screens.items():
        _check_languages(menu, screen_id, screen, fail)
        _check_fields(menu, screen_id, screen, arrive[screen_id], fail)
        for template, available in _runs(menu, screen, arrive[screen_id]):
            _check_run(menu, screen_id, template, available, registry, env or ParseEnv(), fail)
        _check_fits(menu, screen_id, screen, screen_max_chars, fail)


def _check_links(menu: Menu, fail) -> None:
    if not menu.has_screen(menu.start):
        raise fail(None, f"menu.start: no screen {menu.start}")
    kinds: dict[str, str] = {}
    for screen_id, screen in menu.doc.screens.items():
        for target in _nexts(screen):
            if not menu.has_screen(target):
                raise fail(screen_id, f"next: no screen {target}")
        if screen.arg is not None:
            if screen.arg not in KINDS:
                known = ", ".join(KINDS)
                raise fail(screen_id, f"arg: unknown type {screen.arg} (one of {known})")
            name = screen.input_name or ""
            if kinds.setdefault(name, screen.arg) != screen.arg:
                raise fail(
                    screen_id, f"input {name} is a {kinds[name]} elsewhere, here a {screen.arg}"
                )
            if KINDS[screen.arg].secret and screen.next is not None:
                raise fail(screen_id, "a PIN is the last input before run: this step must run")
    reached = _reachable(menu)
    for screen_id in menu.doc.screens:
        if screen_id not in reached:
            raise fail(screen_id, f"unreachable from the start screen {menu.start}")


def _nexts(screen: ScreenDoc) -> list[str]:
    targets = [c.next for c in screen.choices or () if c.next is not None]
    return [*targets, *([screen.next] if screen.next else [])]


def _reachable(menu: Menu) -> set[str]:
    reached, todo = {menu.start}, [menu.start]
    while todo:
        for target in _nexts(menu.screen(todo.pop())):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return reached


def _gives(screen: ScreenDoc) -> frozenset[str]:
    """The input a screen's step adds to the session (a PIN is never kept)."""
    name = screen.input_name
    if name is None or KINDS.get(screen.arg or "") is None or KINDS[screen.arg or ""].secret:
        return frozenset()
    return frozenset({name})


def collected_on_arrival(menu: Menu) -> dict[str, frozenset[str]]:
    """The inputs a session has, whichever path it took, when it arrives at each screen."""
    arrive: dict[str, frozenset[str]] = {s: ALL for s in menu.doc.screens}
    arrive[menu.start] = frozenset()
    changed = True
    while changed:
        changed = False
        for screen_id, screen in menu.doc.screens.items():
            have = arrive[screen_id]
            out = have if have == ALL else have | _gives(screen)
            for target in _nexts(screen):
                was = arrive[target]
                now = out if was == ALL else (was if out == ALL else was & out)
                if now != was:
                    arrive[target], changed = now, True
    return arrive


def _texts(screen: ScreenDoc) -> Iterator[tuple[str, dict[str, str]]]:
    for name in ("title", "prompt", "text"):
        labels = getattr(screen, name)
        if labels is not None:
            yield name, labels
    for index, choice in enumerate(screen.choices or (), start=1):
        yield f"choice {index}", choice.label


def _check_languages(menu: Menu, screen_id: str, screen: ScreenDoc, fail) -> None:
    for where, labels in _texts(screen):
        missing = [lang for lang in menu.languages if lang not in labels]
        if missing:
            raise fail(screen_id, f"{where}: no label in {', '.join(missing)}")
        extra = [lang for lang in labels if lang not in menu.languages]
        if extra:
            raise fail(screen_id, f"{where}: {', '.join(extra)} is not in the menu's languages")


def _check_fields(
    menu: Menu, screen_id: str, screen: ScreenDoc, have: frozenset[str], fail
) -> None:
    for where, labels in _texts(screen):
        for language, text in labels.items():
            try:
                names = render.fields_of(text)
            except ValueError as exc:
                raise fail(screen_id, f"{where} ({language}): {exc}") from None
            for name in names:
                if name not in have:
                    raise fail(
                        screen_id,
                        f"{where} ({language}): {{{name}}} is not collected on every path here",
                    )


def _runs(menu: Menu, screen: ScreenDoc, have: frozenset[str]) -> Iterator[tuple[str, frozenset]]:
    for choice in screen.choices or ():
        if choice.run is not None:
            yield choice.run, have
    if screen.run is not None:
        yield screen.run, have | {screen.input_name or ""}


def _check_run(
    menu: Menu,
    screen_id: str,
    template: str,
    available: frozenset[str],
    registry: Registry | None,
    env: ParseEnv,
    fail,
) -> None:
    try:
        names = render.fields_of(template)
    except ValueError as exc:
        raise fail(screen_id, f"run {template!r}: {exc}") from None
    kinds = _kinds_by_name(menu)
    for name in names:
        if name not in available:
            if name in kinds and KINDS[kinds[name]].secret:
                raise fail(
                    screen_id,
                    f"run {template!r}: {{{name}}} is a PIN asked before: a PIN is the last input before run",
                )
            raise fail(
                screen_id, f"run {template!r}: {{{name}}} is not collected on every path here"
            )
    if registry is None:
        return
    words = template.split()
    if not words or registry.lookup(words[0]) is None:
        raise fail(screen_id, f"run {template!r}: {words[0] if words else ''} is not a command")
    samples = samples_of(names, kinds, env)
    try:
        parsed = registry.parse(render.fill(template, samples), env)
    except ParseError as exc:
        why = registry.explain(exc, replies.DEFAULT_LANGUAGE)
        raise fail(screen_id, f"run {template!r} does not parse as an SMS would: {why}") from None
    problems = landing_problems(parsed, samples, kinds, env)
    if problems:
        raise fail(screen_id, f"run {template!r}: {'; '.join(problems)}")


def _kinds_by_name(menu: Menu) -> dict[str, str]:
    return {
        s.input_name: s.arg
        for s in menu.doc.screens.values()
        if s.input_name is not None and s.arg is not None
    }


def _check_fits(menu: Menu, screen_id: str, screen: ScreenDoc, max_chars: int, fail) -> None:
    worst = {name: KINDS[kind].worst_shown() for name, kind in _kinds_by_name(menu).items()}
    for language in menu.languages:
        problem = _fit_problem(screen, language, worst, max_chars)
        if problem:
            raise fail(screen_id, f"({language}) {problem}")


def _fit_problem(
    screen: ScreenDoc, language: str, worst: dict[str, str], max_chars: int
) -> str | None:
    nav = render.Nav.of(language)
    limit = f"{max_chars} characters (ussd.screen_max_chars)"
    if screen.kind is Kind.CHOICES:
        title = render.fill(screen.title[language], worst) if screen.title else None
        for number, choice in enumerate(screen.choices or (), start=1):
            line = f"{number}. {render.fill(choice.label[language], worst)}"
            page = render.compose(title, [line], nav, back=True, more=True)
            if not render.fits(page, max_chars, nav.reserve):
                return f"choice {number} with the title and paging does not fit {limit}"
        return None
    if screen.kind is Kind.TEXT:
        assert screen.text is not None
        if not render.fits(render.fill(screen.text[language], worst), max_chars):
            return f"the text does not fit {limit} with the longest inputs"
        return None
    assert screen.prompt is not None
    prompt = render.fill(screen.prompt[language], worst)
    back = not KINDS[screen.arg or ""].takes_zero  # 0 is Back there: "0. Back" under the prompt
    if back:
        prompt = f"{prompt}\n{nav.back}"
    for error in _input_errors(screen, language):
        if not render.fits(f"{error}\n{prompt}", max_chars):
            return f"the prompt with its longest error{' and Back' * back} does not fit {limit}"
    return None


def _input_errors(screen: ScreenDoc, language: str) -> list[str]:
    kind = KINDS[screen.arg or ""]
    whys = [replies.render(language, f"reason_{r}") for r in kind.reasons]
    whys.append(replies.render(language, "ussd_reason_one_value"))
    errors = [replies.render(language, "ussd_bad_input", why=why) for why in whys]
    return [*errors, replies.render(language, "ussd_empty_input")]
