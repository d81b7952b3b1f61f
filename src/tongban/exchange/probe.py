"""Probes: the exchange's own message type, to check a route end to end (operators, crash tests, benchmarks)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.exchange.domain import types
from tongban.exchange.service import Incoming, register_group_handler, register_handler
from tongban.exchange.tables import ProbeRow

PROBE_TYPE = "exchange.probe.v1"


class Probe(BaseModel):
    label: str = Field(max_length=64)
    # Optional padding, to measure with envelopes of a realistic size.
    padding: str = Field(default="", max_length=65536)


def apply_probe(session: Session, node: NodeContext, incoming: Incoming) -> None:
    probe = incoming.message
    assert isinstance(probe, Probe)
    session.add(
        ProbeRow(
            sender=incoming.envelope.sender,
            envelope_id=str(incoming.envelope.id),
            label=probe.label,
            sent_at=incoming.envelope.created_at,
            applied_at=node.clock.now(),
        )
    )


def apply_probes(session: Session, node: NodeContext, incomings: list[Incoming]) -> None:
    """The same as ``apply_probe`` for each, in one multi-row insert (the exchange's group path)."""
    now = node.clock.now()
    rows = []
    for incoming in incomings:
        probe = incoming.message
        assert isinstance(probe, Probe)
        env = incoming.envelope
        rows.append(
            {
                "sender": env.sender,
                "envelope_id": str(env.id),
                "label": probe.label,
                "sent_at": env.created_at,
                "applied_at": now,
            }
        )
    table = ProbeRow.__table__
    assert isinstance(table, Table)
    session.execute(insert(table), rows)  # Core: no ORM object per probe


types.register(PROBE_TYPE, Probe)
register_handler(PROBE_TYPE, apply_probe)
register_group_handler(PROBE_TYPE, apply_probes)
