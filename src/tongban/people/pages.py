"""The clerk's person pages: search by ID number or name (hanzi, pinyin, initials), then a person's household
and registration history. Every read goes through the registry's queries and stays within the user's scope:
a clerk finds and opens only people registered in their county; a person outside answers like a missing one.
Lists show masked ID numbers; opening a person's record writes an access record (who, whom, why).

Persons are addressed by the registry's internal reference in URLs, never by ID number, so no ID number ends up
in an address bar, a browser history or an access log.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tongban.access.masking import present_id
from tongban.access.web import CurrentUser, ensure_in_scope, record_view, scope_filter
from tongban.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TongbanError
from tongban.core.i18n import N_, Translator
from tongban.core.node import NodeContext
from tongban.core.routing import RowId, requires
from tongban.idnum.domain import InvalidIdNumber, normalize, parse_any
from tongban.people.labels import RELATIONS, STATUSES, Labels
from tongban.registry import queries as registry
from tongban.registry import service
from tongban.web.app import CurrentNode, CurrentTranslator, get_node, get_translator, render

router = APIRouter(prefix="/people")

#: Entries this capability adds to the main navigation: (address, English label).
NAV = [("/people/", N_("Find a person"))]

MAX_QUERY = 40
RESULTS = 30


def actor_of(user: Any) -> str:
    """Who is reading, for the registry's audit."""
    return f"user:{user.id}" if user is not None else "anonymous"


def looks_like_id_number(text: str) -> bool:
    digits = normalize(text)
    return len(digits) in (15, 18) and digits[:17].isdigit()


def _division_of(person: registry.PersonView) -> str | None:
    """Where the person's record lies for scope checks: the current division, else the last one recorded."""
    return person.division_code or person.last_division_code


def _in_scope(request: Request, user: Any, person: registry.PersonView, prefix: str | None) -> bool:
    if prefix is None:  # own records only (a citizen)
        return user.person_ref is not None and user.person_ref == str(person.person_id)
    return (_division_of(person) or "").startswith(prefix)


def _search(request: Request, node: NodeContext, user: Any, q: str, t: Translator) -> dict[str, Any]:
    """The results context: an exact ID-number match, or name matches, within the user's scope."""
    q = q.strip()[:MAX_QUERY]
    context: dict[str, Any] = {"q": q, "results": [], "error": None, "searched": bool(q), "search_id": ""}
    if not q:
        return context
    _scope, prefix = scope_filter(request)
    actor = actor_of(user)
    if looks_like_id_number(q):
        try:
            number = parse_any(q).number
        except InvalidIdNumber as exc:
            context["error"] = t(exc.message, **exc.params)
            return context
        try:
            found = [registry.get_person(node, actor=actor, id_number=number)]
        except NotFound:
            found = []
    elif prefix is None:  # a user whose scope is their own record only does not search by name
        found = []
    else:
        found = registry.search_persons(node, actor=actor, query=q, limit=RESULTS, division_prefix=prefix)
    results = [p for p in found if _in_scope(request, user, p, prefix)][:RESULTS]
    context["results"] = [
        {
            "person": p,
            "id_shown": present_id(user, p.id_number, person_division=_division_of(p)),
        }
        for p in results
    ]
    # The access record of a view opened from these results names this search, never its terms.
    context["search_id"] = uuid.uuid4().hex
    return context


@router.get("/", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_form(request: Request, t: CurrentTranslator) -> HTMLResponse:
    """The empty search form. Searches are posted, so names and ID numbers never appear in a URL."""
    return render(
        request, "people/search.html", labels=Labels(t), q="", results=[], error=None, searched=False
    )


@router.post("/", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_page(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    q: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """The search submitted without JavaScript: the results page, or the person's page for an ID number."""
    context = _search(request, node, user, q, t)
    if len(context["results"]) == 1 and looks_like_id_number(q):
        person = context["results"][0]["person"]
        return RedirectResponse(f"/people/p/{person.person_id}?s={context['search_id']}", status_code=303)
    return render(request, "people/search.html", labels=Labels(t), **context)


@router.post("/results", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_results(
    request: Request,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    q: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    """The results list alone, for live search (htmx replaces the list as the clerk types)."""
    context = _search(request, node, user, q, t)
    return render(request, "people/_results.html", labels=Labels(t), **context)


def _may_update_household(request: Request, household: registry.HouseholdView) -> bool:
    """Whether the user registers changes to this household (a registrar of its county)."""
    try:
        _scope, prefix = scope_filter(request, "registry.household.update")
    except Forbidden:
        return False
    return prefix is not None and household.division_code.startswith(prefix)


def _person_context(
    request: Request, node: NodeContext, user: Any, person_id: int, s: str | None
) -> dict[str, Any]:
    """Everything the person page shows; records the view."""
    if person_id < 1:
        raise InvalidInput(N_("There is no person with this reference."))
    actor = actor_of(user)
    try:
        person = registry.get_person_by_ref(node, actor=actor, person_id=person_id)
    except NotFound:
        # The same answer as for a person outside the user's scope: guessing references reveals nothing.
        raise NotFound(N_("Not found")) from None
    division = _division_of(person)
    ensure_in_scope(request, division, person_ref=str(person.person_id))
    record_view(
        request, person_ref=str(person.person_id), person_division=division, reason="search", reason_ref=s
    )
    household = (
        registry.get_household(node, actor=actor, number=person.household_number)
        if person.household_number
        else None
    )
    members = (
        [
            {"member": m, "id_shown": present_id(user, m.id_number, person_division=household.division_code)}
            for m in household.members
        ]
        if household is not None
        else []
    )
    history = registry.journal(node, actor=actor, id_number=person.id_number)
    household_history = (
        registry.household_journal(node, actor=actor, number=household.number) if household else []
    )
    return {
        "person": person,
        "household": household,
        "members": members,
        "history": history,
        "household_history": household_history,
        "may_update_household": household is not None and _may_update_household(request, household),
        "relations": [r for r in RELATIONS if r != "head"],
        "search_ref": s,
        "household_error": None,
    }


@router.get("/p/{person_id}", response_class=HTMLResponse, dependencies=[requires("registry.person.read")])
def person_page(
    request: Request,
    person_id: RowId,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    s: Annotated[str | None, Query(max_length=64, pattern="^[0-9a-f]+$")] = None,
) -> HTMLResponse:
    context = _person_context(request, node, user, person_id, s)
    return render(request, "people/person.html", labels=Labels(t), **context)


def _household_change(
    request: Request,
    node: NodeContext,
    user: Any,
    t: Translator,
    number: str,
    person_id: int,
    s: str | None,
    change: Callable[[registry.HouseholdView], object],
) -> Response:
    """Apply a registrar's change to a household shown on a person's page, then show that page again."""
    try:
        household = registry.get_household(node, actor=actor_of(user), number=number)
    except NotFound:
        raise NotFound(N_("Not found")) from None
    ensure_in_scope(request, household.division_code)
    try:
        change(household)
    except TongbanError as exc:
        context = _person_context(request, node, user, person_id, s)
        context["household_error"] = t(exc.message, **{k: str(v) for k, v in exc.params.items()})
        return render(request, "people/person.html", status_code=int(exc.status), labels=Labels(t), **context)
    return RedirectResponse(f"/people/p/{person_id}" + (f"?s={s}" if s else ""), status_code=303)


SearchRef = Annotated[str | None, Form(max_length=64, pattern="^[0-9a-f]+$")]


@router.post(
    "/households/{number}/address",
    response_class=HTMLResponse,
    dependencies=[requires("registry.household.update")],
)
def correct_household_address(
    request: Request,
    number: str,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    person_id: Annotated[int, Form(ge=1)],
    address: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
    s: SearchRef = None,
) -> Response:
    """A registrar corrects the address of the household shown on a person's page (reason required)."""
    return _household_change(
        request,
        node,
        user,
        t,
        number,
        person_id,
        s,
        lambda h: service.correct_household_address(
            node, actor=actor_of(user), household_number=h.number, address=address.strip(), reason=reason
        ),
    )


@router.post(
    "/households/{number}/head",
    response_class=HTMLResponse,
    dependencies=[requires("registry.household.update")],
)
def change_household_head(
    request: Request,
    number: str,
    node: CurrentNode,
    user: CurrentUser,
    t: CurrentTranslator,
    person_id: Annotated[int, Form(ge=1)],
    new_head: Annotated[int, Form(ge=1)],
    old_head_relation: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
    s: SearchRef = None,
) -> Response:
    """A registrar makes a member of the household the head; the old head takes the relation chosen."""

    def change(h: registry.HouseholdView) -> object:
        member = next((m for m in h.members if m.person_id == new_head), None)
        if member is None:
            raise Conflict(N_("The new head must be an active member of the household."))
        return service.change_household_head(
            node,
            actor=actor_of(user),
            household_number=h.number,
            new_head_id_number=member.id_number,
            old_head_relation=old_head_relation or None,
            reason=reason,
        )

    return _household_change(request, node, user, t, number, person_id, s, change)


def _counts_rows(counts: registry.RegistryCounts) -> list[dict[str, Any]]:
    return [
        {"division": d.division_code, "persons": d.persons, "households": d.households}
        for d in counts.divisions
    ]


def home_counts(request: Request) -> str | None:
    """The registry's figures on the node's home page, within the signed-in user's jurisdiction."""
    if getattr(request.state, "user", None) is None:
        return None
    try:
        _scope, prefix = scope_filter(request, "registry.counts.read")
        node = get_node(request)
    except TongbanError:
        return None
    if prefix is None:
        return None
    counts = registry.registry_counts(node, actor=actor_of(request.state.user), division_prefix=prefix)
    t = get_translator(request)
    page = render(
        request,
        "people/_counts.html",
        labels=Labels(t),
        counts=counts,
        rows=_counts_rows(counts),
        statuses=list(STATUSES),
        scope_prefix=prefix,
    )
    return bytes(page.body).decode("utf-8")


#: Sections this capability adds to the home page: callables of the request giving HTML, or None.
HOME_SECTIONS = [home_counts]
