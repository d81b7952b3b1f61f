"""Each paper type checks its subject and facts; the registry takes new types."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel
from tests.papers.conftest import SUBJECT, migration_facts

from tongban.core.errors import InvalidInput
from tongban.papers import types


def test_five_types_are_known() -> None:
    codes = {t.code for t in types.all_types()}
    assert {"cert.kinship", "cert.cancellation", "cert.item-change", "mig.permit", "mig.certificate"} <= codes
    assert types.MIGRATION_CERTIFICATE.max_validity == timedelta(days=30)


def test_unknown_fact_or_bad_value_is_refused() -> None:
    kind = types.MIGRATION_CERTIFICATE
    assert kind.check_facts(migration_facts())["moved_out_on"] == "2026-11-27"
    with pytest.raises(InvalidInput):
        kind.check_facts({**migration_facts(), "extra": "x"})
    with pytest.raises(InvalidInput):
        kind.check_facts({**migration_facts(), "origin_division": "11"})
    with pytest.raises(InvalidInput):
        kind.check_subject({**SUBJECT, "id_number": "123"})
    with pytest.raises(InvalidInput):
        kind.check_subject({**SUBJECT, "phone": "13800000000"})  # only what the paper must show


def test_kinship_needs_a_relative() -> None:
    with pytest.raises(InvalidInput):
        types.CERT_KINSHIP.check_facts({"relatives": [], "household_number": "H1"})
    facts = types.CERT_KINSHIP.check_facts(
        {"relatives": [{"name": "测试乙", "relation": "母亲"}], "household_number": "H1"}
    )
    assert facts["relatives"][0]["relation"] == "母亲"


def test_a_new_type_can_be_registered_once() -> None:
    class SealFacts(BaseModel):
        code: str

    kind = types.PaperType("test.seal", "TS", "测试", "Test", SealFacts)
    types.register_type(kind)
    try:
        assert types.paper_type("test.seal") is kind
        with pytest.raises(ValueError):
            types.register_type(kind)
        with pytest.raises(InvalidInput):
            types.paper_type("no.such")
    finally:
        types._REGISTRY.pop("test.seal")
