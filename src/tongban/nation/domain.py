"""What a synthetic nation is made of, in plain Python: provinces, people, households, journal events.

The generator (``tongban.nation.generator``) fills these values; the CLI hands them to the registry's import
path. Nothing here touches a database. All data is synthetic: names are drawn from pools, ID numbers are
computed, addresses are assembled from division names and invented streets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

#: The nation's "today": births, moves and deaths happen on or before it, so a seed gives the same nation
#: whatever day it is generated.
AS_OF = date(2026, 6, 30)
#: Resident ID numbers (GB 11643-1999) were first issued in 1984: people born earlier got theirs from the
#: county their registration was in that year.
FIRST_ID_YEAR = 1984

#: Provinces chosen, in this order, when only a number is given: large, varied, and with minorities.
DEFAULT_PROVINCES: tuple[str, ...] = (
    "110000",  # 北京
    "440000",  # 广东
    "510000",  # 四川
    "650000",  # 新疆
    "310000",  # 上海
    "330000",  # 浙江
    "420000",  # 湖北
    "450000",  # 广西
    "150000",  # 内蒙古
    "540000",  # 西藏
    "370000",  # 山东
    "410000",  # 河南
    "320000",  # 江苏
    "500000",  # 重庆
    "610000",  # 陕西
    "230000",  # 黑龙江
)

#: Ethnic composition per province (GB/T 3304 code -> share in percent), rounded from the 2020 census;
#: provinces not listed use ``DEFAULT_ETHNICITIES``.
ETHNIC_MIX: dict[str, dict[str, float]] = {
    "11": {"01": 95.4, "11": 1.6, "03": 1.3, "02": 0.5, "10": 0.3, "04": 0.1, "05": 0.1},
    "44": {"01": 97.5, "08": 1.3, "13": 0.3, "15": 0.3, "06": 0.3, "22": 0.2},
    "51": {"01": 93.6, "07": 3.4, "04": 1.8, "33": 0.4, "15": 0.3, "03": 0.1},
    "65": {"05": 44.9, "01": 42.2, "17": 6.5, "03": 4.1, "29": 0.8, "02": 0.7, "38": 0.2},
    "54": {"04": 86.0, "01": 12.2, "03": 0.5, "54": 0.3},
    "15": {"01": 78.7, "02": 17.7, "11": 1.9, "03": 0.9, "31": 0.3},
    "45": {"01": 62.5, "08": 31.4, "13": 3.3, "06": 1.1, "12": 0.7, "32": 0.4},
    "31": {"01": 98.8, "03": 0.4, "06": 0.1, "15": 0.1, "08": 0.1},
}
DEFAULT_ETHNICITIES: dict[str, float] = {
    "01": 96.0,
    "03": 1.2,
    "11": 1.0,
    "06": 0.5,
    "15": 0.5,
    "08": 0.5,
    "02": 0.3,
}


@dataclass(frozen=True)
class Event:
    """One entry of a person's registration journal, as the nation records it."""

    event: str  # registry journal event: born, moved_out, moved_in, deceased
    on: date
    division_code: str | None  # the county code in use on that day
    household: str | None  # household number (born / moved_in: the household joined)
    relation: str | None = None  # relation to the head in that household
    reason: str | None = None


@dataclass(frozen=True)
class Residence:
    """Where someone lives when that is outside their hukou province (the users of cross-province services)."""

    province_code: str
    division_code: str
    address: str
    since: date
    has_permit: bool  # holds a residence permit (居住证) of the place they live


@dataclass
class Person:
    id_number: str
    name: str
    sex: str  # "male" / "female"
    birth_date: date
    ethnicity: str  # GB/T 3304 code
    birthplace: str  # division code of the first registration (also the ID number's area)
    events: list[Event] = field(default_factory=list)
    residence: Residence | None = None

    @property
    def deceased(self) -> bool:
        return any(e.event == "deceased" for e in self.events)


@dataclass
class Household:
    number: str
    kind: str  # "family" / "collective"
    address: str
    division_code: str  # the county code in use now
    created_on: date
    label: str = ""  # collective households: the unit (a university, a company)
    head: str | None = None  # ID number of the head (collective households may have none)


@dataclass
class ProvinceNation:
    """One province's share of a synthetic nation: what its node's registry holds."""

    code: str
    name: str
    seed: int
    households: list[Household]
    persons: list[Person]

    def residents_elsewhere(self) -> list[Person]:
        return [p for p in self.persons if p.residence is not None]


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
