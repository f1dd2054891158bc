"""The API's long-running parts (the worker that completes accepted requests, the callback
deliverer, the channels' stream hub and SMS push), registered by their modules with the roles that
run them; the service builds the ones of its role (daemon.service)."""

from __future__ import annotations

from collections.abc import Callable

from daemon.api.env import ApiEnv
from daemon.components import Component

ComponentFactory = Callable[[ApiEnv], "Component | None"]  # None: switched off in the config
_FACTORIES: list[tuple[frozenset[str], ComponentFactory]] = []


def api_component(*roles: str) -> Callable[[ComponentFactory], ComponentFactory]:
    def register(factory: ComponentFactory) -> ComponentFactory:
        _FACTORIES.append((frozenset(roles), factory))
        return factory

    return register


def api_components(env: ApiEnv, role: str) -> list[Component]:
    built = (factory(env) for roles, factory in _FACTORIES if role in roles)
    return [component for component in built if component is not None]
