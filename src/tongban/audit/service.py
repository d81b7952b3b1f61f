"""Audit use cases: write a row in the caller's transaction, read the log."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tongban.audit import domain, store


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    change: Mapping[str, Any] | None,
    at: datetime,
) -> None:
    """Append an audit row in the caller's transaction (it commits or rolls back with the change).

    ``actor`` is a user id or a system name (``system:import``), never a person's name; ``object_id`` is
    the object's opaque id (a person's internal id, a case reference), not an ID number. ``change`` is
    kept only as a salted digest plus a summary of its field names and non-personal values.
    """
    if at.tzinfo is None:
        raise ValueError("naive datetime: times must carry their zone")
    digest = salt = summary = None
    if change is not None:
        salt = domain.new_salt()
        digest = domain.change_digest(change, salt)
        summary = domain.canonical_json(domain.summarize_change(change))
    store.add_row(
        session,
        at=at,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        change_digest=digest,
        change_salt=salt,
        change_summary=summary,
    )


def change_matches(change: Mapping[str, Any], *, digest: str, salt: str) -> bool:
    """Whether ``change`` is the change audited with ``digest`` and ``salt``."""
    return domain.change_digest(change, salt) == digest


def record_batch(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    batch_id: str,
    count: int,
    at: datetime,
    source: str | None = None,
    object_ids: list[str] | None = None,
) -> None:
    """Audit one batch of a bulk import with a single row (call it once per committed batch).

    ``object_ids`` (opaque ids of the objects written) are kept only inside the digest, so the batch's
    exact content can be checked later without listing it in the log.
    """
    change: dict[str, Any] = {"batch": batch_id, "count": count, "source": source}
    if object_ids is not None:
        change["object_ids"] = list(object_ids)
    record_audit(
        session,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=f"batch:{batch_id}",
        change=change,
        at=at,
    )
