"""A large import computes search keys in a worker process: the very keys a serial import writes."""

from __future__ import annotations

import sqlalchemy as sa

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.node import NodeContext
from tongban.registry.importing import import_records
from tongban.registry.synthetic import synthetic_records
from tongban.registry.tables import Person, SearchKey

from .registry_helpers import NOW


def keys(db: Database) -> list[tuple[str, str, str | None]]:
    with db.session() as s:
        return sorted(
            (k, n, d)
            for k, n, d in s.execute(
                sa.select(SearchKey.key, Person.id_number, SearchKey.division_code).join(
                    Person, Person.id == SearchKey.person_id
                )
            )
        )


def test_keys_from_the_worker_equal_the_serial_ones(node: NodeContext, second_database: Database) -> None:
    records = list(synthetic_records(400, node_code=node.code, seed=11))
    import_records(node.db, records, node_code=node.code, clock=FixedClock(NOW), parallel_keys_from=1)
    import_records(second_database, records, node_code=node.code, clock=FixedClock(NOW))
    found = keys(node.db)
    assert len(found) > 400 * 3
    assert found == keys(second_database)
