"""Audit API: the node's sealed chain head (what peers will keep, and operators compare)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from tongban.audit import store
from tongban.audit.jobs import current_head
from tongban.core.routing import requires
from tongban.web.app import CurrentNode

router = APIRouter(prefix="/audit", tags=["audit"])


class HeadRead(BaseModel):
    node: str
    pos: int
    hash: str
    sealed_at: datetime | None
    pending: int
    statement: str


@router.get("/head", dependencies=[requires("audit.log.verify")])
def head(node: CurrentNode) -> HeadRead:
    h = current_head(node.db, node=node.code)
    with node.db.session() as s:
        pending = store.count_unsealed(s)
    return HeadRead(
        node=h.node,
        pos=h.pos,
        hash=h.hash,
        sealed_at=h.sealed_at,
        pending=pending,
        statement=h.statement().decode(),
    )
