"""Generating one province's synthetic population: deterministic for a seed, fast, plausible.

Everything is drawn from one ``random.Random`` per province (seeded from the nation's seed and the province
code) and a Faker zh_CN instance seeded the same way, in a fixed order, so the same seed always gives the same
nation. Households come first (families of couples, children and co-resident grandparents; single people;
collective households of universities and companies), then the histories (people who moved from another
county of the province, people who died), then residences in other provinces, and last the ID numbers: each
person's area code is the county code in use in the year of their first registration (birth year, or 1984
for people born earlier), with a sequence number unique per (area, birth date, sex).
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from tongban.divisions.domain import Division, DivisionCatalog, get_catalog
from tongban.idnum.domain import make_id_number
from tongban.nation import names
from tongban.nation.domain import (
    AS_OF,
    DEFAULT_ETHNICITIES,
    ETHNIC_MIX,
    FIRST_ID_YEAR,
    Event,
    Household,
    Person,
    ProvinceNation,
    Residence,
    age_on,
)

STREETS = (
    "人民", "解放", "建设", "中山", "和平", "新华", "胜利", "文化", "光明", "友谊", "朝阳", "东风",
    "幸福", "青年", "长江", "黄河", "团结", "振兴", "育才", "滨河", "公园", "花园", "新村", "工农",
)  # fmt: skip
STREET_SUFFIXES = ("路", "街", "大道", "北路", "南路", "东路", "西路")
TOWNS = ("城关", "新安", "太平", "永安", "长乐", "安乐", "龙泉", "青山", "石桥", "白沙", "柳林", "桃源")
VILLAGES = ("王庄", "李家", "张湾", "刘营", "陈庄", "杨树", "赵寨", "东岗", "西沟", "南洼", "北屯", "前进")
UNIVERSITIES = ("大学", "理工大学", "师范大学", "医科大学", "职业技术学院", "财经学院")


@dataclass
class _Draft:
    """A person while their household and history are being decided (the ID number comes last)."""

    name: str
    male: bool
    birth: date
    ethnicity: str
    household: _HouseholdDraft
    relation: str
    joined: date  # when they joined ``household``
    died: date | None = None
    origin: _HouseholdDraft | None = None  # moved from this household (another county or the same)
    origin_relation: str = "child"
    residence: Residence | None = None
    id_number: str = ""


@dataclass
class _HouseholdDraft:
    number: str
    kind: str
    county: Division
    address: str
    label: str = ""
    members: list[_Draft] = field(default_factory=list)
    head: _Draft | None = None


def _seed_for(seed: int, code: str) -> int:
    """A per-province seed derived from the nation's seed (stable across processes and versions)."""
    return (seed * 1_000_003 + int(code)) % (2**63)


def _weighted(pairs: dict[str, float]) -> Callable[[random.Random], str]:
    keys = list(pairs)
    cumulative = list(itertools.accumulate(pairs[k] for k in keys))

    def pick(rng: random.Random) -> str:
        return keys[min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(keys) - 1)]

    return pick


def _random_date(rng: random.Random, start: date, end: date) -> date:
    """A day in ``[start, end]``; ``end`` when the range is empty (``end`` is the hard limit)."""
    if end <= start:
        return end
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _birth_for_age(rng: random.Random, age: int) -> date:
    """A birth date for someone ``age`` years old on ``AS_OF``."""
    latest = date(AS_OF.year - age, AS_OF.month, AS_OF.day)
    return _random_date(rng, latest - timedelta(days=364), latest)


def _plus_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _male_at_birth(rng: random.Random, year: int) -> bool:
    """Sex at birth: the recorded ratio rose from about 106 to over 115 boys per 100 girls after 1990."""
    p = 0.515 if year < 1985 else (0.535 if year < 2015 else 0.525)
    return rng.random() < p


class _Counties:
    """A province's counties: current ones weighted by population, and their codes in past years."""

    def __init__(self, catalog: DivisionCatalog, province: str, rng: random.Random) -> None:
        self.catalog = catalog
        self.province = province
        self.current = catalog.counties_of(province)
        if not self.current:
            raise ValueError(f"no county-level division in {province}")
        # Urban districts are denser; a Pareto tail makes a few counties large, as in real provinces.
        weights = {
            d.code: rng.paretovariate(1.6) * (3.0 if d.name.endswith("区") else 1.0) for d in self.current
        }
        self._pick = _weighted(weights)
        self._by_code = {d.code: d for d in self.current}
        self._past: dict[int, dict[str, list[str]]] = {}
        self._lists: dict[tuple[str, int | None], list[Division]] = {}

    def counties_of(self, province: str, year: int | None = None) -> list[Division]:
        """The catalog's county list of a province in a year, kept (the catalog scans every code each time)."""
        key = (province, year)
        found = self._lists.get(key)
        if found is None:
            found = self._lists[key] = self.catalog.counties_of(province, year)
        return found

    def pick(self, rng: random.Random) -> Division:
        return self._by_code[self._pick(rng)]

    def _predecessors(self, year: int) -> dict[str, list[str]]:
        """Current county code -> codes in use in ``year`` that it continues."""
        found = self._past.get(year)
        if found is None:
            found = {}
            for d in self.counties_of(self.province, year):
                for successor in self.catalog.current_successors(d.code, year):
                    found.setdefault(successor.code, []).append(d.code)
            for codes in found.values():
                codes.sort()
            self._past[year] = found
        return found

    def code_in(self, county: Division, year: int, rng: random.Random) -> str:
        """The county code in use in ``year`` for the area of ``county`` (a current county).

        Years before the first ID numbers (1984) use that year's list: the shipped lists begin in 1981.
        """
        year = max(year, FIRST_ID_YEAR)
        if self.catalog.in_use(county.code, year):
            return county.code
        before = self._predecessors(year).get(county.code)
        if before:
            return before[0] if len(before) == 1 else rng.choice(before)
        # A county created from parts of others: a county of the same prefecture, else of the province.
        then = self.counties_of(self.province, year)
        same_prefecture = [d.code for d in then if d.code[:4] == county.code[:4]]
        return rng.choice(same_prefecture or [d.code for d in then])


class ProvinceGenerator:
    def __init__(
        self,
        code: str,
        people: int,
        seed: int,
        *,
        other_provinces: tuple[str, ...] = (),
        catalog: DivisionCatalog | None = None,
    ) -> None:
        self.catalog = catalog or get_catalog()
        province = self.catalog.get(code)
        if province is None or not code.endswith("0000"):
            raise ValueError(f"not a provincial-level division code: {code}")
        self.code = code
        self.name = province.name
        self.people = people
        self.seed = seed
        self.rng = random.Random(_seed_for(seed, code))
        from faker import Faker

        self.faker = Faker("zh_CN")
        self.faker.seed_instance(_seed_for(seed, code))
        self.counties = _Counties(self.catalog, code, self.rng)
        self.ethnicity = _weighted(ETHNIC_MIX.get(code[:2], DEFAULT_ETHNICITIES))
        # Provinces where some of this province's people live (none: nobody lives elsewhere).
        self.others = tuple(p for p in other_provinces if p != code)
        self.households: list[_HouseholdDraft] = []
        self.drafts: list[_Draft] = []
        self._by_county: dict[str, list[_HouseholdDraft]] = {}
        self._serial = 0

    # -- households -------------------------------------------------------------------------------------
    def _address(self, county: Division, *, rural: bool | None = None) -> str:
        rng = self.rng
        parent = self.catalog.parent(county.code)
        prefix = (
            self.name + (parent.name if parent is not None and parent.code != self.code else "") + county.name
        )
        if rural is None:
            rural = county.name.endswith(("县", "旗")) and rng.random() < 0.7
        if rural:
            return f"{prefix}{rng.choice(TOWNS)}镇{rng.choice(VILLAGES)}村{rng.randint(1, 12)}组{rng.randint(1, 160)}号"
        street = rng.choice(STREETS) + rng.choice(STREET_SUFFIXES)
        return (
            f"{prefix}{street}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋"
            f"{rng.randint(1, 6)}单元{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
        )

    def _household(
        self, kind: str, county: Division | None = None, label: str = "", *, former: bool = False
    ) -> _HouseholdDraft:
        county = county or self.counties.pick(self.rng)
        self._serial += 1
        number = f"{county.code}{self._serial:07d}"
        address = self._address(county) if not label else f"{self._address(county, rural=False)}（{label}）"
        h = _HouseholdDraft(number=number, kind=kind, county=county, address=address, label=label)
        self.households.append(h)
        if kind == "family" and not former:
            self._by_county.setdefault(county.code, []).append(h)
        return h

    def _person(
        self,
        h: _HouseholdDraft,
        relation: str,
        *,
        male: bool,
        birth: date,
        ethnicity: str,
        surname: str | None = None,
        father: str | None = None,
    ) -> _Draft:
        name = names.person_name(
            self.rng,
            ethnicity=ethnicity,
            male=male,
            birth_year=birth.year,
            surname=surname,
            father_given=father,
        )
        d = _Draft(
            name=name,
            male=male,
            birth=birth,
            ethnicity=ethnicity,
            household=h,
            relation=relation,
            joined=birth,
        )
        h.members.append(d)
        self.drafts.append(d)
        return d

    def _adult_age(self, low: int, high: int) -> int:
        # Fewer people in the older ages: a triangular draw leaning young over [low, high].
        return int(self.rng.triangular(low, high, low + (high - low) * 0.35))

    def _family(self) -> None:
        rng = self.rng
        roll = rng.random()
        eth = self.ethnicity(rng)
        if roll < 0.09:  # an elderly person living alone, often widowed
            self._elderly_alone(eth)
            return
        if roll < 0.19:  # a young adult living alone
            h = self._household("family")
            age = rng.randint(20, 42)
            h.head = self._person(
                h, "head", male=rng.random() < 0.56, birth=_birth_for_age(rng, age), ethnicity=eth
            )
            return
        if roll < 0.41:  # a couple whose children have left (or who have none)
            self._couple_with_children(eth, self._adult_age(50, 90), children=False)
            return
        if roll < 0.45:  # a single parent with children
            self._couple_with_children(eth, self._adult_age(28, 55), single_parent=True)
            return
        three_generations = roll > 0.84
        self._couple_with_children(eth, self._adult_age(25, 62), grandparents=three_generations)

    def _elderly_alone(self, eth: str) -> None:
        rng = self.rng
        h = self._household("family")
        age = self._adult_age(65, 98)
        male = rng.random() < 0.38  # widows outnumber widowers
        head = self._person(h, "head", male=male, birth=_birth_for_age(rng, age), ethnicity=eth)
        h.head = head
        if rng.random() < 0.6:
            spouse_age = min(100, max(55, age + (2 if not male else -2) + rng.randint(-3, 3)))
            spouse = self._person(
                h,
                "spouse",
                male=not male,
                birth=_birth_for_age(rng, spouse_age),
                ethnicity=eth,
                surname=None,
            )
            died = _random_date(
                rng, max(_plus_years(spouse.birth, 62), date(2012, 1, 1)), AS_OF - timedelta(days=30)
            )
            spouse.died = died

    def _couple_with_children(
        self,
        eth: str,
        head_age: int,
        *,
        children: bool = True,
        single_parent: bool = False,
        grandparents: bool = False,
    ) -> None:
        rng = self.rng
        h = self._household("family")
        husband_age = head_age
        wife_age = max(20, husband_age - round(rng.gauss(2, 2.5)))
        husband_birth = _birth_for_age(rng, husband_age)
        wife_birth = _birth_for_age(rng, wife_age)
        wife_eth = eth if rng.random() < 0.92 else self.ethnicity(rng)
        if single_parent:
            male_parent = rng.random() < 0.25
            parent = self._person(
                h, "head", male=male_parent, birth=husband_birth if male_parent else wife_birth, ethnicity=eth
            )
            h.head = parent
            husband = parent if male_parent else None
            mother_birth = wife_birth
        else:
            husband = self._person(h, "head", male=True, birth=husband_birth, ethnicity=eth)
            wife = self._person(h, "spouse", male=False, birth=wife_birth, ethnicity=wife_eth)
            # About one household in four lists the wife as head.
            if rng.random() < 0.25:
                husband.relation, wife.relation = "spouse", "head"
                h.head = wife
            else:
                h.head = husband
            mother_birth = wife_birth
        father_surname = names.surname_of(husband.name) if husband is not None else None
        father_given = names.given_part(husband.name) if husband is not None else None
        if children:
            self._children(h, eth, mother_birth, father_surname, father_given)
        if grandparents:
            self._grandparents(h, eth, husband_birth if husband is not None else wife_birth, father_surname)

    def _children(
        self, h: _HouseholdDraft, eth: str, mother_birth: date, surname: str | None, father: str | None
    ) -> None:
        rng = self.rng
        y = mother_birth.year
        if y < 1955:
            count = rng.choice((2, 3, 3, 4, 5))
        elif y < 1970:
            count = rng.choice((1, 2, 2, 3))
        elif y < 1988:
            count = rng.choice((1, 1, 1, 2))
        else:
            count = rng.choice((0, 1, 1, 1, 2, 2, 3))
        at = _plus_years(mother_birth, rng.randint(21, 31))
        for _ in range(count):
            if at > AS_OF:
                break
            # Adult children over about 25 have mostly left to form their own households.
            if age_on(at, AS_OF) <= rng.choice((18, 22, 24, 26, 28, 32)):
                male = _male_at_birth(rng, at.year)
                child_surname = surname if rng.random() < 0.92 else None
                self._person(
                    h, "child", male=male, birth=at, ethnicity=eth, surname=child_surname, father=father
                )
            at = at + timedelta(days=rng.randint(500, 2200))

    def _grandparents(self, h: _HouseholdDraft, eth: str, head_birth: date, surname: str | None) -> None:
        rng = self.rng
        gap = rng.randint(23, 33)
        grandpa_birth = _plus_years(head_birth, -gap)
        if age_on(grandpa_birth, AS_OF) > 97:
            return
        both = rng.random() < 0.55
        grandma_birth = _plus_years(grandpa_birth, rng.randint(0, 4))
        people: list[_Draft] = []
        if both or rng.random() < 0.4:
            people.append(
                self._person(h, "parent", male=True, birth=grandpa_birth, ethnicity=eth, surname=surname)
            )
        if both or not people:
            people.append(self._person(h, "parent", male=False, birth=grandma_birth, ethnicity=eth))
        moved_in = _random_date(rng, date(1995, 1, 1), AS_OF - timedelta(days=400))
        # They left their own household (same county or another) to live with their child's family.
        old = self._household("family", h.county if rng.random() < 0.6 else None, former=True)
        for p in people:
            p.joined = min(max(moved_in, _plus_years(p.birth, 45)), AS_OF - timedelta(days=60))
            p.origin = old
            p.origin_relation = "head" if p is people[0] else "spouse"
        if len(people) == 2 and age_on(grandpa_birth, AS_OF) > 72 and rng.random() < 0.35:
            people[0].died = _random_date(
                rng, max(people[0].joined + timedelta(days=60), date(2012, 1, 1)), AS_OF - timedelta(days=30)
            )

    def _collective(self) -> None:
        rng = self.rng
        county = self.counties.pick(rng)
        if rng.random() < 0.5:
            label = (county.name[:2] if len(county.name) > 2 else self.name[:2]) + rng.choice(UNIVERSITIES)
            h = self._household("collective", county, label=label + "学生集体户")
            size = rng.randint(40, 160)
            for _ in range(size):
                age = rng.randint(19, 23)  # enrolled in September of the year they turned 18
                birth = _birth_for_age(rng, age)
                d = self._person(
                    h,
                    "collective_member",
                    male=rng.random() < 0.5,
                    birth=birth,
                    ethnicity=self.ethnicity(rng),
                )
                d.joined = date(birth.year + 18, 9, 1) if date(birth.year + 18, 9, 1) <= AS_OF else AS_OF
        else:
            label = self.faker.company() + "集体户"
            h = self._household("collective", county, label=label)
            size = rng.randint(8, 60)
            for _ in range(size):
                birth = _birth_for_age(rng, self._adult_age(19, 55))
                d = self._person(
                    h,
                    "collective_member",
                    male=rng.random() < 0.6,
                    birth=birth,
                    ethnicity=self.ethnicity(rng),
                )
                d.joined = _random_date(
                    rng, max(_plus_years(birth, 18), date(2000, 1, 1)), AS_OF - timedelta(days=7)
                )

    # -- histories --------------------------------------------------------------------------------------
    def _origin_for(self, d: _Draft, county: Division) -> _HouseholdDraft | None:
        """A family household of ``county`` that could be the one ``d`` was born in (a parent-aged head)."""
        candidates = self._by_county.get(county.code)
        if not candidates:
            return None
        for _ in range(12):
            h = self.rng.choice(candidates)
            if h is d.household or h.head is None:
                continue
            gap = age_on(h.head.birth, d.birth)
            if 18 <= gap <= 45:
                return h
        return None

    def _moves(self) -> None:
        """Some adults came from another household of the province: at marriage, for study or work."""
        rng = self.rng
        for d in self.drafts:
            h = d.household
            if d.relation in ("child", "parent"):
                continue
            if h.kind == "collective":
                share, same_county = 0.85, 0.1
            elif d.relation == "spouse" or (d.relation == "head" and not d.male and len(h.members) > 1):
                share, same_county = 0.95, 0.5  # a spouse's registration moved in at marriage
            else:
                share, same_county = 0.18, 0.3
            if rng.random() >= share:
                continue
            county = h.county if rng.random() < same_county else self.counties.pick(rng)
            origin = self._origin_for(d, county)
            if origin is None:
                continue
            # Legal marriage ages: 22 for men, 20 for women; students and workers leave home from 18.
            earliest = _plus_years(d.birth, 18 if h.kind == "collective" else (22 if d.male else 20))
            births = [m.birth for m in h.members if m.relation == "child"]
            latest = min([AS_OF - timedelta(days=7), *births])
            if h.kind == "collective":
                when = d.joined
            else:
                when = _random_date(rng, earliest, min(latest, _plus_years(d.birth, 32)))
            if when < earliest or when > AS_OF:
                continue
            d.origin = origin
            d.joined = when

    # -- residences elsewhere ---------------------------------------------------------------------------
    def _residences(self) -> None:
        """About one adult in nine lives in another province, some with their children."""
        rng = self.rng
        for h in self.households:
            if h.kind != "family":
                continue
            movers = [
                m
                for m in h.members
                if m.died is None and 18 <= age_on(m.birth, AS_OF) <= 55 and rng.random() < 0.11
            ]
            if not movers:
                continue
            province = rng.choice(self.others)
            counties = self.counties.counties_of(province)
            if not counties:
                continue
            county = rng.choice(counties)
            address = self._other_address(province, county)
            since = _random_date(
                rng, max(date(2012, 1, 1), _plus_years(movers[0].birth, 18)), AS_OF - timedelta(days=30)
            )
            permit = rng.random() < 0.75
            children = [
                m
                for m in h.members
                if m.relation == "child" and age_on(m.birth, AS_OF) < 16 and m.died is None
            ]
            for m in movers + [c for c in children if rng.random() < 0.7]:
                m.residence = Residence(
                    province_code=province,
                    division_code=county.code,
                    address=address,
                    since=max(since, m.birth),
                    has_permit=permit,
                )

    def _other_address(self, province: str, county: Division) -> str:
        rng = self.rng
        prov = self.catalog.get(province)
        parent = self.catalog.parent(county.code)
        prefix = (
            (prov.name if prov else "")
            + (parent.name if parent is not None and parent.code != province else "")
            + county.name
        )
        return f"{prefix}{rng.choice(STREETS)}{rng.choice(STREET_SUFFIXES)}{rng.randint(1, 999)}号{rng.randint(1, 30)}栋{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"

    # -- ID numbers and journals ------------------------------------------------------------------------
    def _assign_ids(self) -> None:
        counters: dict[tuple[str, date, bool], int] = {}
        for d in self.drafts:
            first = d.origin.county if d.origin is not None else d.household.county
            year = max(d.birth.year, FIRST_ID_YEAR)
            area = self.counties.code_in(first, year, self.rng)
            key = (area, d.birth, d.male)
            n = counters.get(key, 0)
            if n >= 499:  # every sequence of that day used: a neighbouring county of the same year
                area = self.counties.code_in(self.counties.pick(self.rng), year, self.rng)
                key = (area, d.birth, d.male)
                n = counters.get(key, 0)
            counters[key] = n + 1
            d.id_number = make_id_number(area, d.birth, 2 * n + 1 if d.male else 2 * n + 2)

    def _events(self, d: _Draft) -> list[Event]:
        rng = self.rng
        h = d.household
        events: list[Event] = []
        first = d.origin if d.origin is not None else h
        area = d.id_number[:6]
        if d.origin is not None:
            events.append(Event("born", d.birth, area, first.number, d.origin_relation))
            # Division codes change: the move is recorded with the code in use in the year of the move.
            code_then = self.counties.code_in(first.county, d.joined.year, rng)
            reason = (
                "study"
                if h.label.endswith("学生集体户")
                else ("work" if h.kind == "collective" else "family")
            )
            events.append(Event("moved_out", d.joined, code_then, first.number, None, reason))
            events.append(
                Event(
                    "moved_in",
                    d.joined,
                    self.counties.code_in(h.county, d.joined.year, rng),
                    h.number,
                    d.relation,
                    reason,
                )
            )
        else:
            events.append(Event("born", d.birth, area, h.number, d.relation))
        if d.died is not None:
            died_in = self.counties.code_in(h.county, d.died.year, rng)
            events.append(Event("deceased", d.died, died_in, h.number, None, "death"))
        return events

    def generate(self, progress: Callable[[int], None] | None = None) -> ProvinceNation:
        rng = self.rng
        reported = 0
        while len(self.drafts) < self.people:
            if rng.random() < 0.006 and self.people - len(self.drafts) > 60:
                self._collective()
            else:
                self._family()
            if progress is not None and len(self.drafts) - reported >= 1000:
                progress(len(self.drafts) - reported)
                reported = len(self.drafts)
        self._trim()
        self._moves()
        if self.others:
            self._residences()
        self._assign_ids()
        born_in: dict[str, list[date]] = {}
        for d in self.drafts:
            if d.origin is not None:
                born_in.setdefault(d.origin.number, []).append(d.birth)
        households = []
        for h in self.households:
            dates = [m.joined if m.origin is not None else m.birth for m in h.members] + born_in.get(
                h.number, []
            )
            if not dates:  # a former household whose only leaver was trimmed away
                continue
            households.append(
                Household(
                    number=h.number,
                    kind=h.kind,
                    address=h.address,
                    division_code=h.county.code,
                    created_on=min(dates),
                    label=h.label,
                    head=h.head.id_number if h.head is not None else None,
                )
            )
        persons = [
            Person(
                id_number=d.id_number,
                name=d.name,
                sex="male" if d.male else "female",
                birth_date=d.birth,
                ethnicity=d.ethnicity,
                birthplace=d.id_number[:6],
                events=self._events(d),
                residence=d.residence,
            )
            for d in self.drafts
        ]
        if progress is not None and len(self.drafts) > reported:
            progress(len(self.drafts) - reported)
        return ProvinceNation(
            code=self.code, name=self.name, seed=self.seed, households=households, persons=persons
        )

    def _trim(self) -> None:
        """Drop the last household's surplus so the province has exactly the people asked for."""
        while len(self.drafts) > self.people:
            d = self.drafts.pop()
            d.household.members.remove(d)
            if d.household.head is d:
                d.household.head = None
            if not d.household.members:
                self.households.remove(d.household)
                if d.household.kind == "family":
                    self._by_county[d.household.county.code].remove(d.household)
        for h in self.households:
            if h.kind == "family" and h.head is None:
                alive = [m for m in h.members if m.died is None]
                h.head = alive[0] if alive else None
                if h.head is not None:
                    h.head.relation = "head"


def generate_province(
    code: str,
    people: int,
    seed: int,
    *,
    other_provinces: tuple[str, ...] = (),
    progress: Callable[[int], None] | None = None,
    catalog: DivisionCatalog | None = None,
) -> ProvinceNation:
    """One province's synthetic population of exactly ``people`` persons, the same for the same seed."""
    return ProvinceGenerator(code, people, seed, other_provinces=other_provinces, catalog=catalog).generate(
        progress
    )
