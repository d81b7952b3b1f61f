"""Every route declares its rule: an action it needs, or that it is public.

``requires("registry.person.read")`` and ``public()`` are FastAPI dependencies that carry their rule; the app
factory refuses to start when a route has neither. The check itself is done by the authorizer installed on
``app.state.authorizer`` (the access capability); without one (tests of a single capability), only the
declaration is enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Depends, Request
from fastapi.routing import APIRoute


class Authorizer(Protocol):
    async def check(self, request: Request, action: str) -> None:
        """Raise ``Unauthenticated`` / ``Forbidden`` when the request's user may not do ``action``."""
        ...


@dataclass(frozen=True)
class Rule:
    action: str | None  # None = public

    async def __call__(self, request: Request) -> None:
        authorizer: Authorizer | None = getattr(request.app.state, "authorizer", None)
        if self.action is not None and authorizer is not None:
            await authorizer.check(request, self.action)
        request.state.rule = self


def requires(action: str) -> Any:
    """Dependency: the route needs permission for ``action`` (``capability.object.verb``)."""
    return Depends(Rule(action))


def public() -> Any:
    """Dependency: the route is open to anyone (sign-in page, paper verification, health)."""
    return Depends(Rule(None))


def route_rule(route: APIRoute) -> Rule | None:
    for dep in route.dependant.dependencies:
        if isinstance(dep.call, Rule):
            return dep.call
    return None


def undeclared_routes(routes: list[Any]) -> list[str]:
    """Paths of API routes that declare no rule."""
    missing = []
    for route in routes:
        if isinstance(route, APIRoute) and route_rule(route) is None:
            missing.append(f"{sorted(route.methods or ())} {route.path}")
    return missing
