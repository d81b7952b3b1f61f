"""Local settlement policies: per-locality files with versions and effective dates (domain).

A policy file (TOML) of one locality (a GB/T 2260 code: province, prefecture or county)::

    locality = "310000"
    version = "2025.1"
    effective_from = 2025-01-01
    effective_until = 2026-01-01          # optional, exclusive
    name = { zh_CN = "...", en = "..." }
    sample = true                          # illustrative values, not a real locality's rule

    [limits]                               # time limits the national rules leave to the locality
    materials_wait = { value = 30, unit = "calendar_days" }

    [rules."mig_spouse.marriage"]          # eligibility rules, named by the keys matters refer to
    all = [ { fact = "marriage_duration", op = ">=", value = "2y",
              says = { zh_CN = "夫妻投靠须结婚满{value}", en = "spouse migration requires {value} of marriage" } } ]

A county without its own file follows its prefecture's, then its province's, then the fallback file with
locality ``000000`` when there is one. Of the versions in force on a
day, the one with the latest ``effective_from`` applies. Every decision records the policy version, the rules
and the facts used (``Decision``), and reads back as a sentence in zh-CN or en.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tongban.cases.calendar import DayUnit, TimeLimit
from tongban.cases.rules import FactValue, Outcome, Rule, evaluate, facts_used, parse_rule, to_json
from tongban.core.errors import NotFound
from tongban.core.i18n import N_, gettext, normalize_locale

SAMPLES_DIR = Path(__file__).parent / "policies"
# A policy file with this locality applies wherever no file of the locality, prefecture or province does.
FALLBACK_LOCALITY = "000000"


class PolicyError(ValueError):
    """A policy file is broken; the message names the file and the problem."""


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    zh_CN: str = Field(min_length=1)  # noqa: N815 - the locale code, as in the files
    en: str = Field(min_length=1)

    def get(self, locale: str) -> str:
        return self.zh_CN if normalize_locale(locale) == "zh_CN" else self.en


class LimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    value: int = Field(ge=0, le=3660)
    unit: DayUnit

    def limit(self) -> TimeLimit:
        return TimeLimit(self.value, self.unit)


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    locality: str = Field(pattern=r"^\d{6}$")
    version: str = Field(min_length=1, max_length=40)
    effective_from: date
    effective_until: date | None = None
    name: Names
    sample: bool = False
    limits: dict[str, LimitSpec] = Field(default_factory=dict)
    rules: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _dates_in_order(self) -> PolicyFile:
        if self.effective_until is not None and self.effective_until <= self.effective_from:
            raise ValueError("effective_until must be after effective_from")
        return self

    @field_validator("rules")
    @classmethod
    def _rules_parse(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, raw in value.items():
            parse_rule(raw, where=f"rules.{key}")
        return value


@dataclass(frozen=True)
class Policy:
    locality: str
    version: str
    effective_from: date
    effective_until: date | None
    name: Names
    sample: bool
    limits: Mapping[str, TimeLimit]
    rules: Mapping[str, Rule]
    source: str = ""

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day < self.effective_until)

    def limit(self, key: str) -> TimeLimit:
        try:
            return self.limits[key]
        except KeyError:
            raise NotFound(
                N_("Policy {version} of {locality} sets no time limit {key}"),
                version=self.version,
                locality=self.locality,
                key=key,
            ) from None

    def rule(self, key: str) -> Rule:
        try:
            return self.rules[key]
        except KeyError:
            raise NotFound(
                N_("Policy {version} of {locality} has no rule {key}"),
                version=self.version,
                locality=self.locality,
                key=key,
            ) from None

    def decide(self, *, matter: str, rule_keys: list[str], facts: Mapping[str, FactValue]) -> Decision:
        """Evaluate the named rules; the decision keeps everything needed to explain it later."""
        outcomes = tuple((key, evaluate(self.rule(key), facts)) for key in rule_keys)
        used = set().union(*(facts_used(self.rule(k)) for k in rule_keys)) if rule_keys else set()
        return Decision(
            matter=matter,
            locality=self.locality,
            policy_version=self.version,
            eligible=all(o.met for _, o in outcomes),
            outcomes=outcomes,
            facts={k: to_json(v) for k, v in sorted(facts.items()) if k in used},
        )


def parse_policy(text: str, *, name: str = "<policy>") -> Policy:
    try:
        doc = PolicyFile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{name}: not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{name}: {problems}") from exc
    return Policy(
        locality=doc.locality,
        version=doc.version,
        effective_from=doc.effective_from,
        effective_until=doc.effective_until,
        name=doc.name,
        sample=doc.sample,
        limits={k: v.limit() for k, v in doc.limits.items()},
        rules={k: parse_rule(v, where=f"rules.{k}") for k, v in doc.rules.items()},
        source=name,
    )


@dataclass
class PolicyBook:
    """Every policy version of every locality, read from one directory tree (``**/*.toml``)."""

    policies: list[Policy] = field(default_factory=list)

    @classmethod
    def load(cls, directory: Path | None = None) -> PolicyBook:
        root = directory or SAMPLES_DIR
        book = cls(
            [parse_policy(p.read_text(encoding="utf-8"), name=str(p)) for p in sorted(root.rglob("*.toml"))]
        )
        seen: dict[tuple[str, str], str] = {}
        for p in book.policies:
            key = (p.locality, p.version)
            if key in seen:
                raise PolicyError(f"{p.source}: version {p.version} of {p.locality} also in {seen[key]}")
            seen[key] = p.source
        return book

    def localities(self) -> list[str]:
        return sorted({p.locality for p in self.policies})

    def for_locality(self, code: str, day: date) -> Policy:
        """The policy in force on ``day`` for division ``code`` (or its prefecture, or its province)."""
        for candidate in dict.fromkeys([code, code[:4] + "00", code[:2] + "0000", FALLBACK_LOCALITY]):
            in_force = [p for p in self.policies if p.locality == candidate and p.in_force(day)]
            if in_force:
                return max(in_force, key=lambda p: p.effective_from)
        raise NotFound(N_("No local policy in force for {code} on {day}"), code=code, day=day.isoformat())


@dataclass(frozen=True)
class Decision:
    """An eligibility decision with the rules and facts used; storable as JSON and explainable."""

    matter: str
    locality: str
    policy_version: str
    eligible: bool
    outcomes: tuple[tuple[str, Outcome], ...]
    facts: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "matter": self.matter,
            "locality": self.locality,
            "policy_version": self.policy_version,
            "eligible": self.eligible,
            "rules": [{"key": k, "outcome": o.to_dict()} for k, o in self.outcomes],
            "facts": dict(self.facts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            matter=str(data["matter"]),
            locality=str(data["locality"]),
            policy_version=str(data["policy_version"]),
            eligible=bool(data["eligible"]),
            outcomes=tuple((str(r["key"]), Outcome.from_dict(r["outcome"])) for r in data["rules"]),
            facts=dict(data["facts"]),
        )

    def explain(self, locale: str) -> str:
        """The decision in words a clerk can read to the applicant."""
        locale = normalize_locale(locale)
        end = "。" if locale == "zh_CN" else ". "
        body = end.join(o.explain(locale) for _, o in self.outcomes)
        verdict = gettext(
            locale,
            N_("Eligible (policy {version})") if self.eligible else N_("Not eligible (policy {version})"),
            version=self.policy_version,
        )
        return (body + end + verdict + ("。" if locale == "zh_CN" else ".")).strip()

    def unmet(self) -> list[str]:
        return [k for k, o in self.outcomes if not o.met]
