"""Every route declares its rule: an action it needs, or that it is public.

``requires("registry.person.read")`` and ``public()`` are FastAPI dependencies that carry their rule; the app
factory refuses to start when a route has neither. The check itself is done by the authorizer installed on
``app.state.authorizer`` (the access capability); without one (tests of a single capability), only the
declaration is enforced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, Path, Request
from fastapi.routing import APIRoute, iter_route_contexts

# The largest row id: ids are ``Integer`` columns, 32-bit on PostgreSQL (SQLite's hold 64 bits).
MAX_ROW_ID = 2**31 - 1

# A path parameter naming a row by its id: anything outside 1..MAX_ROW_ID is invalid input (422), never passed
# to a query (SQLite's driver raises OverflowError past 64 bits, PostgreSQL a range error past 32).
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


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


@dataclass(frozen=True)
class DeclaredRoute:
    methods: tuple[str, ...]
    path: str
    rule: Rule | None


def _rule_of(dependant: Any) -> Rule | None:
    for dep in getattr(dependant, "dependencies", ()):
        if isinstance(dep.call, Rule):
            return dep.call
    return None


def declared_routes(routes: list[Any]) -> list[DeclaredRoute]:
    """Every API route of an app (included routers flattened), with the rule it declares."""
    found = []
    for ctx in iter_route_contexts(routes):
        if not isinstance(ctx.original_route, APIRoute):
            continue
        dependant = getattr(ctx, "dependant", None) or ctx.original_route.dependant
        found.append(DeclaredRoute(tuple(sorted(ctx.methods or ())), str(ctx.path), _rule_of(dependant)))
    return found


def undeclared_routes(routes: list[Any]) -> list[str]:
    """``METHODS path`` of the API routes that declare no rule."""
    return [f"{','.join(r.methods)} {r.path}" for r in declared_routes(routes) if r.rule is None]
