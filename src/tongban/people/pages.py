"""The clerk's person pages: search by ID number or name (hanzi, pinyin, initials), then a person's household
and registration history. Every read goes through the registry's queries; lists show masked ID numbers.

Persons are addressed by the registry's internal reference in URLs, never by ID number, so no ID number ends up
in an address bar, a browser history or an access log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tongban.core.errors import InvalidInput, NotFound
from tongban.core.i18n import N_
from tongban.core.routing import requires
from tongban.idnum.domain import InvalidIdNumber, normalize, parse_any
from tongban.people.labels import Labels
from tongban.registry import service as registry
from tongban.web.app import CurrentNode, CurrentTranslator, render

router = APIRouter(prefix="/people")

#: Entries this capability adds to the main navigation: (address, English label).
NAV = [("/people/", N_("Find a person"))]

MAX_QUERY = 40
RESULTS = 30


def actor_of(request: Request) -> str:
    """Who is reading, for the registry's audit: the signed-in user, or the shell's anonymous clerk."""
    user = getattr(request.state, "user", None)
    for attribute in ("username", "login", "id"):
        value = getattr(user, attribute, None)
        if value:
            return f"user:{value}"
    return "web"


def looks_like_id_number(text: str) -> bool:
    digits = normalize(text)
    return len(digits) in (15, 18) and digits[:17].isdigit()


def _search(node: Any, request: Request, q: str, t: Any) -> dict[str, Any]:
    """The results context: an exact ID-number match, or name matches; ``error`` for a bad ID number."""
    q = q.strip()[:MAX_QUERY]
    context: dict[str, Any] = {"q": q, "results": [], "error": None, "searched": bool(q)}
    if not q:
        return context
    if looks_like_id_number(q):
        try:
            number = parse_any(q).number
        except InvalidIdNumber as exc:
            context["error"] = t(exc.message, **exc.params)
            return context
        try:
            context["results"] = [registry.get_person(node, actor=actor_of(request), id_number=number)]
        except NotFound:
            context["results"] = []
        return context
    context["results"] = registry.search_persons(node, actor=actor_of(request), query=q, limit=RESULTS)
    return context


@router.get("/", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_page(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    context = _search(node, request, q, t)
    if len(context["results"]) == 1 and looks_like_id_number(q):
        return RedirectResponse(f"/people/p/{context['results'][0].person_id}", status_code=303)
    return render(
        request,
        "people/search.html",
        labels=Labels(t),
        mask=registry.mask,
        **context,
    )


@router.get("/results", response_class=HTMLResponse, dependencies=[requires("registry.person.search")])
def search_results(
    request: Request,
    node: CurrentNode,
    t: CurrentTranslator,
    q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The results list alone, for live search (htmx replaces the list as the clerk types)."""
    context = _search(node, request, q, t)
    return render(request, "people/_results.html", labels=Labels(t), mask=registry.mask, **context)


@router.get("/p/{person_id}", response_class=HTMLResponse, dependencies=[requires("registry.person.read")])
def person_page(request: Request, person_id: int, node: CurrentNode, t: CurrentTranslator) -> HTMLResponse:
    if person_id < 1:
        raise InvalidInput(N_("There is no person with this reference."))
    actor = actor_of(request)
    person = registry.get_person_by_ref(node, actor=actor, person_id=person_id)
    household = (
        registry.get_household(node, actor=actor, number=person.household_number)
        if person.household_number
        else None
    )
    history = registry.journal(node, actor=actor, id_number=person.id_number)
    return render(
        request,
        "people/person.html",
        person=person,
        household=household,
        history=history,
        labels=Labels(t),
        mask=registry.mask,
    )
