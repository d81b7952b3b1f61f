"""An import that loses a race for an ID number or household number ends in a ``Conflict``, nothing loaded."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from tongban.core.clock import FixedClock
from tongban.core.db import Database
from tongban.core.errors import Conflict
from tongban.core.node import NodeContext
from tongban.core.settings import Settings
from tongban.registry import importing, service, store
from tongban.registry.importing import ImportRefused, import_records
from tongban.registry.tables import Household, Person

from .registry_helpers import ACTOR, NOW, new_id


def family(number: str, seqs: list[int]) -> list[dict[str, Any]]:
    """A household ``number`` whose head is the person of the first sequence number, the others children."""
    records: list[dict[str, Any]] = [
        {
            "type": "household",
            "number": number,
            "kind": "family",
            "address": "朝阳区1号",
            "division": "110105",
        }
    ]
    for i, seq in enumerate(seqs):
        records.append(
            {"type": "person", "id_number": new_id(seq=seq), "name": f"张{seq}", "sex": "male" if seq % 2 else "female",
             "birth_date": "1990-05-17", "ethnicity": "01", "birthplace": "110105"}
        )  # fmt: skip
        records.append(
            {"type": "membership", "household": number, "id_number": new_id(seq=seq),
             "relation": "head" if i == 0 else "sibling", "from": "2014-01-01"}
        )  # fmt: skip
    return records


def numbers(db: Database) -> tuple[set[str], set[str]]:
    with db.session() as s:
        return set(s.scalars(sa.select(Household.number))), set(s.scalars(sa.select(Person.id_number)))


def consistent_counts(db: Database) -> bool:
    with db.session() as s:
        maintained = {(d, st): n for d, st, n in store.counts(s)}
        return maintained == {k: n for k, n in store.recount(s).items() if n}


@pytest.mark.parametrize("taken", ["id_number", "household"])
def test_a_registration_between_check_and_load_makes_the_import_a_conflict(
    node: NodeContext, monkeypatch: pytest.MonkeyPatch, taken: str
) -> None:
    plan = importing._plan

    def register_meanwhile(*args: Any, **kw: Any) -> Any:
        number = "H1" if taken == "household" else "R1"
        service.create_household(
            node, actor=ACTOR, number=number, kind="family", address="别处", division_code="110105"
        )
        if taken == "id_number":
            service.register_person(
                node, actor=ACTOR, household_number="R1", relation="head", event="moved_in", name="张13",
                sex="male", birth_date=date(1990, 5, 17), ethnicity="01", birthplace="110105",
                id_number=new_id(seq=13), on_date=date(2020, 1, 1),
            )  # fmt: skip
        return plan(*args, **kw)

    monkeypatch.setattr(importing, "_plan", register_meanwhile)
    with pytest.raises(Conflict) as refused:
        import_records(node.db, family("H1", [11, 13, 15]), node_code=node.code, clock=FixedClock(NOW))
    assert "nothing was imported" in refused.value.render()
    households, persons = numbers(node.db)
    # Only what the registration wrote: no row of the import.
    assert persons == ({new_id(seq=13)} if taken == "id_number" else set())
    assert households == {"H1" if taken == "household" else "R1"}
    assert consistent_counts(node.db)


def test_concurrent_imports_on_postgresql_one_wins_the_other_is_a_conflict(
    pg_url: str, tmp_path: Path
) -> None:
    """The loser's COPY waits on the winner's uncommitted ID number, then fails: a ``Conflict``, not a
    unique-violation traceback, and none of its rows stay."""
    settings = Settings(data_dir=tmp_path, db_pool_size=6)
    db = Database(pg_url, settings)
    # A node with records already: the loads keep their indexes (an empty node's first load rebuilds them,
    # and its table locks make the second import wait before its check instead).
    import_records(db, family("H0", [21]), node_code="110000", clock=FixedClock(NOW))
    waiting = threading.Event()
    a_loading = threading.Event()
    outcome: dict[str, BaseException | None] = {}

    def hold_until_the_other_waits(_s: Any, _changes: Any) -> None:
        # Inside the winner's transaction, after its rows are written: let the other import run into them.
        a_loading.set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.session() as s:
                blocked = s.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            if blocked:
                waiting.set()
                return
            time.sleep(0.05)

    def run(name: str, records: list[dict[str, Any]], listener: Any = None) -> None:
        try:
            import_records(db, records, node_code="110000", clock=FixedClock(NOW), listener=listener)
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    a = threading.Thread(target=run, args=("a", family("H1", [11, 13]), hold_until_the_other_waits))
    b = threading.Thread(target=run, args=("b", family("H2", [15, 13, 17])))
    a.start()
    assert a_loading.wait(30)
    b.start()
    a.join(60)
    b.join(60)
    try:
        assert waiting.is_set(), "the second import never waited on the first"
        assert outcome["a"] is None
        assert isinstance(outcome["b"], Conflict), outcome["b"]
        assert numbers(db) == ({"H0", "H1"}, {new_id(seq=21), new_id(seq=11), new_id(seq=13)})
        assert consistent_counts(db)
    finally:
        db.dispose()


def test_concurrent_overlapping_imports_leave_exactly_one(database: Database) -> None:
    """Two threads import files sharing a person at once: one wins whole, the other is refused whole with a
    clear error (a conflict, or the row errors of a check that already saw the winner)."""
    outcome: dict[str, BaseException | None] = {}
    start = threading.Barrier(2)

    def run(name: str, records: list[dict[str, Any]]) -> None:
        start.wait()
        try:
            import_records(database, records, node_code="110000", clock=FixedClock(NOW))
            outcome[name] = None
        except BaseException as exc:
            outcome[name] = exc

    files = {"a": family("H1", [11, 13, 19]), "b": family("H2", [15, 13, 17])}
    threads = [threading.Thread(target=run, args=(n, f)) for n, f in files.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [n for n, e in outcome.items() if e is None]
    assert len(winners) == 1, outcome
    loser = ({"a", "b"} - set(winners)).pop()
    assert isinstance(outcome[loser], Conflict | ImportRefused), outcome[loser]
    expected = {r["id_number"] for r in files[winners[0]] if r["type"] == "person"}
    assert numbers(database)[1] == expected
    assert consistent_counts(database)


@pytest.mark.parametrize("stage", ["check", "load"])
def test_a_deadlock_with_a_concurrent_load_is_a_conflict(
    database: Database, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """A load into an empty node rebuilds the tables' indexes under exclusive locks; on PostgreSQL a concurrent
    import's reads, in its check as in its load, can then be chosen as a deadlock's victim. Either way that
    import lost the race: a ``Conflict`` with the same clear message, nothing loaded."""
    import_records(database, family("H0", [21]), node_code="110000", clock=FixedClock(NOW))
    real_is_empty = store.is_empty
    calls = {"n": 0}

    def deadlocked(s: Any) -> bool:
        calls["n"] += 1
        # The check's read is the first call of an import into a node with records, the load's the second.
        if calls["n"] == (1 if stage == "check" else 2):
            raise sa.exc.OperationalError("SELECT", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
        return real_is_empty(s)

    monkeypatch.setattr(importing.store, "is_empty", deadlocked)
    with pytest.raises(Conflict) as refused:
        import_records(database, family("H1", [11, 13]), node_code="110000", clock=FixedClock(NOW))
    assert "nothing was imported" in refused.value.render()
    assert numbers(database) == ({"H0"}, {new_id(seq=21)})
    assert consistent_counts(database)


def test_the_command_says_so_when_it_loses_the_race(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from tongban.cli import app

    plan = importing._plan
    settings = Settings(data_dir=tmp_path)
    node = NodeContext(code="110000", name="北京市", db=database, settings=settings, clock=FixedClock(NOW))

    def register_meanwhile(*args: Any, **kw: Any) -> Any:
        service.create_household(
            node, actor=ACTOR, number="H1", kind="family", address="别处", division_code="110105"
        )
        return plan(*args, **kw)

    monkeypatch.setattr(importing, "_plan", register_meanwhile)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in family("H1", [11])), "utf-8")
    result = CliRunner().invoke(
        app, ["registry", "import", str(src), "--node", "110000", "--db", database.url, "--lang", "en"]
    )
    assert result.exit_code == 1
    assert "registered by someone else" in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output and "IntegrityError" not in result.output
    assert numbers(database) == ({"H1"}, set())
