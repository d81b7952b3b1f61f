"""Demo accounts of a synthetic nation: one window clerk per node, so a newcomer can sign in and search, and
one county supervisor per node (same county), who sees the supervision dashboard over the node's demo cases.

Each node gets a clerk at an office of its most populous county (a clerk's searches stay within their
county), with a random password and a second factor whose enrolment is started but not confirmed: at the
first sign-in the enrolment page shows its QR code, and ``tongban nation demo-login`` prints the current code.
The accounts' secrets are written to ``demo-accounts.json`` in the data dir (readable by its owner only):
they guard synthetic data on a developer's machine, never real people's.
"""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import pyotp

from tongban.access import service as access
from tongban.access.domain import Role
from tongban.access.keys import app_secret
from tongban.access.settings import AccessSettings
from tongban.core.node import NodeContext
from tongban.nation.domain import ProvinceNation

DEMO_FILE = "demo-accounts.json"
ACTOR = "nation-generator"


@dataclass(frozen=True)
class DemoAccount:
    node: str
    login: str
    password: str
    division_code: str
    office_code: str
    totp_secret: str
    role: str = Role.WINDOW_CLERK.value


def busiest_county(nation: ProvinceNation) -> str:
    """The county with the most people registered in it now (ties: the smallest code)."""
    return busiest_counties(nation, 1)[0]


def busiest_counties(nation: ProvinceNation, n: int) -> list[str]:
    """The ``n`` counties with the most people registered in them now (ties: the smallest code first)."""
    counts = Counter(h.division_code for h in nation.households)
    return sorted(counts, key=lambda code: (-counts[code], code))[:n]


def create_demo_clerk(node: NodeContext, *, county: str, now: datetime) -> DemoAccount:
    return _create_demo_account(
        node, county=county, now=now, role=Role.WINDOW_CLERK, login=f"clerk{node.code}", office=f"{county}-01"
    )


def create_demo_supervisor(node: NodeContext, *, county: str, now: datetime) -> DemoAccount:
    """A county supervisor of ``county``: the supervision dashboard shows that county's offices."""
    return _create_demo_account(
        node,
        county=county,
        now=now,
        role=Role.COUNTY_SUPERVISOR,
        login=f"supervisor{node.code}",
        office=f"{county}-00",
    )


def _create_demo_account(
    node: NodeContext, *, county: str, now: datetime, role: Role, login: str, office: str
) -> DemoAccount:
    password = "demo-" + secrets.token_urlsafe(12)
    noun = "clerk" if role is Role.WINDOW_CLERK else "supervisor"
    user = access.add_user(
        node.db,
        settings=AccessSettings(),
        now=now,
        actor=ACTOR,
        login=login,
        role=role,
        display_name=f"Demo {noun} {node.code}",
        password=password,
        division_code=county,
        office_code=office,
    )
    secret = access.start_totp_enrolment(node.db, user_id=user.id, key=app_secret(node.settings))
    return DemoAccount(
        node=node.code,
        login=login,
        password=password,
        division_code=county,
        office_code=office,
        totp_secret=secret,
        role=role.value,
    )


def write_demo_file(data_dir: Path, accounts: list[DemoAccount]) -> Path:
    path = data_dir / DEMO_FILE
    tmp = data_dir / (DEMO_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"accounts": [asdict(a) for a in accounts]}, fh, ensure_ascii=False, indent=2)
    tmp.replace(path)
    return path


def read_demo_file(data_dir: Path, role: Role | None = Role.WINDOW_CLERK) -> list[DemoAccount]:
    """The demo accounts of ``role`` (the clerks by default; ``None``: every account)."""
    path = data_dir / DEMO_FILE
    if not path.exists():
        return []
    raw = json.loads(path.read_text(encoding="utf-8"))
    accounts = [DemoAccount(**a) for a in raw.get("accounts", [])]
    return [a for a in accounts if role is None or a.role == role.value]


def current_code(account: DemoAccount, at: datetime | None = None) -> str:
    """The account's one-time code now (or at ``at``)."""
    totp = pyotp.TOTP(account.totp_secret)
    return str(totp.at(at) if at is not None else totp.now())
