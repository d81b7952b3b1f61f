"""Verifying a node's audit chain end to end.

Checked, in chain order: positions run 1, 2, 3 ... without a gap or a repeat; every row links to the
previous row's hash; every row's hash matches its content; no row carries half a seal (chain columns
erased or forged); every seal checkpoint names the hash found at its position; and the chain reaches the
newest seal exactly (so deleting the last rows, which breaks no link, is caught too). Rows not yet sealed
are reported as pending, not as faults: their transaction committed after the last sealing run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tongban.audit import domain, store
from tongban.audit.jobs import content_of
from tongban.audit.tables import AuditRow


@dataclass(frozen=True)
class Fault:
    pos: int | None
    seq: int | None
    kind: str  # gap, link, content, half-sealed, seal, head
    detail: str

    def describe(self) -> str:
        where = f"position {self.pos}" if self.pos is not None else "chain"
        if self.seq is not None:
            where += f" (seq {self.seq})"
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class Report:
    sealed: int = 0
    pending: int = 0
    head_pos: int = 0
    head_hash: str = domain.GENESIS
    faults: list[Fault] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    @property
    def first(self) -> Fault | None:
        return self.faults[0] if self.faults else None


def verify_chain(session: Session, *, page: int = 2000, max_faults: int = 100) -> Report:
    report = Report()
    seal_heads = {s.last_pos: s for s in store.seals(session)}
    prev_hash = domain.GENESIS
    expected = 1
    after = 0

    def fault(pos: int | None, seq: int | None, kind: str, detail: str) -> None:
        if len(report.faults) < max_faults:
            report.faults.append(Fault(pos, seq, kind, detail))

    while True:
        rows = store.sealed_rows(session, after, page)
        if not rows:
            break
        for row in rows:
            pos = row.chain_pos
            assert pos is not None
            if pos != expected:
                fault(pos, row.seq, "gap", f"expected position {expected}: rows are missing")
            if row.row_hash is None or row.prev_hash is None or row.sealed_at is None:
                fault(pos, row.seq, "half-sealed", "chain columns are incomplete")
                prev_hash = row.row_hash or prev_hash
            else:
                if row.prev_hash != prev_hash:
                    fault(pos, row.seq, "link", "does not link to the previous row's hash")
                if domain.row_hash(content_of(row), row.prev_hash) != row.row_hash:
                    fault(pos, row.seq, "content", "content does not match its hash (edited)")
                prev_hash = row.row_hash
            seal = seal_heads.get(pos)
            if seal is not None and seal.head_hash != row.row_hash:
                fault(pos, row.seq, "seal", "differs from the head recorded when it was sealed")
            report.sealed += 1
            expected = pos + 1
            after = pos
    report.head_pos = after
    report.head_hash = prev_hash

    for last_pos in sorted(seal_heads):
        if last_pos > after:
            fault(
                after + 1,
                None,
                "head",
                f"the sealed chain reached position {last_pos}; rows from here on are gone",
            )
            break
    newest = max(seal_heads) if seal_heads else 0
    if after > newest:
        fault(
            newest + 1,
            None,
            "head",
            f"rows sealed after the newest checkpoint (position {newest}) were added",
        )

    half = session.execute(
        select(AuditRow.seq).where(
            AuditRow.chain_pos.is_(None),
            or_(
                AuditRow.row_hash.is_not(None),
                AuditRow.prev_hash.is_not(None),
                AuditRow.sealed_at.is_not(None),
            ),
        )
    ).scalars()
    for seq in half:
        fault(None, seq, "half-sealed", "chain position erased from a sealed row")
    report.pending = store.count_unsealed(session)
    return report
