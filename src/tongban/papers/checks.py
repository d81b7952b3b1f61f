"""The papers' invariant check (``tongban check``): at most one live move-in permit and one live migration
certificate per migration case, across the nation.

A migration paper's ``subject_ref`` is the destination's case number. Live: not revoked and not expired. Two
live papers of one type for one case are a finding unless a reissue links them (``reissue_of``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import or_, select

from tongban.core.checks import Check, Finding, NationView, check
from tongban.papers.tables import PaperRow
from tongban.papers.types import MIGRATION_CERTIFICATE, MOVE_IN_PERMIT

ONE_PER_CASE = (MOVE_IN_PERMIT.code, MIGRATION_CERTIFICATE.code)


def _root(parent: dict[tuple[str, str], tuple[str, str]], k: tuple[str, str]) -> tuple[str, str]:
    while parent[k] != k:
        parent[k] = parent[parent[k]]
        k = parent[k]
    return k


@check("paper.two-live-for-one-case")
def one_live_paper_per_case(view: NationView) -> Iterator[Finding]:
    # (type, case number) -> [(issuer, number, reissue_of)]
    groups: dict[tuple[str, str], list[tuple[str, str, str | None]]] = defaultdict(list)
    for code in sorted(view.nodes):
        if not view.has_table(code, PaperRow.__tablename__):
            continue
        with view.session(code) as s:
            rows = s.execute(
                select(
                    PaperRow.issuer, PaperRow.number, PaperRow.type, PaperRow.subject_ref, PaperRow.reissue_of
                )
                .where(PaperRow.type.in_(ONE_PER_CASE))
                .where(PaperRow.subject_ref.is_not(None))
                .where(PaperRow.revoked_at.is_(None))
                .where(or_(PaperRow.valid_until.is_(None), PaperRow.valid_until > view.now))
            )
            for issuer, number, type_, subject_ref, reissue_of in rows:
                groups[(str(type_), str(subject_ref))].append((issuer, number, reissue_of))
    for (type_, case), papers in sorted(groups.items()):
        if len(papers) < 2:
            continue
        # Papers linked by reissues are one lineage: count the lineages (union-find over the group).
        parent = {(i, n): (i, n) for i, n, _ in papers}
        for issuer, number, reissue_of in papers:
            if reissue_of is not None and (issuer, reissue_of) in parent:
                parent[_root(parent, (issuer, number))] = _root(parent, (issuer, reissue_of))
        lineages = {_root(parent, (i, n)) for i, n, _ in papers}
        if len(lineages) < 2:
            continue
        numbers = sorted(n for _, n, _ in papers)
        yield Finding(
            "paper.two-live-for-one-case",
            sorted(papers)[1][0],
            case,
            f"{len(lineages)} live {type_} papers for one case: {', '.join(numbers)}",
        )


CHECKS: list[Check] = [one_live_paper_per_case]
