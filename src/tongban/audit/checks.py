"""The audit's invariant check (``tongban check``): every node's audit chain verifies end to end (invariant 5).

Rows not sealed yet are pending, not faults. Off with ``TONGBAN_CHECK_AUDIT=false`` (it reads every sealed row).
"""

from __future__ import annotations

from collections.abc import Iterator

from tongban.audit.tables import AuditRow
from tongban.audit.verify import verify_chain
from tongban.core.checks import LOCATOR_CODE, Check, Finding, NationView, check


@check("audit.chain-broken")
def audit_chains_verify(view: NationView) -> Iterator[Finding]:
    if not view.settings.audit:
        return
    codes = sorted(view.nodes) + ([LOCATOR_CODE] if view.locator is not None else [])
    for code in codes:
        if not view.has_table(code, AuditRow.__tablename__):
            continue
        with view.session(code) as s:
            report = verify_chain(s)
        for fault in report.faults:
            yield Finding(
                "audit.chain-broken",
                code,
                f"audit position {fault.pos}" if fault.pos is not None else "audit chain",
                f"{fault.kind}: {fault.detail}",
            )


CHECKS: list[Check] = [audit_chains_verify]
