"""A small rule evaluator over typed facts, with decisions that explain themselves (domain).

A rule is a tree: ``all`` / ``any`` / ``not`` over comparisons of one fact with a value. Each comparison
carries the requirement in words (zh-CN and en, from the policy file), with ``{value}`` standing for the
required value; each fact has a label (``married {value}``). A decision keeps, for every comparison, the
requirement text, the required value, the fact's value and the result, so it reads back as a sentence
("spouse migration requires 2 years of marriage; married 1 year 4 months") even after the policy changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from tongban.core.i18n import N_, gettext, normalize_locale


@dataclass(frozen=True, order=True)
class Span:
    """A length of time in whole months (marriage length, years of registration, age)."""

    months: int

    def __post_init__(self) -> None:
        if self.months < 0:
            raise ValueError("a span cannot be negative")

    @classmethod
    def of(cls, years: int = 0, months: int = 0) -> Span:
        return cls(years * 12 + months)

    @classmethod
    def between(cls, start: date, end: date) -> Span:
        """Whole months from ``start`` to ``end`` (a month counts once its day is reached)."""
        months = (end.year - start.year) * 12 + (end.month - start.month)
        if end.day < start.day:
            months -= 1
        return cls(max(months, 0))

    @classmethod
    def parse(cls, text: str) -> Span:
        """``2y``, ``1y4m``, ``18m``."""
        m = re.fullmatch(r"\s*(?:(\d+)\s*y)?\s*(?:(\d+)\s*m)?\s*", text)
        if not m or not (m.group(1) or m.group(2)):
            raise ValueError(f"not a span (like 2y, 1y4m, 18m): {text!r}")
        return cls.of(int(m.group(1) or 0), int(m.group(2) or 0))

    @property
    def years(self) -> int:
        return self.months // 12

    def __str__(self) -> str:
        y, m = divmod(self.months, 12)
        return f"{y}y{m}m" if y and m else (f"{y}y" if y else f"{m}m")

    def words(self, locale: str) -> str:
        y, m = divmod(self.months, 12)
        parts = []
        if y:
            parts.append(gettext(locale, N_("{n} year") if y == 1 else N_("{n} years"), n=y))
        if m or not y:
            parts.append(gettext(locale, N_("{n} month") if m == 1 else N_("{n} months"), n=m))
        return ("" if locale == "zh_CN" else " ").join(parts)


class FactType(StrEnum):
    SPAN = "span"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    TEXT = "text"
    DATE = "date"


FactValue = Span | int | bool | str | date


@dataclass(frozen=True)
class FactSpec:
    name: str
    type: FactType
    label: str  # msgid with {value}: what was found ("married {value}")
    title: str  # msgid naming the fact, for when it was not supplied ("length of marriage")


# The facts rules may use. A policy naming another fact is refused at start-up.
FACTS: dict[str, FactSpec] = {
    f.name: f
    for f in [
        FactSpec("marriage_duration", FactType.SPAN, N_("married {value}"), N_("length of marriage")),
        FactSpec(
            "sponsor_registration",
            FactType.SPAN,
            N_("the sponsor has been registered here for {value}"),
            N_("the sponsor's years of registration here"),
        ),
        FactSpec(
            "sponsor_age", FactType.INTEGER, N_("the sponsor is {value} years old"), N_("the sponsor's age")
        ),
        FactSpec(
            "parent_age", FactType.INTEGER, N_("the parent is {value} years old"), N_("the parent's age")
        ),
        FactSpec(
            "applicant_age",
            FactType.INTEGER,
            N_("the applicant is {value} years old"),
            N_("the applicant's age"),
        ),
        FactSpec("child_age", FactType.SPAN, N_("the child is {value} old"), N_("the child's age")),
        FactSpec(
            "days_since_birth", FactType.INTEGER, N_("{value} days since birth"), N_("days since birth")
        ),
        FactSpec(
            "born_in_mainland",
            FactType.BOOLEAN,
            N_("born in the mainland: {value}"),
            N_("born in the mainland"),
        ),
        FactSpec(
            "has_birth_medical_certificate",
            FactType.BOOLEAN,
            N_("birth medical certificate: {value}"),
            N_("birth medical certificate"),
        ),
        FactSpec("born_in_wedlock", FactType.BOOLEAN, N_("born in wedlock: {value}"), N_("born in wedlock")),
        FactSpec(
            "surname_of_a_parent",
            FactType.BOOLEAN,
            N_("surname of a parent: {value}"),
            N_("surname of a parent"),
        ),
        FactSpec(
            "into_family_household",
            FactType.BOOLEAN,
            N_("into a family household: {value}"),
            N_("into a family household"),
        ),
        FactSpec(
            "parent_has_residence_permit",
            FactType.BOOLEAN,
            N_("a parent holds a residence permit here: {value}"),
            N_("a parent's residence permit here"),
        ),
        FactSpec(
            "has_stable_residence",
            FactType.BOOLEAN,
            N_("stable work, study or residence here: {value}"),
            N_("stable work, study or residence here"),
        ),
        FactSpec(
            "past_false_commitment",
            FactType.BOOLEAN,
            N_("a past false commitment on record: {value}"),
            N_("past false commitments"),
        ),
        FactSpec(
            "days_since_business_licence",
            FactType.INTEGER,
            N_("{value} days since the business licence"),
            N_("days since the business licence"),
        ),
    ]
}


def coerce(spec: FactSpec, raw: Any) -> FactValue:
    """A value of the fact's type from file or JSON data; ``ValueError`` when it does not fit."""
    if spec.type is FactType.SPAN:
        if isinstance(raw, Span):
            return raw
        if isinstance(raw, str):
            return Span.parse(raw)
        if isinstance(raw, dict) and "months" in raw:
            return Span(int(raw["months"]))
    elif spec.type is FactType.INTEGER:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif spec.type is FactType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
    elif spec.type is FactType.TEXT:
        if isinstance(raw, str):
            return raw
    elif spec.type is FactType.DATE:
        if isinstance(raw, date):
            return raw
        if isinstance(raw, str):
            return date.fromisoformat(raw)
    raise ValueError(f"{spec.name} must be a {spec.type.value}, not {raw!r}")


def to_json(value: FactValue) -> Any:
    if isinstance(value, Span):
        return {"months": value.months}
    if isinstance(value, date):
        return value.isoformat()
    return value


def words(value: FactValue, locale: str) -> str:
    if isinstance(value, Span):
        return value.words(locale)
    if isinstance(value, bool):
        return gettext(locale, N_("yes") if value else N_("no"))
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class Op(StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


def _compare(op: Op, actual: Any, expected: Any) -> bool:
    if op is Op.EQ:
        return bool(actual == expected)
    if op is Op.NE:
        return bool(actual != expected)
    if op is Op.LT:
        return bool(actual < expected)
    if op is Op.LE:
        return bool(actual <= expected)
    if op is Op.GT:
        return bool(actual > expected)
    return bool(actual >= expected)


Texts = Mapping[str, str]  # locale -> text


@dataclass(frozen=True)
class Comparison:
    fact: str
    op: Op
    value: FactValue
    says: Texts  # requirement, with {value}

    def __post_init__(self) -> None:
        spec = FACTS.get(self.fact)
        if spec is None:
            raise ValueError(f"unknown fact {self.fact!r}")
        if spec.type in (FactType.BOOLEAN, FactType.TEXT) and self.op not in (Op.EQ, Op.NE):
            raise ValueError(f"{self.fact} is a {spec.type.value}: only == and != apply")


@dataclass(frozen=True)
class Group:
    kind: str  # "all" | "any" | "not"
    items: tuple[Rule, ...]

    def __post_init__(self) -> None:
        if self.kind not in ("all", "any", "not"):
            raise ValueError(f"unknown combinator {self.kind!r}")
        if not self.items:
            raise ValueError(f"'{self.kind}' needs at least one rule")
        if self.kind == "not" and len(self.items) != 1:
            raise ValueError("'not' takes exactly one rule")


Rule = Comparison | Group


def parse_rule(raw: Any, *, where: str = "rule") -> Rule:
    """A rule from policy-file data: ``{all|any|not = [...]}`` or ``{fact, op, value, says}``."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a rule is a table")
    kinds = [k for k in ("all", "any", "not") if k in raw]
    if kinds:
        if len(raw) != 1:
            raise ValueError(f"{where}: '{kinds[0]}' stands alone in its table")
        items = raw[kinds[0]]
        if isinstance(items, Mapping):
            items = [items]
        if not isinstance(items, list):
            raise ValueError(f"{where}.{kinds[0]}: a list of rules")
        return Group(
            kinds[0], tuple(parse_rule(it, where=f"{where}.{kinds[0]}[{i}]") for i, it in enumerate(items))
        )
    missing = {"fact", "op", "value", "says"} - set(raw)
    if missing:
        raise ValueError(f"{where}: missing {', '.join(sorted(missing))}")
    extra = set(raw) - {"fact", "op", "value", "says"}
    if extra:
        raise ValueError(f"{where}: unknown keys {', '.join(sorted(extra))}")
    spec = FACTS.get(str(raw["fact"]))
    if spec is None:
        raise ValueError(f"{where}: unknown fact {raw['fact']!r} (known: {', '.join(sorted(FACTS))})")
    try:
        op = Op(raw["op"])
    except ValueError as exc:
        raise ValueError(f"{where}: unknown op {raw['op']!r} (use {', '.join(o.value for o in Op)})") from exc
    says = raw["says"]
    if not isinstance(says, Mapping) or not {"zh_CN", "en"} <= set(says):
        raise ValueError(f"{where}: 'says' needs zh_CN and en texts")
    try:
        value = coerce(spec, raw["value"])
        return Comparison(spec.name, op, value, {str(k): str(v) for k, v in says.items()})
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def facts_used(rule: Rule) -> set[str]:
    if isinstance(rule, Comparison):
        return {rule.fact}
    return set().union(*(facts_used(r) for r in rule.items))


# --- Evaluation and explanation --------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """The result of one rule tree; self-contained (no reference to the policy), so it can be stored."""

    kind: str  # "check" | "all" | "any" | "not"
    met: bool
    children: tuple[Outcome, ...] = ()
    fact: str | None = None
    op: str | None = None
    expected: Any = None  # JSON form
    actual: Any = None  # JSON form, None when the fact was not supplied
    says: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "check":
            return {
                "kind": "check",
                "met": self.met,
                "fact": self.fact,
                "op": self.op,
                "expected": self.expected,
                "actual": self.actual,
                "says": dict(self.says or {}),
            }
        return {"kind": self.kind, "met": self.met, "children": [c.to_dict() for c in self.children]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        if data["kind"] == "check":
            return cls(
                kind="check",
                met=bool(data["met"]),
                fact=data["fact"],
                op=data["op"],
                expected=data["expected"],
                actual=data["actual"],
                says=dict(data["says"]),
            )
        return cls(
            kind=str(data["kind"]),
            met=bool(data["met"]),
            children=tuple(cls.from_dict(c) for c in data["children"]),
        )

    def explain(self, locale: str, *, nested: bool = False) -> str:
        """This outcome in words: "requirement; what was found" per comparison."""
        locale = normalize_locale(locale)
        zh = locale == "zh_CN"
        if self.kind == "check":
            spec = FACTS[str(self.fact)]
            expected = words(coerce(spec, self.expected), locale)
            texts = self.says or {}
            requirement = (texts.get(locale) or texts.get("en", "")).replace("{value}", expected)
            if self.actual is None:
                found = gettext(locale, N_("{label}: not supplied"), label=gettext(locale, spec.title))
            else:
                found = gettext(locale, spec.label, value=words(coerce(spec, self.actual), locale))
            if nested:
                return f"{requirement}（{found}）" if zh else f"{requirement} ({found})"
            return requirement + ("；" if zh else "; ") + found
        if self.kind == "all":
            if nested:
                joiner = "，且" if zh else ", and "
                return joiner.join(c.explain(locale, nested=True) for c in self.children)
            return ("。" if zh else ". ").join(c.explain(locale) for c in self.children)
        if self.kind == "any":
            items = [
                (f"（{i}）" if zh else f"({i}) ") + c.explain(locale, nested=True)
                for i, c in enumerate(self.children, start=1)
            ]
            return gettext(locale, N_("one of: {items}"), items=("；" if zh else "; ").join(items))
        return gettext(locale, N_("not: {item}"), item=self.children[0].explain(locale, nested=True))


def evaluate(rule: Rule, facts: Mapping[str, FactValue]) -> Outcome:
    """Evaluate ``rule`` against typed ``facts``; a fact not supplied makes its comparison unmet."""
    if isinstance(rule, Comparison):
        spec = FACTS[rule.fact]
        raw = facts.get(rule.fact)
        if raw is None:
            met, actual = False, None
        else:
            value = coerce(spec, raw)
            met, actual = _compare(rule.op, value, rule.value), to_json(value)
        return Outcome(
            kind="check",
            met=met,
            fact=rule.fact,
            op=rule.op.value,
            expected=to_json(rule.value),
            actual=actual,
            says=dict(rule.says),
        )
    children = tuple(evaluate(r, facts) for r in rule.items)
    if rule.kind == "all":
        met = all(c.met for c in children)
    elif rule.kind == "any":
        met = any(c.met for c in children)
    else:
        met = not children[0].met
    return Outcome(kind=rule.kind, met=met, children=children)
