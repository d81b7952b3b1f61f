"""The audit chain's rules in plain Python: canonical content, digests of changes, row hashes.

A row's hash is SHA-256 over the canonical JSON of its content and chain position together with the
previous row's hash; the first row links to ``GENESIS``. Changing any field, removing or inserting a row, or
swapping two rows changes some hash or breaks some link.

The change body of an audited action is not kept: only a salted digest of it (so whoever holds the change
can later show it is the one audited) and a summary of what may stay in clear: the changed field names and
the values of fields listed in ``CLEAR_FIELDS`` (codes, states, counts, never names or ID numbers). The
salt stops precomputed tables; it does not stop someone who already knows most of a change from guessing
the rest, which is why the digest is never shown outside the node.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS = "0" * 64

# Field names whose values are not personal and may be kept in clear in the audit summary.
CLEAR_FIELDS = frozenset(
    {
        "status",
        "state",
        "from_status",
        "to_status",
        "role",
        "roles",
        "matter",
        "matter_code",
        "mode",
        "office",
        "office_code",
        "division",
        "division_code",
        "node",
        "node_code",
        "case_ref",
        "reason_code",
        "count",
        "batch",
        "batch_no",
        "source",
        "version",
        "kind",
        "outcome",
        "scopes",
        "enabled",
        "disabled",
        "locked",
        "totp_enrolled",
    }
)
_CLEAR_SCALAR = (str, int, float, bool, type(None))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime in audited change")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"cannot audit a value of type {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text kept as is (no escaping, no normalising)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def new_salt() -> str:
    return secrets.token_hex(16)


def change_digest(change: Mapping[str, Any], salt: str) -> str:
    """Salted SHA-256 of the canonical JSON of ``change``."""
    return hashlib.sha256((salt + canonical_json(dict(change))).encode("utf-8")).hexdigest()


def summarize_change(change: Mapping[str, Any]) -> dict[str, Any]:
    """What of a change may be kept in clear: its field names, and values of non-personal fields."""
    summary: dict[str, Any] = {"fields": sorted(str(k) for k in change)}
    clear: dict[str, Any] = {}
    for key, value in change.items():
        if key in CLEAR_FIELDS:
            if isinstance(value, _CLEAR_SCALAR):
                clear[key] = value
            elif isinstance(value, list | tuple | set | frozenset) and all(
                isinstance(v, str | int) for v in value
            ):
                clear[key] = sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if clear:
        summary["values"] = clear
    return summary


def format_time(value: datetime | None) -> str | None:
    """A time in the hashed content: UTC, microseconds, fixed width."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime in audit row")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RowContent:
    """Everything of an audit row that its hash covers."""

    seq: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    change_digest: str | None
    change_salt: str | None
    change_summary: str | None
    chain_pos: int
    sealed_at: datetime

    def canonical(self, prev_hash: str) -> str:
        return canonical_json(
            {
                "seq": self.seq,
                "at": format_time(self.at),
                "actor": self.actor,
                "action": self.action,
                "object_type": self.object_type,
                "object_id": self.object_id,
                "change_digest": self.change_digest,
                "change_salt": self.change_salt,
                "change_summary": self.change_summary,
                "chain_pos": self.chain_pos,
                "sealed_at": format_time(self.sealed_at),
                "prev_hash": prev_hash,
            }
        )


def row_hash(content: RowContent, prev_hash: str) -> str:
    """The hash of a sealed row, linking it to ``prev_hash``."""
    return hashlib.sha256(content.canonical(prev_hash).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainHead:
    """The newest sealed position of a node's audit chain and its hash (what peers keep to compare)."""

    node: str
    pos: int
    hash: str
    sealed_at: datetime | None

    def statement(self) -> bytes:
        """The bytes a node signs to publish its head: canonical JSON, stable across versions."""
        return canonical_json(
            {
                "type": "audit.head.v1",
                "node": self.node,
                "pos": self.pos,
                "hash": self.hash,
                "sealed_at": format_time(self.sealed_at),
            }
        ).encode("utf-8")
