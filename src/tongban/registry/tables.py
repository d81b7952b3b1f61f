"""The registry's tables: persons, households, memberships, the journal, current state, search keys, counters.

Surrogate integer ids join the tables; ID numbers and household numbers are unique natural keys (an ID
number can itself be corrected, so it is not a key other rows point at). Enumerations are stored by value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base, UTCDateTime

# Search keys compare by code point on both backends: "C" collation on PostgreSQL (so that a prefix range
# uses the B-tree index and sorts like SQLite's BINARY), SQLite's default BINARY elsewhere.
KeyText = String(96).with_variant(String(96, collation="C"), "postgresql")


class Person(Base):
    __tablename__ = "registry_persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    ethnicity: Mapped[str] = mapped_column(String(2))
    birthplace: Mapped[str] = mapped_column(String(6))


class Household(Base):
    __tablename__ = "registry_households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(200))
    division_code: Mapped[str] = mapped_column(String(6), index=True)
    head_person_id: Mapped[int | None] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    created_on: Mapped[date] = mapped_column(Date)


class Membership(Base):
    __tablename__ = "registry_memberships"
    __table_args__ = (
        # At most one open membership per person: nobody is in two households at once.
        Index(
            "uq_registry_memberships_open_person",
            "person_id",
            unique=True,
            sqlite_where=text("to_date IS NULL"),
            postgresql_where=text("to_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("registry_households.id"), index=True)
    relation: Mapped[str] = mapped_column(String(20))
    from_date: Mapped[date] = mapped_column(Date)
    to_date: Mapped[date | None] = mapped_column(Date)


class PersonState(Base):
    """A person's current registration, kept in the same transaction as each journal entry."""

    __tablename__ = "registry_person_state"

    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), index=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("registry_households.id"), index=True)
    division_code: Mapped[str | None] = mapped_column(String(6))
    since: Mapped[date] = mapped_column(Date)
    last_seq: Mapped[int] = mapped_column(Integer)


class JournalEntry(Base):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "registry_journal"

    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(12))
    on_date: Mapped[date] = mapped_column(Date)
    status_after: Mapped[str] = mapped_column(String(12))
    division_code: Mapped[str | None] = mapped_column(String(6))
    household_id: Mapped[int | None] = mapped_column(ForeignKey("registry_households.id"), index=True)
    relation: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SearchKey(Base):
    """One search key of a person's name (hanzi, a full pinyin reading, or initials).

    ``division_code`` is the person's jurisdiction (the division where they are registered, or were last
    registered here), copied so that a county clerk's search is one range on ``(division_code, key)``.
    """

    __tablename__ = "registry_search_keys"
    __table_args__ = (Index("ix_registry_search_keys_division_key", "division_code", "key"),)

    key: Mapped[str] = mapped_column(KeyText, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), primary_key=True, index=True)
    division_code: Mapped[str | None] = mapped_column(String(6))


class IdCounter(Base):
    """The last sequence number issued per (area, birth date, sex): never derived from residents."""

    __tablename__ = "registry_id_counters"

    area: Mapped[str] = mapped_column(String(6), primary_key=True)
    birth_date: Mapped[date] = mapped_column(Date, primary_key=True)
    sex: Mapped[str] = mapped_column(String(6), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer)


class HouseholdJournalEntry(Base):
    """A household's append-only journal: corrections of its address and changes of its head, each with the
    prior value kept in ``detail``. (Membership changes live in the persons' journals.)"""

    __tablename__ = "registry_household_journal"

    household_id: Mapped[int] = mapped_column(ForeignKey("registry_households.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event: Mapped[str] = mapped_column(String(20))
    on_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    case_ref: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RegistryCount(Base):
    """Maintained counts per division: persons by current status (``status``) and households (``status`` is
    ``"household"``), kept in the transaction of every change of a person's state or a new household, so
    that the counts of a 10-million-person node are read from a few rows instead of counted."""

    __tablename__ = "registry_counts"

    division_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), primary_key=True)
    total: Mapped[int] = mapped_column(Integer)
