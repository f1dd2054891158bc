"""What an API handler may use: the config, the reactor's clock and the database runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.interfaces import IReactorTime

from daemon.clock import NS_PER_S
from daemon.config import Config
from daemon.db import Database


@dataclass
class ApiEnv:
    config: Config
    reactor: IReactorTime
    db: Database
    # Shared objects the route modules put here at start-up (rate limiters, the stream hub ...),
    # by the module's own name, so one module's state never collides with another's.
    services: dict[str, Any] = field(default_factory=dict)

    def now_ns(self) -> int:
        return int(self.reactor.seconds() * NS_PER_S)
