"""The exchange's invariant check (``tongban check``): the national locator agrees with the registries.

The locator (node ``000000``) maps the keyed digest of an ID number to a node and a status. After draining:
a person active at node N has an entry ``registered`` at N; an entry ``registered`` at N names a person active
at N; an entry ``cancelled`` names nobody active anywhere. Other statuses (``in_transit``, which the migration
work may add) are findings only when they contradict the registries (the person is active somewhere, or the
node named does not hold the person in that status). Digests whose update is still queued or unreceipted at
some node are not judged. Subjects are digest prefixes, never ID numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from tongban.core.checks import LOCATOR_CODE, Check, Finding, NationView, check
from tongban.exchange import store
from tongban.exchange.domain import parse
from tongban.exchange.locator import UPDATE_TYPE, UPDATES_TYPE, id_digest
from tongban.exchange.tables import InboxRow, LocatorEntryRow, OutboxRow
from tongban.registry.checks import ACTIVE, standings

PREFIX = 12  # hex characters of a digest shown in a finding


def _short(digest: str) -> str:
    return f"digest:{digest[:PREFIX]}"


def _digests_of(raw: bytes) -> list[str]:
    try:
        body = parse(raw, unsigned=True).body or {}
    except Exception:
        return []
    if "updates" in body:
        return [str(u.get("digest")) for u in body.get("updates") or [] if isinstance(u, dict)]
    return [str(body["digest"])] if "digest" in body else []


def pending_digests(view: NationView) -> set[str]:
    """Digests with a locator update not yet applied: queued or unreceipted at a node, or unapplied at the
    locator."""
    pending: set[str] = set()
    for code in sorted(view.nodes):
        if not view.has_table(code, OutboxRow.__tablename__):
            continue
        with view.session(code) as s:
            for raw in s.scalars(
                select(OutboxRow.raw).where(
                    OutboxRow.recipient == LOCATOR_CODE,
                    OutboxRow.type.in_((UPDATE_TYPE, UPDATES_TYPE)),
                    OutboxRow.state.in_((store.OUT_QUEUED, store.OUT_SENT)),
                )
            ):
                pending.update(_digests_of(raw))
    with view.session(LOCATOR_CODE) as s:
        for raw in s.scalars(
            select(InboxRow.raw).where(
                InboxRow.type.in_((UPDATE_TYPE, UPDATES_TYPE)),
                InboxRow.state.in_((store.IN_RECEIVED, store.IN_WAITING)),
            )
        ):
            pending.update(_digests_of(raw))
    return pending


@check("locator.missing", "locator.wrong-node", "locator.stale", "locator.unknown-person")
def locator_agrees_with_registries(view: NationView) -> Iterator[Finding]:
    if view.locator is None or view.locator_key is None:
        return  # a nation without a locator (or without its key here): nothing to compare
    if not view.has_table(LOCATOR_CODE, LocatorEntryRow.__tablename__):
        return
    key = view.locator_key
    # digest -> [(node, status, person ref)] from every registry
    people: dict[str, list[tuple[str, str | None, str]]] = {}
    for number, standing in standings(view).items():
        people[id_digest(key, number)] = [(r.node, r.status, r.ref) for r in standing]
    with view.session(LOCATOR_CODE) as s:
        entries = {
            d: (n, st)
            for d, n, st in s.execute(
                select(LocatorEntryRow.digest, LocatorEntryRow.node, LocatorEntryRow.status)
            )
        }
    pending = pending_digests(view)
    checked = set(view.nodes)

    for digest, rows in sorted(people.items()):
        if digest in pending:
            continue
        active = [(n, ref) for n, st, ref in rows if st == ACTIVE]
        entry = entries.get(digest)
        if len(active) != 1:
            continue  # nobody or several active: the registry check reports the person; see the entry below
        node, ref = active[0]
        if entry is None:
            yield Finding(
                "locator.missing", node, _short(digest), f"active at {node} ({ref}); the locator has no entry"
            )
        elif entry != (node, "registered"):
            yield Finding(
                "locator.wrong-node",
                node,
                _short(digest),
                f"active at {node} ({ref}); the locator says {entry[1]} at {entry[0]}",
            )

    for digest, (node, status) in sorted(entries.items()):
        if digest in pending or node not in checked:
            continue
        known = people.get(digest, [])
        here = [(st, ref) for n, st, ref in known if n == node]
        active_at = sorted({n for n, st, _ in known if st == ACTIVE})
        if not here:
            yield Finding(
                "locator.unknown-person",
                node,
                _short(digest),
                f"the locator says {status} at {node}, which does not know the person",
            )
            continue
        st, ref = here[0]
        if status == "registered":
            if st != ACTIVE and not active_at:
                yield Finding(
                    "locator.stale",
                    node,
                    _short(digest),
                    f"the locator says registered at {node}; the registry there says {st} ({ref})",
                )
        elif status == "cancelled":
            pass  # a person active elsewhere is reported above (wrong node)
        elif active_at:
            yield Finding(
                "locator.stale",
                node,
                _short(digest),
                f"the locator says {status} at {node}, but the person is active at {', '.join(active_at)}",
            )
        elif st != status:
            yield Finding(
                "locator.stale",
                node,
                _short(digest),
                f"the locator says {status} at {node}; the registry there says {st} ({ref})",
            )


CHECKS: list[Check] = [locator_agrees_with_registries]
