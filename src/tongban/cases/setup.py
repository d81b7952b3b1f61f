"""What the cases capability reads at start-up: the matter catalog, local policies and the working calendar.

Everything is validated here, so a broken data file stops the process with the file and field named, instead
of failing on the first application that touches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tongban.cases.calendar import WorkingCalendar
from tongban.cases.catalog import CatalogError, MatterCatalog
from tongban.cases.policy import PolicyBook
from tongban.core.settings import Settings


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
    return CasesSetup(
        catalog=catalog, policies=policies, calendar=WorkingCalendar.from_dir(settings.calendar_dir)
    )
