"""Local policies pick the version in force, evaluate typed facts, and explain decisions in zh-CN and en."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tongban.cases.policy import Decision, PolicyBook, PolicyError, parse_policy
from tongban.cases.rules import Span, evaluate, parse_rule
from tongban.core.errors import NotFound

BOOK = PolicyBook.load()


def test_spouse_migration_sentence_in_both_languages() -> None:
    policy = BOOK.for_locality("110105", date(2025, 8, 1))  # a county follows its province's file
    decision = policy.decide(
        matter="MIG-SPOUSE",
        rule_keys=["mig_spouse.conditions"],
        facts={"marriage_duration": Span.of(1, 4), "parent_age": 70},
    )
    assert not decision.eligible
    assert decision.unmet() == ["mig_spouse.conditions"]
    assert decision.explain("en").startswith(
        "spouse migration requires 2 years of marriage; married 1 year 4 months"
    )
    assert decision.explain("zh-CN").startswith("夫妻投靠须结婚满2年；已结婚1年4个月")
    # Only the facts the rules used are recorded.
    assert decision.facts == {"marriage_duration": {"months": 16}}


def test_versions_follow_effective_dates() -> None:
    before = BOOK.for_locality("110000", date(2025, 6, 30))
    after = BOOK.for_locality("110000", date(2025, 7, 1))
    assert (before.version, after.version) == ("2024.1", "2025.2")
    facts = {"marriage_duration": Span.of(2, 6)}
    assert not before.decide(matter="MIG-SPOUSE", rule_keys=["mig_spouse.conditions"], facts=facts).eligible
    assert after.decide(matter="MIG-SPOUSE", rule_keys=["mig_spouse.conditions"], facts=facts).eligible


def test_tiers_with_any_and_all() -> None:
    policy = BOOK.for_locality("310000", date(2025, 8, 1))
    rule = ["mig_spouse.conditions"]
    assert policy.decide(
        matter="MIG-SPOUSE",
        rule_keys=rule,
        facts={"marriage_duration": Span.of(7), "sponsor_registration": Span.of(5)},
    ).eligible
    refused = policy.decide(
        matter="MIG-SPOUSE",
        rule_keys=rule,
        facts={"marriage_duration": Span.of(6), "sponsor_registration": Span.of(6)},
    )
    assert not refused.eligible
    assert "（1）" in refused.explain("zh_CN")
    assert refused.explain("en").startswith("one of: (1) spouse migration requires 5 years of marriage")


def test_parents_age_threshold_is_local() -> None:
    facts = {"parent_age": 57}
    a = BOOK.for_locality("110000", date(2025, 8, 1))
    b = BOOK.for_locality("310000", date(2025, 8, 1))
    assert not a.decide(matter="MIG-PARENT", rule_keys=["mig_parent.conditions"], facts=facts).eligible
    assert b.decide(matter="MIG-PARENT", rule_keys=["mig_parent.conditions"], facts=facts).eligible


def test_missing_fact_is_unmet_and_said() -> None:
    policy = BOOK.for_locality("110000", date(2025, 8, 1))
    decision = policy.decide(matter="MIG-SPOUSE", rule_keys=["mig_spouse.conditions"], facts={})
    assert not decision.eligible
    assert decision.explain("zh_CN").startswith("夫妻投靠须结婚满2年；结婚时长：未提供")
    assert decision.explain("en").startswith(
        "spouse migration requires 2 years of marriage; length of marriage: not supplied"
    )


def test_decision_round_trips_through_json_and_reads_the_same() -> None:
    policy = BOOK.for_locality("310000", date(2025, 8, 1))
    decision = policy.decide(
        matter="BIRTH",
        rule_keys=["birth.pilot"],
        facts={
            "born_in_mainland": True,
            "has_birth_medical_certificate": True,
            "child_age": Span.of(0, 2),
            "born_in_wedlock": True,
            "surname_of_a_parent": True,
            "into_family_household": True,
            "parent_has_residence_permit": False,
        },
    )
    assert not decision.eligible
    stored = json.loads(json.dumps(decision.to_dict(), ensure_ascii=False))
    again = Decision.from_dict(stored)
    assert again == decision
    for locale in ("zh_CN", "en"):
        assert again.explain(locale) == decision.explain(locale)
    assert "父母一方在本地持有居住证：否" in again.explain("zh_CN")


def test_fallback_policy_and_none_before_any_is_in_force(tmp_path: Path) -> None:
    assert BOOK.for_locality("650102", date(2025, 1, 1)).locality == "000000"
    assert BOOK.for_locality("110000", date(2023, 12, 31)).locality == "000000"
    with pytest.raises(NotFound):
        BOOK.for_locality("650000", date(2003, 12, 31))
    text = (
        'locality = "110000"\nversion = "1"\neffective_from = 2025-01-01\nname = { zh_CN = "x", en = "x" }\n'
    )
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    only_one = PolicyBook.load(tmp_path)
    with pytest.raises(NotFound):
        only_one.for_locality("650000", date(2025, 1, 1))


def test_limits_are_read_per_policy() -> None:
    policy = BOOK.for_locality("110000", date(2025, 8, 1))
    assert str(policy.limit("materials_wait")) == "30 calendar_days"
    with pytest.raises(NotFound):
        policy.limit("nothing.here")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"fact": "shoe_size", "op": ">=", "value": 40, "says": {"zh_CN": "x", "en": "x"}}, "unknown fact"),
        ({"fact": "parent_age", "op": "=>", "value": 40, "says": {"zh_CN": "x", "en": "x"}}, "unknown op"),
        (
            {"fact": "parent_age", "op": ">=", "value": "old", "says": {"zh_CN": "x", "en": "x"}},
            "must be a integer",
        ),
        (
            {"fact": "marriage_duration", "op": ">=", "value": "two", "says": {"zh_CN": "x", "en": "x"}},
            "not a span",
        ),
        (
            {"fact": "born_in_wedlock", "op": ">", "value": True, "says": {"zh_CN": "x", "en": "x"}},
            "only == and !=",
        ),
        ({"fact": "parent_age", "op": ">=", "value": 40, "says": {"en": "x"}}, "zh_CN and en"),
        ({"fact": "parent_age", "op": ">=", "value": 40}, "missing says"),
        ({"all": []}, "at least one rule"),
        (
            {
                "not": [
                    {
                        "all": [
                            {"fact": "parent_age", "op": ">=", "value": 1, "says": {"zh_CN": "x", "en": "x"}}
                        ]
                    }
                ]
                * 2
            },
            "exactly one",
        ),
    ],
)
def test_broken_rules_are_refused(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_rule(raw)


def test_not_inverts() -> None:
    rule = parse_rule(
        {
            "not": {
                "fact": "past_false_commitment",
                "op": "==",
                "value": True,
                "says": {"zh_CN": "有", "en": "has"},
            }
        }
    )
    assert evaluate(rule, {"past_false_commitment": False}).met
    assert not evaluate(rule, {"past_false_commitment": True}).met


def test_broken_policy_file_names_file_and_field(tmp_path: Path) -> None:
    text = (
        'locality = "11000"\nversion = "1"\neffective_from = 2025-01-01\n'
        'name = { zh_CN = "x", en = "x" }\n[limits]\nmaterials_wait = { value = 3, unit = "weeks" }\n'
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text, name="p/bad.toml")
    message = str(info.value)
    assert "p/bad.toml" in message
    assert "locality" in message
    assert "limits.materials_wait.unit" in message


def test_duplicate_versions_are_refused(tmp_path: Path) -> None:
    text = (
        'locality = "110000"\nversion = "1"\neffective_from = 2025-01-01\nname = { zh_CN = "x", en = "x" }\n'
    )
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    (tmp_path / "b.toml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match="also in"):
        PolicyBook.load(tmp_path)


def test_span_arithmetic() -> None:
    assert Span.between(date(2024, 3, 15), date(2025, 7, 14)) == Span.of(1, 3)
    assert Span.between(date(2024, 3, 15), date(2025, 7, 15)) == Span.of(1, 4)
    assert Span.parse("1y4m") == Span(16)
    assert Span.parse("18m").words("en") == "1 year 6 months"
    assert Span(0).words("zh_CN") == "0个月"
