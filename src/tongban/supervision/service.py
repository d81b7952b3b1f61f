"""The supervision capability's use cases: whose figures a user sees, and the figures themselves."""

from __future__ import annotations

from tongban.access.domain import Principal, Scope
from tongban.cases import service as cases_service
from tongban.core.node import NodeContext
from tongban.supervision.queries import Figures, Reach, figures


def reach_of(user: Principal, scope: Scope, prefix: str | None, node: NodeContext) -> Reach:
    """The user's reach in ``node`` for a scope (and the division prefix the scope stands for).

    The node's tasks count only when the reach covers the whole node: tasks carry no office or division.
    """
    if scope is Scope.OFFICE or prefix is None:
        return Reach(office=user.office_code or "")
    whole_node = scope is Scope.NATION or (scope is Scope.PROVINCE and node.code.startswith(prefix))
    return Reach(division=prefix, tasks=whole_node)


def figures_for(node: NodeContext, reach: Reach, period: int) -> Figures:
    """The figures of ``reach`` in ``node`` for the last ``period`` days, as of the node's clock."""
    setup = cases_service.cases_setup(node)
    with node.db.session() as s:
        return figures(s, reach=reach, period_days=period, now=node.clock.now(), calendar=setup.calendar)
