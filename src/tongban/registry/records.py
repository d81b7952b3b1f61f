"""The registry's exchange format, record by record (see ``docs/registry-format.md``).

One JSON object per line, with a ``type``: ``household``, ``person``, ``membership``, ``journal`` or
``household_journal``.
Records refer to each other by natural keys (household number, ID number), never by database ids. This
module checks each record alone and turns it into a typed value; ``importing`` checks the records together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tongban.core.errors import TongbanError
from tongban.core.i18n import N_
from tongban.idnum.domain import InvalidIdNumber, parse_id
from tongban.registry.domain import (
    HouseholdEvent,
    HouseholdKind,
    JournalEvent,
    Relation,
    check_birthplace,
    check_division,
    check_ethnicity,
    check_household_number,
    check_name,
)


class RecordError(ValueError):
    """A record that cannot be imported: an English msgid with its parameters (never personal data)."""

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message = message
        self.params = params
        self.reason = message.format(**params)
        super().__init__(self.reason)


@dataclass(frozen=True)
class HouseholdRec:
    line: int
    number: str
    kind: HouseholdKind
    address: str
    division: str
    created_on: date


@dataclass(frozen=True)
class PersonRec:
    line: int
    id_number: str
    name: str
    sex: str
    birth_date: date
    ethnicity: str
    birthplace: str


@dataclass(frozen=True)
class MembershipRec:
    line: int
    household: str
    id_number: str
    relation: Relation
    from_date: date
    to_date: date | None


@dataclass(frozen=True)
class JournalRec:
    line: int
    id_number: str
    seq: int | None
    event: JournalEvent
    on_date: date
    household: str | None
    division: str | None
    relation: Relation | None
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None
    actor: str
    recorded_at: datetime | None


@dataclass(frozen=True)
class HouseholdJournalRec:
    """An entry of a household's journal (address corrections, head changes). In the file a person named in
    ``detail`` is an ID number under a key ending ``_id_number``; stored, it is the person's surrogate id under
    the same key ending ``_person_id`` (``PERSON_KEY`` and ``NUMBER_KEY``)."""

    line: int
    household: str
    seq: int | None
    event: HouseholdEvent
    on_date: date
    reason: str | None
    case_ref: str | None
    detail: dict[str, Any] | None
    actor: str
    recorded_at: datetime | None

    def persons(self) -> list[str]:
        """The ID numbers ``detail`` names."""
        return [v for k, v in (self.detail or {}).items() if k.endswith(NUMBER_KEY) and isinstance(v, str)]


PERSON_KEY = "_person_id"  # a person in a stored household-journal detail: their surrogate id
NUMBER_KEY = "_id_number"  # the same person in the file: their ID number

Record = HouseholdRec | PersonRec | MembershipRec | JournalRec | HouseholdJournalRec

FIELDS: dict[str, tuple[set[str], set[str]]] = {  # type -> (required, optional)
    "household": ({"number", "kind", "address", "division"}, {"created_on"}),
    "person": ({"id_number", "name", "sex", "birth_date", "ethnicity", "birthplace"}, set()),
    "membership": ({"household", "id_number", "relation", "from"}, {"to"}),
    "journal": (
        {"id_number", "event", "date"},
        {"seq", "household", "division", "relation", "reason", "case_ref", "detail", "actor", "recorded_at"},
    ),
    "household_journal": (
        {"household", "event", "date"},
        {"seq", "reason", "case_ref", "detail", "actor", "recorded_at"},
    ),
}

_ALLOWED = {kind: required | optional | {"type"} for kind, (required, optional) in FIELDS.items()}


def _str(raw: Mapping[str, Any], key: str, *, max_len: int, optional: bool = False) -> str | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise RecordError(N_("Field {field} must be text of 1 to {n} characters."), field=key, n=max_len)
    return value


def _req(raw: Mapping[str, Any], key: str, *, max_len: int) -> str:
    value = _str(raw, key, max_len=max_len)
    assert value is not None
    return value


def _date(raw: Mapping[str, Any], key: str, *, optional: bool = False) -> date | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    try:
        return (
            date.fromisoformat(str(value)) if isinstance(value, str) and len(value) == 10 else _bad_date(key)
        )
    except ValueError:
        return _bad_date(key)


def _bad_date(key: str) -> date:
    raise RecordError(N_("Field {field} must be a date YYYY-MM-DD."), field=key)


def _enum(kind: Callable[[str], Any], raw: Mapping[str, Any], key: str) -> Any:
    try:
        return kind(str(raw.get(key)))
    except ValueError:
        raise RecordError(N_("Field {field} has an unknown value."), field=key) from None


def _id_number(raw: Mapping[str, Any], key: str, *, today: date, area_exists: Callable[[str], bool]) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise RecordError(N_("Field {field} must be an ID number."), field=key)
    try:
        return parse_id(value, today=today, area_exists=area_exists).number
    except InvalidIdNumber as exc:
        raise RecordError(exc.message, **exc.params) from None


class RecordReader:
    """Checks records one at a time against the division catalog and the node's province."""

    def __init__(self, *, node_code: str, today: date, ever_existed: Callable[[str], bool]) -> None:
        self.node_code = node_code
        self.today = today
        self.ever_existed = ever_existed
        self._good_divisions: set[tuple[str, bool]] = set()
        self._good_areas: set[str] = set()
        self._readers: dict[str, Callable[[int, Mapping[str, Any]], Record]] = {
            "household": self._household,
            "person": self._person,
            "membership": self._membership,
            "journal": self._journal,
            "household_journal": self._household_journal,
        }

    def division(self, code: object, *, of_node: bool) -> str:
        if not isinstance(code, str):
            raise RecordError(N_("Unknown division code {code}."), code=str(code))
        key = (code, of_node)
        if key in self._good_divisions:  # a file names the same few hundred divisions again and again
            return code
        checked = check_division(code, self.node_code, in_use=False) if of_node else check_birthplace(code)
        self._good_divisions.add(key)
        return checked

    def _area_exists(self, area: str) -> bool:
        if area in self._good_areas:
            return True
        if self.ever_existed(area):
            self._good_areas.add(area)
            return True
        return False

    def read(self, line: int, raw: object) -> Record:
        if type(raw) is not dict and not isinstance(raw, Mapping):
            raise RecordError(N_("Not a JSON object."))
        kind = raw.get("type")
        if kind not in FIELDS:
            raise RecordError(
                N_("Field type must be household, person, membership, journal or household_journal.")
            )
        required = FIELDS[kind][0]
        keys = raw.keys()
        if not required <= keys:
            missing = ", ".join(sorted(required - keys))
            raise RecordError(N_("Missing fields: {fields}."), fields=missing)
        if not keys <= _ALLOWED[kind]:
            extra = ", ".join(sorted(keys - _ALLOWED[kind]))
            raise RecordError(N_("Unexpected fields: {fields}."), fields=extra)
        try:
            return self._readers[kind](line, raw)
        except TongbanError as exc:
            raise RecordError(exc.message, **exc.params) from None

    def _household(self, line: int, raw: Mapping[str, Any]) -> HouseholdRec:
        created = _date(raw, "created_on", optional=True)
        address = _req(raw, "address", max_len=200)
        return HouseholdRec(
            line=line,
            number=check_household_number(_req(raw, "number", max_len=20)),
            kind=_enum(HouseholdKind, raw, "kind"),
            address=address,
            division=self.division(raw["division"], of_node=True),
            created_on=created or self.today,
        )

    def _person(self, line: int, raw: Mapping[str, Any]) -> PersonRec:
        number = _id_number(raw, "id_number", today=self.today, area_exists=self._area_exists)
        name = raw.get("name")
        if not isinstance(name, str):
            raise RecordError(N_("A name is required."))
        check_name(name)
        sex = raw.get("sex")
        if sex not in ("male", "female"):
            raise RecordError(N_("Field sex must be male or female."))
        birth = _date(raw, "birth_date")
        assert birth is not None
        if number[6:14] != str(raw["birth_date"]).replace("-", ""):
            raise RecordError(N_("The birth date does not match the ID number."))
        if (int(number[14:17]) % 2 == 1) != (sex == "male"):
            raise RecordError(N_("The sex does not match the ID number."))
        return PersonRec(
            line=line,
            id_number=number,
            name=name,
            sex=sex,
            birth_date=birth,
            ethnicity=check_ethnicity(str(raw.get("ethnicity"))),
            birthplace=self.division(raw["birthplace"], of_node=False),
        )

    def _membership(self, line: int, raw: Mapping[str, Any]) -> MembershipRec:
        start = _date(raw, "from")
        end = _date(raw, "to", optional=True)
        assert start is not None
        if end is not None and end < start:
            raise RecordError(N_("The membership ends before it begins."))
        return MembershipRec(
            line=line,
            household=_req(raw, "household", max_len=20),
            id_number=_req(raw, "id_number", max_len=18),
            relation=_enum(Relation, raw, "relation"),
            from_date=start,
            to_date=end,
        )

    def _journal(self, line: int, raw: Mapping[str, Any]) -> JournalRec:
        seq = raw.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1):
            raise RecordError(N_("Field seq must be a positive whole number."))
        detail = raw.get("detail")
        if detail is not None and not isinstance(detail, dict):
            raise RecordError(N_("Field detail must be an object."))
        division = raw.get("division")
        relation = raw.get("relation")
        on_date = _date(raw, "date")
        assert on_date is not None
        return JournalRec(
            line=line,
            id_number=_req(raw, "id_number", max_len=18),
            seq=seq,
            event=_enum(JournalEvent, raw, "event"),
            on_date=on_date,
            household=_str(raw, "household", max_len=20, optional=True),
            division=None if division is None else self.division(division, of_node=True),
            relation=None if relation is None else _enum(Relation, raw, "relation"),
            reason=_str(raw, "reason", max_len=200, optional=True),
            case_ref=_str(raw, "case_ref", max_len=64, optional=True),
            detail=detail,
            actor=_str(raw, "actor", max_len=64, optional=True) or "import",
            recorded_at=_instant(raw.get("recorded_at")),
        )

    def _household_journal(self, line: int, raw: Mapping[str, Any]) -> HouseholdJournalRec:
        seq = raw.get("seq")
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1):
            raise RecordError(N_("Field seq must be a positive whole number."))
        detail = raw.get("detail")
        if detail is not None and not isinstance(detail, dict):
            raise RecordError(N_("Field detail must be an object."))
        for key, value in dict(detail or {}).items():
            if key.endswith(PERSON_KEY):
                raise RecordError(N_("Name persons in detail by ID number (a key ending _id_number)."))
            if key.endswith(NUMBER_KEY) and value is not None:
                _id_number({key: value}, key, today=self.today, area_exists=self._area_exists)
        on_date = _date(raw, "date")
        assert on_date is not None
        return HouseholdJournalRec(
            line=line,
            household=_req(raw, "household", max_len=20),
            seq=seq,
            event=_enum(HouseholdEvent, raw, "event"),
            on_date=on_date,
            reason=_str(raw, "reason", max_len=200, optional=True),
            case_ref=_str(raw, "case_ref", max_len=64, optional=True),
            detail=detail,
            actor=_str(raw, "actor", max_len=64, optional=True) or "import",
            recorded_at=_instant(raw.get("recorded_at")),
        )


def _instant(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        raise RecordError(N_("Field recorded_at must be an ISO 8601 time with its zone.")) from None
    if at.tzinfo is None:
        raise RecordError(N_("Field recorded_at must be an ISO 8601 time with its zone."))
    return at.astimezone(UTC)
