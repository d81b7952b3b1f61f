"""The nation's own table: people who live in this node's province with their hukou in another province.

A residence (居住登记, and the residence permit 居住证 once issued) belongs to the place where a person lives,
so it is kept in the node of that province, not in the hukou node. The registry has no place for it: its
records are about registration (hukou), not residence. Future capabilities (first ID card or newborn
registration where one lives) read it through ``tongban.nation.service``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from tongban.core.db import Base


class Resident(Base):
    __tablename__ = "nation_residents"

    id_number: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[date] = mapped_column(Date)
    # Provincial-level code of the hukou node, where the registration is.
    hukou_province: Mapped[str] = mapped_column(String(6), index=True)
    # County-level division of this province where the person lives, and the address.
    division_code: Mapped[str] = mapped_column(String(6), index=True)
    address: Mapped[str] = mapped_column(String(200))
    since: Mapped[date] = mapped_column(Date)
    has_permit: Mapped[bool] = mapped_column(Boolean)
