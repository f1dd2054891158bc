"""A menu for people to read: its paths (what one walks through to each command) and its screens
as a tree (rich), for `smscore menu check|show` and the reference device's `smscore device menu`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from rich.markup import escape
from rich.tree import Tree

from daemon.ussd.menu import Menu, ScreenDoc
from daemon.ussd.render import pick


@dataclass(frozen=True, slots=True)
class MenuPath:
    steps: tuple[str, ...]  # choice labels and input names, in order
    run: str  # the command template it ends in

    def shown(self) -> str:
        return f"{' > '.join(self.steps)}: {self.run}"


def menu_paths(menu: Menu, language: str | None = None) -> list[MenuPath]:
    """Every path from the start screen to a command (a screen once per path: no loops)."""
    language = language or menu.language
    return list(_paths(menu, menu.start, (), frozenset(), language))


def _paths(
    menu: Menu, screen_id: str, steps: tuple[str, ...], seen: frozenset[str], language: str
) -> Iterator[MenuPath]:
    if screen_id in seen:
        return
    seen = seen | {screen_id}
    screen = menu.screen(screen_id)
    for choice in screen.choices or ():
        label = pick(choice.label, language, menu.language)
        if choice.run is not None:
            yield MenuPath((*steps, label), choice.run)
        elif choice.next is not None:
            yield from _paths(menu, choice.next, (*steps, label), seen, language)
    if screen.arg is not None:
        here = (*steps, screen.input_name or "")
        if screen.run is not None:
            yield MenuPath(here, screen.run)
        elif screen.next is not None:
            yield from _paths(menu, screen.next, here, seen, language)


def services(menu: Menu, language: str | None = None) -> list[str]:
    """The start screen's choices: what the menu offers, in `language`."""
    language = language or menu.language
    start = menu.screen(menu.start)
    return [pick(c.label, language, menu.language) for c in start.choices or ()]


def menu_tree(menu: Menu, language: str | None = None) -> Tree:
    language = language or menu.language
    tree = Tree(f"menu {menu.version} ({', '.join(menu.codes)}), {language}")
    _add_screen(tree, menu, menu.start, language, set())
    return tree


def _roles(roles: list | None) -> str:
    return f" [dim]({', '.join(r.value for r in roles)})[/dim]" if roles else ""


def _add_screen(parent: Tree, menu: Menu, screen_id: str, language: str, shown: set[str]) -> None:
    screen = menu.screen(screen_id)
    if screen_id in shown:
        parent.add(f"[dim]{screen_id}: shown above[/dim]")
        return
    shown.add(screen_id)
    node = parent.add(f"[bold]{screen_id}[/bold]: {_heading(screen, menu, language)}")
    for number, choice in enumerate(screen.choices or (), start=1):
        label = escape(pick(choice.label, language, menu.language))
        branch = node.add(f"{number}. {label}{_roles(choice.roles)}")
        if choice.run is not None:
            branch.add(f"[green]runs {escape(choice.run)}[/green]")
        elif choice.next is not None:
            _add_screen(branch, menu, choice.next, language, shown)
    if screen.run is not None:
        node.add(f"[green]runs {escape(screen.run)}[/green]")
    elif screen.next is not None:
        _add_screen(node, menu, screen.next, language, shown)


def _heading(screen: ScreenDoc, menu: Menu, language: str) -> str:
    if screen.arg is not None and screen.prompt is not None:
        prompt = pick(screen.prompt, language, menu.language).replace("\n", " / ")
        return f"input {screen.input_name} ({screen.arg}): {escape(prompt)}"
    if screen.text is not None:
        return f"text: {escape(pick(screen.text, language, menu.language))}"
    title = pick(screen.title, language, menu.language) if screen.title else ""
    return f"choices: {escape(title)}".rstrip(": ")
