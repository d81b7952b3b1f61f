"""Every route of the app has an entry in the expectation table, and every role gets what the table says.

The table (``tongban.access.expectations``) is kept beside the permission table. A route without an entry
fails here; so does a grant changed without its expectation, for any role and any scope.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tongban.access.domain import (
    GRANTS,
    Allow,
    Principal,
    PrincipalKind,
    Role,
    Scope,
    Target,
    action_matches,
    decide,
)
from tongban.access.expectations import EXPECTED, ROUTES
from tongban.core.db import Database
from tongban.core.routing import declared_routes

from .helpers import add, anonymous, make_env, signed_in


def _key(methods: tuple[str, ...], path: str) -> list[str]:
    return [f"{m} {path}" for m in methods if m != "HEAD"]


def test_every_route_has_an_expected_rule_and_declares_it(database: Database, tmp_path: Path) -> None:
    env = make_env(database, tmp_path)
    seen = set()
    for route in declared_routes(env.app.routes):
        for key in _key(route.methods, route.path):
            seen.add(key)
            assert key in ROUTES, f"route {key} has no entry in tongban.access.expectations.ROUTES"
            assert route.rule is not None
            assert route.rule.action == ROUTES[key], (
                f"{key} declares {route.rule.action}, table says {ROUTES[key]}"
            )
    assert set(ROUTES) - seen == set(), "entries for routes that do not exist"


def test_the_expectations_cover_every_grant() -> None:
    actions = list(EXPECTED)
    for role, grants in GRANTS.items():
        for grant in grants:
            assert any(action_matches(grant.pattern, a) for a in actions), f"{role}: {grant.pattern} untested"
    for action in {a for a in ROUTES.values() if a}:
        assert action in EXPECTED, f"action {action} of a route has no row in EXPECTED"


HOME = dict(division="110105", office="OFF-A")
# Where a target lies relative to a principal of division 110105, office OFF-A, person p-self, enterprise e-self.
PLACES: dict[str, tuple[Target, Scope | None]] = {
    "same office": (
        Target(division_code="110105", office_code="OFF-A", person_ref="p-x", enterprise_id="e-x"),
        Scope.OFFICE,
    ),
    "same county": (
        Target(division_code="110105", office_code="OFF-B", person_ref="p-x", enterprise_id="e-x"),
        Scope.COUNTY,
    ),
    "same prefecture": (
        Target(division_code="110108", office_code="OFF-C", person_ref="p-x", enterprise_id="e-x"),
        Scope.PREFECTURE,
    ),
    "same province": (
        Target(division_code="110228", office_code="OFF-D", person_ref="p-x", enterprise_id="e-x"),
        Scope.PROVINCE,
    ),
    "other province": (
        Target(division_code="310101", office_code="OFF-E", person_ref="p-x", enterprise_id="e-x"),
        Scope.NATION,
    ),
    "own record": (
        Target(division_code="310101", office_code="OFF-E", person_ref="p-self", enterprise_id="e-self"),
        None,
    ),
}


def principal(role: Role) -> Principal:
    kind = {Role.CITIZEN: PrincipalKind.CITIZEN, Role.ENTERPRISE_USER: PrincipalKind.ENTERPRISE}.get(
        role, PrincipalKind.STAFF
    )
    staff = kind is PrincipalKind.STAFF
    return Principal(
        id="9",
        kind=kind,
        role=role,
        display_name="t",
        node="110000",
        division_code="110105" if staff else None,
        office_code="OFF-A" if staff else None,
        person_ref="p-self" if role is Role.CITIZEN else None,
        enterprise_id="e-self" if role is Role.ENTERPRISE_USER else None,
    )


def expected_at(role: Role, widest: Scope | None, place: str) -> bool:
    if widest is None:
        return False
    needed = PLACES[place][1]
    if (
        needed is None
    ):  # the principal's own record: own-scope grants of citizens and enterprises, or the nation
        return widest is Scope.NATION or (
            widest is Scope.OWN and role in (Role.CITIZEN, Role.ENTERPRISE_USER)
        )
    if widest is Scope.OWN:
        return False
    return widest >= needed


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_every_role_reaches_exactly_its_expected_scope(action: str) -> None:
    for role in Role:
        p = principal(role)
        widest = EXPECTED[action][role]
        overall = decide(p, action)
        assert isinstance(overall, Allow) == (widest is not None), (action, role)
        if widest is not None:
            assert isinstance(overall, Allow) and overall.scope == widest, (action, role)
        for place, (target, _) in PLACES.items():
            got = isinstance(decide(p, action, target), Allow)
            assert got == expected_at(role, widest, place), (action, role, place)


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "999999", path)


def test_every_route_answers_every_role_as_the_table_says(database: Database, tmp_path: Path) -> None:
    """Over HTTP: denied roles get 403, allowed roles never get 401/403, nobody signed in gets 401."""
    env = make_env(database, tmp_path)
    users = {role: add(env, role, f"u-{role.value}", person="p-self", enterprise="e-self") for role in Role}
    for route in declared_routes(env.app.routes):
        for key in _key(route.methods, route.path):
            method, path = key.split(" ", 1)
            action = ROUTES[key]
            url = _fill(path)
            if action is None:
                client, csrf = anonymous(env)
                status = client.request(method, url, headers={"x-csrf-token": csrf}).status_code
                assert status not in (401, 403), (key, status)
                continue
            client, csrf = anonymous(env)
            status = client.request(
                method, url, headers={"x-csrf-token": csrf, "accept": "application/json"}
            ).status_code
            assert status == 401, (key, "anonymous", status)
            for role, user in users.items():
                client, csrf = signed_in(env, user)
                status = client.request(
                    method, url, headers={"x-csrf-token": csrf, "accept": "application/json"}
                ).status_code
                if EXPECTED[action][role] is None:
                    assert status == 403, (key, role, status)
                else:
                    assert status not in (401, 403), (key, role, status)
