"""Fixtures for papers tests: synthetic issuers, keys and papers (no real person's data)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tongban.core.db import Database
from tongban.papers import domain, keys, types

T0 = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
ISSUER = "110000"


def migration_facts() -> dict[str, Any]:
    return {
        "case_ref": "C-2026-000123",
        "permit_number": "440000-ZQ-2026-000001",
        "moved_out_on": "2026-11-27",
        "origin_division": "110105",
        "origin_address": "北京市朝阳区示例街道1号",
        "destination_division": "440305",
        "destination_address": "广东省深圳市南山区示例路2号",
    }


SUBJECT = {"name": "测试甲", "id_number": "11010519491231002X"}


@dataclass
class Issuer:
    signer: keys.Ed25519Signer
    key: domain.PaperKey
    resolver: keys.StaticKeyResolver

    def paper(
        self,
        *,
        number: str = "110000-QY-2026-000001",
        issued_at: datetime = T0,
        valid_for: timedelta | None = timedelta(days=30),
        type_code: str = types.MIGRATION_CERTIFICATE.code,
        facts: dict[str, Any] | None = None,
        signer: keys.Ed25519Signer | None = None,
    ) -> domain.SignedPaper:
        kind = types.paper_type(type_code)
        payload = domain.build_payload(
            type=kind.code,
            number=number,
            issuer=ISSUER,
            subject=kind.check_subject(SUBJECT),
            facts=kind.check_facts(facts or migration_facts()),
            issued_at=issued_at,
            valid_until=None if valid_for is None else issued_at + valid_for,
            purpose="迁入广东省深圳市",
        )
        return domain.sign_bytes(payload, signer or self.signer)


@pytest.fixture
def issuer() -> Issuer:
    signer, key = keys.generate_key(ISSUER, not_before=T0 - timedelta(days=365))
    return Issuer(signer, key, keys.StaticKeyResolver([key]))


class Web:
    """The app over one migrated node with access control, paper keys, and signed-in users by role."""

    def __init__(self, database: Database, tmp_path: Path) -> None:
        from tests.access.helpers import make_env

        from tongban.papers import runtime as papers_runtime

        self.env = make_env(database, tmp_path)
        self.env.clock.set(datetime.now(UTC))  # papers are issued and verified at the real time here
        papers_runtime.attach(self.env.runtime)
        self.tmp_path = tmp_path

    def user(self, role: str, login: str, **where: str) -> tuple[TestClient, dict[str, str]]:
        """A signed-in client of ``role`` and the headers its unsafe requests need (node, CSRF token)."""
        from tests.access.helpers import add, signed_in

        from tongban.access.domain import Role

        client, csrf = signed_in(self.env, add(self.env, Role(role), login, **where))
        return client, {"x-tongban-node": "110000", "x-csrf-token": csrf}

    def anonymous(self) -> tuple[TestClient, dict[str, str]]:
        from tests.access.helpers import anonymous

        client, csrf = anonymous(self.env)
        return client, {"x-csrf-token": csrf}


@pytest.fixture
def web(database: Database, tmp_path: Path) -> Web:
    return Web(database, tmp_path)
