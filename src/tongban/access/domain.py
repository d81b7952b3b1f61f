"""Who may do what, and where: roles, scopes, the role→permission table and the policy, in plain Python.

A permission is an action (``capability.object.verb``, e.g. ``registry.person.read``) within a scope.
Staff hold a role in an office of a division (six-digit GB/T 2260 county code); the scope of a grant says
how far from that division a target may lie: their own office, county (all six digits), prefecture (first
four), province (first two), or the nation. A citizen's grants have scope ``own``: only records of the
person they are; an enterprise user's likewise only their enterprise's.

``decide(principal, action, target)`` answers ``Allow`` or ``Deny``. With no target it answers whether the
principal may do the action anywhere at all (what a route checks before it loads a record); with a target
it also checks the target lies within the grant's scope (what a route checks once it knows the record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import ClassVar

from tongban.core.errors import TongbanError


def N_(message: str) -> str:  # noqa: N802 - gettext convention; the domain imports no i18n machinery
    return message


class Role(StrEnum):
    WINDOW_CLERK = "window_clerk"
    REVIEWER = "reviewer"
    OFFICE_HEAD = "office_head"
    COUNTY_SUPERVISOR = "county_supervisor"
    PROVINCIAL_ADMIN = "provincial_admin"
    NATIONAL_SUPERVISOR = "national_supervisor"
    CITIZEN = "citizen"
    ENTERPRISE_USER = "enterprise_user"


ROLE_LABELS: dict[Role, str] = {
    Role.WINDOW_CLERK: N_("Window clerk"),
    Role.REVIEWER: N_("Reviewer"),
    Role.OFFICE_HEAD: N_("Office head"),
    Role.COUNTY_SUPERVISOR: N_("County supervisor"),
    Role.PROVINCIAL_ADMIN: N_("Provincial administrator"),
    Role.NATIONAL_SUPERVISOR: N_("National supervisor"),
    Role.CITIZEN: N_("Citizen"),
    Role.ENTERPRISE_USER: N_("Enterprise user"),
}

STAFF_ROLES = frozenset(
    {
        Role.WINDOW_CLERK,
        Role.REVIEWER,
        Role.OFFICE_HEAD,
        Role.COUNTY_SUPERVISOR,
        Role.PROVINCIAL_ADMIN,
        Role.NATIONAL_SUPERVISOR,
    }
)


class Scope(IntEnum):
    """How far from the principal a target may lie; a larger value contains the smaller ones."""

    OWN = 0  # the citizen's own person, the enterprise user's own enterprise, one's own account
    OFFICE = 1
    COUNTY = 2
    PREFECTURE = 3
    PROVINCE = 4
    NATION = 5


SCOPE_LABELS: dict[Scope, str] = {
    Scope.OWN: N_("own records"),
    Scope.OFFICE: N_("own office"),
    Scope.COUNTY: N_("county"),
    Scope.PREFECTURE: N_("prefecture"),
    Scope.PROVINCE: N_("province"),
    Scope.NATION: N_("nation"),
}

# Digits of the division code that must match for each territorial scope.
PREFIX_DIGITS = {Scope.COUNTY: 6, Scope.PREFECTURE: 4, Scope.PROVINCE: 2, Scope.NATION: 0}


@dataclass(frozen=True)
class Grant:
    """Permission for actions matching ``pattern`` within ``scope``.

    ``pattern`` is ``capability.object.verb`` where a segment may be ``*``. ``matters`` limits the grant to
    some matter codes (``None`` = every matter).
    """

    pattern: str
    scope: Scope
    matters: frozenset[str] | None = None

    def matches(self, action: str, matter: str | None = None) -> bool:
        if not action_matches(self.pattern, action):
            return False
        return self.matters is None or matter is None or matter in self.matters


def action_matches(pattern: str, action: str) -> bool:
    p, a = pattern.split("."), action.split(".")
    return len(p) == len(a) and all(ps in ("*", as_) for ps, as_ in zip(p, a, strict=True))


_SELF = (
    Grant("access.account.self", Scope.OWN),  # own account: sign out, second factor, own views
    Grant("cases.notification.read", Scope.OWN),  # one's own notifications
)
_CLERK = (
    Grant("registry.person.read", Scope.COUNTY),
    Grant("registry.person.search", Scope.COUNTY),
    Grant("registry.household.read", Scope.COUNTY),
    Grant("registry.counts.read", Scope.COUNTY),
    Grant("cases.case.create", Scope.OFFICE),
    Grant("cases.case.read", Scope.OFFICE),
    Grant("cases.case.update", Scope.OFFICE),
    Grant("cases.material.*", Scope.OFFICE),
    Grant("cases.consent.record", Scope.OFFICE),
    Grant("cases.evidence.request", Scope.OFFICE),
    Grant("papers.paper.read", Scope.COUNTY),
)
_REVIEWER = (
    *_CLERK,
    Grant("cases.case.read", Scope.COUNTY),
    Grant("cases.case.decide", Scope.COUNTY),
    Grant("cases.task.*", Scope.COUNTY),
    Grant("registry.person.update", Scope.COUNTY),
    Grant("registry.household.update", Scope.COUNTY),
    Grant("papers.paper.issue", Scope.COUNTY),
)
_OFFICE_HEAD = (
    *_REVIEWER,
    Grant("access.user.read", Scope.OFFICE),
    Grant("access.user.manage", Scope.OFFICE),
    Grant("access.log.read", Scope.OFFICE),
    Grant("supervision.report.read", Scope.OFFICE),
    Grant("papers.paper.revoke", Scope.COUNTY),
)
_COUNTY_SUPERVISOR = (
    Grant("registry.person.read", Scope.COUNTY),
    Grant("registry.person.search", Scope.COUNTY),
    Grant("registry.household.read", Scope.COUNTY),
    Grant("registry.counts.read", Scope.COUNTY),
    Grant("cases.case.read", Scope.COUNTY),
    Grant("access.user.read", Scope.COUNTY),
    Grant("access.user.manage", Scope.COUNTY),
    Grant("access.log.read", Scope.COUNTY),
    Grant("audit.log.read", Scope.COUNTY),
    Grant("supervision.report.read", Scope.COUNTY),
)
_PROVINCIAL_ADMIN = (
    Grant("access.user.read", Scope.PROVINCE),
    Grant("access.user.manage", Scope.PROVINCE),
    Grant("access.token.manage", Scope.PROVINCE),
    Grant("access.log.read", Scope.PROVINCE),
    Grant("audit.log.read", Scope.PROVINCE),
    Grant("audit.log.verify", Scope.PROVINCE),
    Grant("cases.case.read", Scope.PROVINCE),
    Grant("cases.matter.manage", Scope.PROVINCE),
    Grant("exchange.*.*", Scope.PROVINCE),
    Grant("registry.import.run", Scope.PROVINCE),
    Grant("registry.counts.read", Scope.PROVINCE),
    Grant("supervision.report.read", Scope.PROVINCE),
)
_NATIONAL_SUPERVISOR = (
    Grant("access.user.read", Scope.NATION),
    Grant("access.log.read", Scope.NATION),
    Grant("audit.log.read", Scope.NATION),
    Grant("cases.case.read", Scope.NATION),
    Grant("registry.counts.read", Scope.NATION),
    Grant("supervision.report.read", Scope.NATION),
)
_CITIZEN = (
    Grant("registry.person.read", Scope.OWN),
    Grant("registry.household.read", Scope.OWN),
    Grant("cases.case.create", Scope.OWN),
    Grant("cases.case.read", Scope.OWN),
    Grant("cases.material.*", Scope.OWN),
    Grant("cases.consent.record", Scope.OWN),
    Grant("cases.rating.create", Scope.OWN),
    Grant("papers.paper.read", Scope.OWN),
    Grant("access.log.read_own", Scope.OWN),
)
_ENTERPRISE = (
    Grant("cases.case.create", Scope.OWN),
    Grant("cases.case.read", Scope.OWN),
    Grant("cases.material.*", Scope.OWN),
    Grant("cases.rating.create", Scope.OWN),
    Grant("seals.seal.*", Scope.OWN),
    Grant("papers.paper.read", Scope.OWN),
)

# The role → permission table. Change it together with ``expectations.EXPECTED`` (the test compares them).
GRANTS: dict[Role, tuple[Grant, ...]] = {
    Role.WINDOW_CLERK: (*_SELF, *_CLERK),
    Role.REVIEWER: (*_SELF, *_REVIEWER),
    Role.OFFICE_HEAD: (*_SELF, *_OFFICE_HEAD),
    Role.COUNTY_SUPERVISOR: (*_SELF, *_COUNTY_SUPERVISOR),
    Role.PROVINCIAL_ADMIN: (*_SELF, *_PROVINCIAL_ADMIN),
    Role.NATIONAL_SUPERVISOR: (*_SELF, *_NATIONAL_SUPERVISOR),
    Role.CITIZEN: (*_SELF, *_CITIZEN),
    Role.ENTERPRISE_USER: (*_SELF, *_ENTERPRISE),
}


class PrincipalKind(StrEnum):
    STAFF = "staff"
    CITIZEN = "citizen"
    ENTERPRISE = "enterprise"
    SYSTEM = "system"  # an API token of another system


@dataclass(frozen=True)
class Principal:
    """Who is acting. Staff carry their office and division; a citizen their person; a system its token."""

    id: str
    kind: PrincipalKind
    role: Role | None
    display_name: str
    node: str
    division_code: str | None = None  # six digits, the division of the staff member's office
    office_code: str | None = None
    person_ref: str | None = None  # a citizen's opaque person id in the registry
    enterprise_id: str | None = None
    # For API tokens: the grants of the token itself (a system has no role).
    token_grants: tuple[Grant, ...] = ()

    def grants(self) -> tuple[Grant, ...]:
        if self.kind is PrincipalKind.SYSTEM:
            return self.token_grants
        return GRANTS.get(self.role, ()) if self.role is not None else ()

    @property
    def is_staff(self) -> bool:
        return self.kind is PrincipalKind.STAFF


@dataclass(frozen=True)
class Target:
    """Where the object of an action lies: its division, office, and owner (person or enterprise)."""

    division_code: str | None = None
    office_code: str | None = None
    person_ref: str | None = None
    enterprise_id: str | None = None
    matter: str | None = None
    # The principal's own account (an account page, a session): what scope ``own`` covers for staff.
    account_id: str | None = None


@dataclass(frozen=True)
class Allow:
    scope: Scope
    allowed: ClassVar[bool] = True


@dataclass(frozen=True)
class Deny:
    reason: str
    allowed: ClassVar[bool] = False


Decision = Allow | Deny


@lru_cache(maxsize=4096)
def _role_grants(role: Role, action: str, matter: str | None) -> tuple[Grant, ...]:
    return tuple(g for g in GRANTS.get(role, ()) if g.matches(action, matter))


def within(scope: Scope, principal: Principal, target: Target) -> bool:
    """Whether ``target`` lies within ``scope`` of ``principal``."""
    if scope is Scope.NATION:
        return True
    if scope is Scope.OWN:
        if target.account_id is not None:
            return target.account_id == principal.id
        if principal.person_ref is not None and target.person_ref is not None:
            return target.person_ref == principal.person_ref
        if principal.enterprise_id is not None and target.enterprise_id is not None:
            return target.enterprise_id == principal.enterprise_id
        return False
    if scope is Scope.OFFICE:
        return (
            principal.office_code is not None
            and target.office_code is not None
            and principal.office_code == target.office_code
        )
    digits = PREFIX_DIGITS[scope]
    here, there = principal.division_code, target.division_code
    if not here or not there or len(here) != 6 or len(there) != 6:
        return False
    return here[:digits] == there[:digits]


def decide(principal: Principal | None, action: str, target: Target | None = None) -> Decision:
    """Allow or deny ``principal`` doing ``action`` (on ``target`` when given)."""
    if principal is None:
        return Deny("unauthenticated")
    matter = target.matter if target else None
    if principal.kind is PrincipalKind.SYSTEM or principal.role is None:
        grants = [g for g in principal.grants() if g.matches(action, matter)]
    else:
        grants = list(_role_grants(principal.role, action, matter))
    if not grants:
        return Deny("no-permission")
    if target is None:
        return Allow(max(g.scope for g in grants))
    fitting = [g.scope for g in grants if within(g.scope, principal, target)]
    if not fitting:
        return Deny("out-of-scope")
    return Allow(max(fitting))


def widest_scope(principal: Principal, action: str) -> Scope | None:
    """The widest scope in which ``principal`` may do ``action`` (None: nowhere)."""
    decision = decide(principal, action)
    return decision.scope if isinstance(decision, Allow) else None


def division_prefix(principal: Principal, scope: Scope) -> str | None:
    """The division-code prefix a query must match to stay within ``scope`` ('' = everywhere).

    None when the scope is not territorial (own records, own office): filter by owner or office instead.
    """
    if scope is Scope.NATION:
        return ""
    if scope in (Scope.OWN, Scope.OFFICE) or not principal.division_code:
        return None
    return principal.division_code[: PREFIX_DIGITS[scope]]


def is_division_code(code: str) -> bool:
    return len(code) == 6 and code.isdigit()


class TooManyAttempts(TongbanError):
    status = 429
    code = "too-many-attempts"
    title = N_("Too many attempts")


class AccountLocked(TongbanError):
    status = 403
    code = "account-locked"
    title = N_("Account locked")


@dataclass
class AttemptWindow:
    """Sliding-window counter of attempts per key (rate limiting), plain Python and thread-agnostic."""

    limit: int
    window_s: float
    hits: dict[str, list[float]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        recent = [t for t in self.hits.get(key, []) if now - t < self.window_s]
        if len(recent) >= self.limit:
            self.hits[key] = recent
            return False
        recent.append(now)
        self.hits[key] = recent
        if len(self.hits) > 10_000:  # bound memory under a spray of keys
            for k in [k for k, v in self.hits.items() if not v or now - v[-1] >= self.window_s]:
                del self.hits[k]
        return True
