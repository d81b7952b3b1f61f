"""What the synthetic nation adds to the shell: a column of the home page's node table."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from tongban.core.i18n import N_
from tongban.core.node import NodeContext
from tongban.nation import service

router = APIRouter()


def _residents(node: NodeContext) -> str:
    count = service.count_residents(node)
    return "—" if count is None else str(count)


#: Columns of the home page's node table: (English heading, the value for a node).
HOME_COLUMNS: list[tuple[str, Callable[[NodeContext], str]]] = [
    (N_("Residents with hukou in another province"), _residents),
]
