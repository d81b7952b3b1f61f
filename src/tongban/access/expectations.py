"""The expected rule of every route, and the expected reach of every action for every role.

Kept beside the permission table on purpose, written out by hand rather than derived from it: the test
``tests/access/test_every_route_has_its_rule.py`` enumerates every route of the app and checks it against
``ROUTES``, then checks ``GRANTS`` against ``EXPECTED`` for every role and scope. A new route without an
entry here fails that test, and so does any change to the grants not mirrored here.

``ROUTES``: ``"METHOD /path"`` → the action the route requires (``None``: public).
``EXPECTED``: action → role → the widest scope the role has for it (``None``: denied).
"""

from __future__ import annotations

from tongban.access.domain import Role, Scope

ROUTES: dict[str, str | None] = {
    # web shell
    "GET /": None,
    "GET /healthz": None,
    # access: sign-in steps are public (each step checks its own pending session)
    "GET /access/sign-in": None,
    "POST /access/sign-in": None,
    "GET /access/sign-in/totp": None,
    "POST /access/sign-in/totp": None,
    "GET /access/sign-in/enrol": None,
    "POST /access/sign-in/enrol": None,
    "POST /access/sign-out": None,
    "GET /access/users": "access.user.read",
    "POST /access/users": "access.user.manage",
    "POST /access/users/{user_id}/disable": "access.user.manage",
    "POST /access/users/{user_id}/reset-password": "access.user.manage",
    "GET /access/views": "access.log.read",
    "GET /access/my-views": "access.log.read_own",
    "GET /api/v1/access/me": "access.account.self",
    "GET /api/v1/access/users": "access.user.read",
    "POST /api/v1/access/tokens": "access.token.manage",
    "GET /api/v1/access/views": "access.log.read",
    "GET /api/v1/access/my-views": "access.log.read_own",
    # audit
    "GET /api/v1/audit/head": "audit.log.verify",
    # people: the clerk's person search and record pages (over the registry's queries)
    "GET /people/": "registry.person.search",
    "POST /people/": "registry.person.search",
    "POST /people/results": "registry.person.search",
    "GET /people/p/{person_id}": "registry.person.read",
    "POST /people/households/{number}/address": "registry.household.update",
    "POST /people/households/{number}/head": "registry.household.update",
    # registry
    "POST /api/v1/registry/households": "registry.household.update",
    "GET /api/v1/registry/households/{number}": "registry.household.read",
    "GET /api/v1/registry/households/{number}/journal": "registry.household.read",
    "POST /api/v1/registry/households/{number}/address-corrections": "registry.household.update",
    "POST /api/v1/registry/households/{number}/head": "registry.household.update",
    "GET /api/v1/registry/counts": "registry.counts.read",
    "POST /api/v1/registry/persons": "registry.person.update",
    "POST /api/v1/registry/persons/lookup": "registry.person.read",
    "GET /api/v1/registry/persons/{person_id}": "registry.person.read",
    "GET /api/v1/registry/persons/{person_id}/journal": "registry.person.read",
    "GET /api/v1/registry/persons/{person_id}/status": "registry.person.read",
    "POST /api/v1/registry/persons/{person_id}/moves": "registry.person.update",
    "POST /api/v1/registry/persons/{person_id}/cancellation": "registry.person.update",
    "POST /api/v1/registry/persons/{person_id}/corrections": "registry.person.update",
    "POST /api/v1/registry/persons/{person_id}/transit": "registry.person.update",
    "POST /api/v1/registry/persons/{person_id}/restoration": "registry.person.update",
    "POST /api/v1/registry/persons/{person_id}/moved-out": "registry.person.update",
    "GET /api/v1/registry/search": "registry.person.search",
    "POST /api/v1/registry/id-numbers": "registry.person.update",
    # cases: API
    "POST /api/v1/cases": "cases.case.create",
    "GET /api/v1/cases": "cases.case.read",
    "GET /api/v1/cases/notifications": "cases.notification.read",
    "POST /api/v1/cases/notifications/{notification_id}/read": "cases.notification.read",
    "GET /api/v1/cases/{number}": "cases.case.read",
    "POST /api/v1/cases/{number}/actions": "cases.case.update",
    "POST /api/v1/cases/{number}/decision": "cases.case.decide",
    "POST /api/v1/cases/{number}/materials": "cases.material.add",
    "GET /api/v1/cases/{number}/materials": "cases.case.read",
    "GET /api/v1/cases/{number}/materials/{material_id}": "cases.material.read",
    "POST /api/v1/cases/{number}/consents": "cases.consent.record",
    "POST /api/v1/cases/{number}/evidence-requests": "cases.evidence.request",
    "GET /api/v1/cases/{number}/slip.pdf": "cases.case.read",
    "GET /api/v1/cases/{number}/notice.pdf": "cases.case.read",
    # cases: pages
    "GET /cases/queue": "cases.case.read",
    "GET /cases/new": "cases.case.create",
    "POST /cases/new": "cases.case.create",
    "GET /cases/notifications": "cases.notification.read",
    "POST /cases/notifications/{notification_id}/read": "cases.notification.read",
    "GET /cases/{number}": "cases.case.read",
    "POST /cases/{number}/act": "cases.case.update",
    "POST /cases/{number}/decide": "cases.case.decide",
    "POST /cases/{number}/materials": "cases.material.add",
    "POST /cases/{number}/evidence": "cases.evidence.request",
    "GET /cases/{number}/slip": "cases.case.read",
    "GET /cases/{number}/notice": "cases.case.read",
    # migration: the saga's steps over the cases actions (destination) and the task rule (origin)
    "POST /api/v1/migrations": "cases.case.create",
    "POST /api/v1/migrations/same-city": "cases.case.create",
    "GET /api/v1/migrations/origin-tasks": "cases.task.decide",
    "POST /api/v1/migrations/origin-tasks/{number}": "cases.task.decide",
    "POST /api/v1/migrations/identity-checks": "registry.person.read",
    "GET /api/v1/migrations/{number}": "cases.case.read",
    "POST /api/v1/migrations/{number}/approve": "cases.case.decide",
    "POST /api/v1/migrations/{number}/refuse": "cases.case.decide",
    "POST /api/v1/migrations/{number}/withdraw": "cases.case.update",
    "POST /api/v1/migrations/{number}/abandon": "cases.case.decide",
    "POST /api/v1/migrations/{number}/reissue-request": "cases.case.update",
    "POST /api/v1/migrations/{number}/move-in": "cases.case.update",
    # migration: pages (the destination's staff, the origin's queue, the citizen's own cases)
    "GET /migrations/origin/tasks": "cases.task.decide",
    "GET /migrations/origin/tasks/{number}": "cases.task.decide",
    "POST /migrations/origin/tasks/{number}": "cases.task.decide",
    "GET /migrations": "cases.case.read",
    "GET /migrations/new": "cases.case.create",
    "POST /migrations/new": "cases.case.create",
    "GET /migrations/{number}": "cases.case.read",
    "POST /migrations/{number}/decide": "cases.case.decide",
    "POST /migrations/{number}/act": "cases.case.update",
    "GET /migrations/{number}/materials/{material_id}": "cases.case.read",
    "GET /migrations/{number}/papers/{kind}.pdf": "cases.case.read",
    "GET /migrations/{number}/papers/{kind}.json": "cases.case.read",
    "GET /my/migrations": "cases.case.read",
    "GET /my/migrations/new": "cases.case.create",
    "POST /my/migrations/new": "cases.case.create",
    "GET /my/migrations/{number}": "cases.case.read",
    "GET /my/migrations/{number}/materials/{material_id}": "cases.case.read",
    "GET /my/migrations/{number}/papers/{kind}.pdf": "cases.case.read",
    "GET /my/migrations/{number}/papers/{kind}.json": "cases.case.read",
    # cert: the clerk's view of a certificate case and its paper (the case's read rule and scope)
    "GET /cert/new": "cases.case.create",
    "POST /cert/new": "cases.case.create",
    "GET /cert/review": "cases.task.decide",
    "POST /cert/review/{review_id}": "cases.task.decide",
    "GET /cert/{number}": "cases.case.read",
    "GET /cert/{number}/paper.pdf": "cases.case.read",
    "GET /cert/{number}/paper.json": "cases.case.read",
    # cert: the citizen's portal (own cases of every matter; the own scope is checked per case)
    "GET /my/cases": "cases.case.read",
    "GET /my/cases/{number}": "cases.case.read",
    "GET /my/cases/{number}/paper.pdf": "cases.case.read",
    "GET /my/cases/{number}/paper.json": "cases.case.read",
    "GET /my/cert/new": "cases.case.create",
    "POST /my/cert/new": "cases.case.create",
    # exchange: the operator page
    "GET /exchange": "exchange.status.read",
    "POST /exchange/retry": "exchange.parked.retry",
    # supervision: the supervisor's dashboard (figures within the viewer's jurisdiction)
    "GET /supervision": "supervision.report.read",
    # papers: verification and revocation lists are public; downloads, issuing and revoking are not
    "GET /verify": None,
    "POST /verify": None,
    "POST /api/v1/papers/verify": None,
    "GET /api/v1/papers/revocations/{issuer}": None,
    "POST /api/v1/papers": "papers.paper.issue",
    "POST /api/v1/papers/{number}/revoke": "papers.paper.revoke",
    "GET /api/v1/papers/{number}": "papers.paper.read",
    "GET /api/v1/papers/{number}/json": "papers.paper.read",
    "GET /api/v1/papers/{number}/pdf": "papers.paper.read",
    "GET /api/v1/papers/{number}/qr.png": "papers.paper.read",
    "GET /api/v1/papers/{number}/qr.svg": "papers.paper.read",
    "GET /api/v1/papers/{number}/qr.txt": "papers.paper.read",
}

C, RV, OH, CS, PA, NS, CI, EU = (
    Role.WINDOW_CLERK,
    Role.REVIEWER,
    Role.OFFICE_HEAD,
    Role.COUNTY_SUPERVISOR,
    Role.PROVINCIAL_ADMIN,
    Role.NATIONAL_SUPERVISOR,
    Role.CITIZEN,
    Role.ENTERPRISE_USER,
)
OWN, OFFICE, COUNTY, PREF, PROV, NATION = (
    Scope.OWN,
    Scope.OFFICE,
    Scope.COUNTY,
    Scope.PREFECTURE,
    Scope.PROVINCE,
    Scope.NATION,
)


def row(**by_role: Scope | None) -> dict[Role, Scope | None]:
    """A row of the table: roles not named are denied."""
    names = {
        "clerk": C,
        "reviewer": RV,
        "head": OH,
        "county": CS,
        "admin": PA,
        "national": NS,
        "citizen": CI,
        "enterprise": EU,
    }
    out: dict[Role, Scope | None] = dict.fromkeys(Role)
    for key, scope in by_role.items():
        out[names[key]] = scope
    return out


EVERYONE_OWN = {
    k: OWN for k in ("clerk", "reviewer", "head", "county", "admin", "national", "citizen", "enterprise")
}

EXPECTED: dict[str, dict[Role, Scope | None]] = {
    "access.account.self": row(**EVERYONE_OWN),
    "access.user.read": row(head=OFFICE, county=COUNTY, admin=PROV, national=NATION),
    "access.user.manage": row(head=OFFICE, county=COUNTY, admin=PROV),
    "access.token.manage": row(admin=PROV),
    "access.log.read": row(head=OFFICE, county=COUNTY, admin=PROV, national=NATION),
    "access.log.read_own": row(citizen=OWN),
    "audit.log.read": row(county=COUNTY, admin=PROV, national=NATION),
    "audit.log.verify": row(admin=PROV),
    "registry.person.read": row(clerk=COUNTY, reviewer=COUNTY, head=COUNTY, county=COUNTY, citizen=OWN),
    "registry.person.search": row(clerk=COUNTY, reviewer=COUNTY, head=COUNTY, county=COUNTY),
    "registry.person.update": row(reviewer=COUNTY, head=COUNTY),
    "registry.household.read": row(clerk=COUNTY, reviewer=COUNTY, head=COUNTY, county=COUNTY, citizen=OWN),
    "registry.household.update": row(reviewer=COUNTY, head=COUNTY),
    "registry.import.run": row(admin=PROV),
    "registry.counts.read": row(
        clerk=COUNTY, reviewer=COUNTY, head=COUNTY, county=COUNTY, admin=PROV, national=NATION
    ),
    "cases.case.create": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE, citizen=OWN, enterprise=OWN),
    "cases.case.read": row(
        clerk=OFFICE,
        reviewer=COUNTY,
        head=COUNTY,
        county=COUNTY,
        admin=PROV,
        national=NATION,
        citizen=OWN,
        enterprise=OWN,
    ),
    "cases.case.update": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE),
    "cases.case.decide": row(reviewer=COUNTY, head=COUNTY),
    "cases.material.add": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE, citizen=OWN, enterprise=OWN),
    "cases.material.read": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE, citizen=OWN, enterprise=OWN),
    "cases.consent.record": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE, citizen=OWN),
    "cases.evidence.request": row(clerk=OFFICE, reviewer=OFFICE, head=OFFICE),
    "cases.notification.read": row(**EVERYONE_OWN),
    "cases.task.decide": row(reviewer=COUNTY, head=COUNTY),
    "cases.matter.manage": row(admin=PROV),
    "cases.rating.create": row(citizen=OWN, enterprise=OWN),
    "papers.paper.read": row(clerk=COUNTY, reviewer=COUNTY, head=COUNTY, citizen=OWN, enterprise=OWN),
    "papers.paper.issue": row(reviewer=COUNTY, head=COUNTY),
    "papers.paper.revoke": row(head=COUNTY),
    "seals.seal.request": row(enterprise=OWN),
    "exchange.outbox.read": row(admin=PROV),
    "exchange.status.read": row(admin=PROV),
    "exchange.parked.retry": row(admin=PROV),
    "supervision.report.read": row(head=OFFICE, county=COUNTY, admin=PROV, national=NATION),
}
