"""What the cases capability reads at start-up: the matter catalog, local policies and the working calendar.

Everything is validated here, so a broken data file stops the process with the file and field named, instead
of failing on the first application that touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tongban.cases.calendar import WorkingCalendar
from tongban.cases.catalog import CatalogError, MatterCatalog
from tongban.cases.policy import FALLBACK_LOCALITY, PolicyBook
from tongban.core.settings import Settings
from tongban.divisions.domain import get_catalog as division_catalog


@dataclass(frozen=True)
class CasesSetup:
    catalog: MatterCatalog
    policies: PolicyBook
    calendar: WorkingCalendar


def load_setup(settings: Settings) -> CasesSetup:
    """Read and cross-check the catalog, the policies and the calendar (``CatalogError`` and friends)."""
    catalog = MatterCatalog.load()
    policies = PolicyBook.load(settings.policy_dir)
    problems = [f"{p.source}: {m}" for p in policies.policies for m in catalog.missing_in(p)]
    if problems:
        raise CatalogError("local policies lack keys the matters use: " + "; ".join(problems))
    divisions = division_catalog()
    unknown = [
        f"{p.source}: {p.locality}"
        for p in policies.policies
        if p.locality != FALLBACK_LOCALITY and not divisions.ever_existed(p.locality)
    ]
    if unknown:
        raise CatalogError(
            "local policies name localities that are not GB/T 2260 codes: " + "; ".join(unknown)
        )
    return CasesSetup(
        catalog=catalog, policies=policies, calendar=WorkingCalendar.from_dir(settings.calendar_dir)
    )
