"""The policy in plain Python: scopes by division-code prefix, own records, no database."""

from __future__ import annotations

from tongban.access.domain import (
    Allow,
    Deny,
    Grant,
    Principal,
    PrincipalKind,
    Role,
    Scope,
    Target,
    action_matches,
    decide,
    division_prefix,
)


def staff(role: Role, division: str = "110105", office: str = "OFF-A") -> Principal:
    return Principal(
        id="1",
        kind=PrincipalKind.STAFF,
        role=role,
        display_name="x",
        node="110000",
        division_code=division,
        office_code=office,
    )


def citizen(person: str = "p-1") -> Principal:
    return Principal(
        id="2",
        kind=PrincipalKind.CITIZEN,
        role=Role.CITIZEN,
        display_name="x",
        node="110000",
        person_ref=person,
    )


def test_nobody_signed_in_is_denied() -> None:
    assert decide(None, "registry.person.read") == Deny("unauthenticated")


def test_a_clerk_reads_persons_of_their_county_only() -> None:
    clerk = staff(Role.WINDOW_CLERK)
    assert decide(clerk, "registry.person.read") == Allow(Scope.COUNTY)
    assert decide(clerk, "registry.person.read", Target(division_code="110105")) == Allow(Scope.COUNTY)
    assert decide(clerk, "registry.person.read", Target(division_code="110108")) == Deny("out-of-scope")
    assert decide(clerk, "registry.person.read", Target(division_code="310101")) == Deny("out-of-scope")
    assert decide(clerk, "registry.person.read", Target()) == Deny("out-of-scope")


def test_prefixes_of_prefecture_and_province() -> None:
    p = Principal(
        id="t",
        kind=PrincipalKind.SYSTEM,
        role=None,
        display_name="sys",
        node="110000",
        division_code="110105",
        token_grants=(
            Grant("registry.person.read", Scope.PREFECTURE),
            Grant("cases.case.read", Scope.PROVINCE),
        ),
    )
    assert isinstance(decide(p, "registry.person.read", Target(division_code="110108")), Allow)
    assert isinstance(decide(p, "registry.person.read", Target(division_code="110228")), Deny)
    assert isinstance(decide(p, "cases.case.read", Target(division_code="110228")), Allow)
    assert isinstance(decide(p, "cases.case.read", Target(division_code="120101")), Deny)
    assert isinstance(decide(p, "cases.case.create"), Deny)
    assert division_prefix(p, Scope.PREFECTURE) == "1101"
    assert division_prefix(p, Scope.PROVINCE) == "11"
    assert division_prefix(p, Scope.NATION) == ""
    assert division_prefix(p, Scope.OFFICE) is None


def test_a_citizen_sees_only_their_own_record() -> None:
    me = citizen("p-1")
    assert isinstance(
        decide(me, "registry.person.read", Target(person_ref="p-1", division_code="110105")), Allow
    )
    assert decide(me, "registry.person.read", Target(person_ref="p-2", division_code="110105")) == Deny(
        "out-of-scope"
    )
    assert decide(me, "registry.person.search") == Deny("no-permission")


def test_an_enterprise_user_sees_only_their_enterprise() -> None:
    eu = Principal(
        id="3",
        kind=PrincipalKind.ENTERPRISE,
        role=Role.ENTERPRISE_USER,
        display_name="x",
        node="110000",
        enterprise_id="E1",
    )
    assert isinstance(decide(eu, "cases.case.read", Target(enterprise_id="E1")), Allow)
    assert isinstance(decide(eu, "cases.case.read", Target(enterprise_id="E2")), Deny)
    assert isinstance(decide(eu, "registry.person.read", Target(person_ref="p-1")), Deny)


def test_office_scope_needs_the_same_office() -> None:
    clerk = staff(Role.WINDOW_CLERK)
    assert isinstance(
        decide(clerk, "cases.case.update", Target(division_code="110105", office_code="OFF-A")), Allow
    )
    assert isinstance(
        decide(clerk, "cases.case.update", Target(division_code="110105", office_code="OFF-B")), Deny
    )


def test_grants_limited_to_matters() -> None:
    g = Grant("cases.case.decide", Scope.COUNTY, matters=frozenset({"CERT"}))
    assert g.matches("cases.case.decide", "CERT") and not g.matches("cases.case.decide", "MIG-JOB")
    assert action_matches("cases.*.read", "cases.task.read") and not action_matches(
        "cases.*", "cases.task.read"
    )


def test_national_supervisor_reviews_everywhere_but_reads_no_persons() -> None:
    ns = staff(Role.NATIONAL_SUPERVISOR)
    assert decide(ns, "access.log.read", Target(division_code="650102")) == Allow(Scope.NATION)
    assert decide(ns, "registry.person.read") == Deny("no-permission")
