"""Probes: the exchange's own message type, to check a route end to end (operators, crash tests, benchmarks)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from tongban.core.node import NodeContext
from tongban.exchange.domain import types
from tongban.exchange.service import Incoming, register_handler
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


types.register(PROBE_TYPE, Probe)
register_handler(PROBE_TYPE, apply_probe)
