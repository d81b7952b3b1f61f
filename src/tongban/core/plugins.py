"""Capabilities are found by their package layout, not by a hand-kept list.

Each capability package ``tongban.<name>`` may have any of these modules, which are imported when needed:
``tables`` (ORM tables), ``cli`` (``register(app)``), ``pages`` / ``api`` (``router``), ``bench``
(``register(bench_app)``), ``middleware`` (``install(app)``), ``runtime`` (``attach(runtime)``).
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from types import ModuleType

import tongban

_NOT_CAPABILITIES = {"core", "web", "migrations", "locale", "data", "bench"}


def capability_names() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(tongban.__path__) if m.ispkg and m.name not in _NOT_CAPABILITIES
    )


def capability_modules(kind: str) -> list[ModuleType]:
    """Import ``tongban.<capability>.<kind>`` for every capability that has one, in name order."""
    found = []
    for name in capability_names():
        full = f"tongban.{name}.{kind}"
        if importlib.util.find_spec(full) is not None:
            found.append(importlib.import_module(full))
    return found


def load_all_tables() -> None:
    """Import every capability's tables so that ``Base.metadata`` knows the whole schema."""
    capability_modules("tables")
