"""Environment overrides of config keys: `SMSCORE_DATABASE__URL=postgresql://...`,
`SMSCORE_LOGGING__LEVEL=debug`, `SMSCORE_BINDS__0__HOST=10.0.0.5` (a list by index; the next free
index adds an entry), `SMSCORE_LOGGING__LEVELS__SMPP=debug` (a table's own keys).

The variable names the key path (sections and keys joined by `__`, any case); only `SMSCORE_`
variables with a `__` are overrides, so `SMSCORE_CONFIG` and a bind's `password_env` variable are
left alone. They apply over the TOML file and under the command line's options. The value is the
key's text for a key that takes text (a password of digits stays a string), else parsed as a TOML
value (`2775`, `1.5`, `true`, `["SEND", "PAY"]`) and left as text when it is none. A path that
names no key is refused like an unknown key in the file: one line naming the variable.

A variable with no `__` whose name starts with a section (`SMSCORE_LOGGING_LEVEL`) is no override,
but it is probably meant as one: `look_alike_variables` says so (a warning of `smscore run` and
`smscore config check`), with the `__` spelling when the rest names a key.
"""

import enum
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from daemon.config_base import ConfigError

PREFIX = "SMSCORE_"
SEPARATOR = "__"
NOT_CONFIG = frozenset({"SMSCORE_CONFIG"})  # smscore's own variables that are no config key

Key = tuple[str | int, ...]


@dataclass(frozen=True)
class Override:
    variable: str
    key: Key
    value: Any

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.key)


def env_overrides(environ: Mapping[str, str], root: type[BaseModel]) -> list[Override]:
    """The overrides in `environ` for the model `root`, in key order; ConfigError for one that
    names no key of it."""
    found = []
    for variable, text in environ.items():
        name = variable.upper()
        if not name.startswith(PREFIX) or SEPARATOR not in name:
            continue
        parts = name.removeprefix(PREFIX).lower().split(SEPARATOR)
        key, target = _resolve(variable, parts, root)
        found.append(Override(variable, key, _value(text, target)))
    return sorted(found, key=lambda override: override.key)


def look_alike_variables(
    environ: Mapping[str, str], root: type[BaseModel], named: frozenset[str] = frozenset()
) -> list[str]:
    """A warning for each SMSCORE_ variable without `__` that starts with a section of `root`
    (`named`: variables the config itself names, such as a bind's password_env, are meant)."""
    warnings = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(PREFIX) or SEPARATOR in name or name in NOT_CONFIG | named:
            continue
        words = name.removeprefix(PREFIX).lower().split("_")
        if words[0] not in root.model_fields:
            continue
        path = _spelt_out(words, root)
        meant = f" ({PREFIX}{SEPARATOR.join(path).upper()} sets {'.'.join(path)})" if path else ""
        warnings.append(
            f"environment variable {variable} is ignored: sections and keys are joined by "
            f"{SEPARATOR}{meant}"
        )
    return warnings


def _spelt_out(words: list[str], annotation: Any) -> list[str] | None:
    """`words` split into a key path of `annotation` (each key a run of words joined by `_`), or
    None when none fits."""
    if not words:
        return []
    target = _unwrap(annotation)
    model, origin = _model_in(target), typing.get_origin(target)
    if origin is dict:
        return ["_".join(words)]
    if origin is list:
        rest = _spelt_out(words[1:], typing.get_args(target)[0]) if words[0].isdigit() else None
        return None if rest is None else [words[0], *rest]
    if model is None:
        return None
    for end in range(len(words), 0, -1):  # the longest key first: dedupe_window_s, not dedupe
        key = "_".join(words[:end])
        if key in model.model_fields:
            rest = _spelt_out(words[end:], model.model_fields[key].annotation)
            if rest is not None:
                return [key, *rest]
    return None


def apply_overrides(data: dict, overrides: list[Override]) -> dict[str, str]:
    """Set each override in the parsed TOML `data` (in place); return {dotted key: variable}."""
    origins = {}
    for override in overrides:
        _set(data, override)
        origins[override.dotted] = override.variable
    return origins


def _resolve(variable: str, parts: list[str], root: type[BaseModel]) -> tuple[Key, Any]:
    """The key path (list indexes as ints) and the annotation of the key it ends at."""
    key: list[str | int] = []
    target: Any = root
    for part in parts:
        target = _unwrap(target)
        model = _model_in(target)
        origin = typing.get_origin(target)
        if model is not None and part in model.model_fields:
            key.append(part)
            target = model.model_fields[part].annotation
        elif origin is list and part.isdigit():
            key.append(int(part))
            target = typing.get_args(target)[0]
        elif origin is dict and part:
            key.append(part)
            target = typing.get_args(target)[1]
        else:
            where = ".".join(str(k) for k in [*key, part])
            problem = "not a list index" if origin is list else "unknown key"
            raise ConfigError(f"environment variable {variable}: {where}: {problem}")
    return tuple(key), target


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated[...] and `X | None`."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            arms = [arm for arm in typing.get_args(annotation) if arm is not type(None)]
            annotation = arms[0]
        else:
            return annotation


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _takes_text(annotation: Any) -> bool:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(choice, str) for choice in typing.get_args(annotation))
    return isinstance(annotation, type) and issubclass(
        annotation, str | SecretStr | Path | enum.Enum
    )


def _value(text: str, annotation: Any) -> Any:
    if _takes_text(annotation):
        return text
    try:
        parsed = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError:
        return text  # validation names the variable and what the key wants
    return parsed["value"] if list(parsed) == ["value"] else text


def _set(data: dict, override: Override) -> None:
    node: Any = data
    *path, last = override.key
    for depth, part in enumerate(path):
        following = override.key[depth + 1]
        node = _child(node, part, [] if isinstance(following, int) else {}, override)
    if isinstance(last, int):
        _check_index(node, last, override)
        if last == len(node):
            node.append(override.value)
            return
    elif not isinstance(node, dict):
        _refuse(override, "the file gives this key a value that is not a table")
    node[last] = override.value


def _child(node: Any, part: str | int, empty: list | dict, override: Override) -> Any:
    if isinstance(part, int):
        _check_index(node, part, override)
        if part == len(node):
            node.append(empty)
        child = node[part]
    else:
        if not isinstance(node, dict):
            _refuse(override, "the file gives this key a value that is not a table")
        child = node.setdefault(part, empty)
    if not isinstance(child, type(empty)):
        _refuse(override, f"the file gives {part} a value that is not a {type(empty).__name__}")
    return child


def _check_index(node: Any, index: int, override: Override) -> None:
    if not isinstance(node, list):
        _refuse(override, "the file gives this key a value that is not a list")
    if index > len(node):
        _refuse(override, f"the list has {len(node)} entries; the next one is index {len(node)}")


def _refuse(override: Override, problem: str) -> typing.NoReturn:
    raise ConfigError(f"environment variable {override.variable}: {override.dotted}: {problem}")
