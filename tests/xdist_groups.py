"""The suite's xdist scheduler: a module whose tests share a module-scoped fixture (a running
daemon and simulator, mostly) runs on one worker, every other test goes wherever a worker is free.

Split over two workers, such a module would start its service twice (~3 s of CPU each, more on a
loaded machine). xdist's own `loadgroup` would do this with xdist_group marks, but xdist 3.8
renames the grouped items through an attribute pytest 9 no longer reads, so it groups nothing.
The controller sees node ids only, not fixtures: a module is grouped when it, or the conftest.py
of its directory, declares a module-scoped fixture (e2e and browser tests, a few others).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

_MODULE_SCOPE = re.compile(r"""scope\s*=\s*["']module["']""")


@cache
def _declares_module_scope(path: Path) -> bool:
    try:
        return bool(_MODULE_SCOPE.search(path.read_text(encoding="utf-8")))
    except OSError:
        return False


def shares_a_module_fixture(root: Path, module: str) -> bool:
    path = root / module
    return _declares_module_scope(path) or _declares_module_scope(path.parent / "conftest.py")


class ModuleServiceScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        if shares_a_module_fixture(self.config.rootpath, module):
            return module
        return nodeid  # its own unit: scheduled like --dist load
