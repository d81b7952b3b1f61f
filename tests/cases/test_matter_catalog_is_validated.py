"""Every announced matter is a data file; broken files are refused at start-up with the file and field named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tongban.cases.calendar import TimeLimit
from tongban.cases.catalog import (
    MATTERS_DIR,
    NO_MATTER,
    Actor,
    CatalogError,
    MaterialSource,
    MatterCatalog,
    Mode,
    NodeRole,
    parse_matter,
)
from tongban.cases.policy import PolicyBook

CATALOG = MatterCatalog.load()
ALL = {
    "CERT",
    "MIG-JOB",
    "MIG-STU",
    "MIG-GRAD",
    "MIG-SPOUSE",
    "MIG-PARENT",
    "BIRTH",
    "IDCARD",
    "SEAL",
    "LIC-HOTEL",
    "FILE-SEALSHOP",
}


def test_every_matter_of_the_domain_has_a_file_and_pawnbroking_none() -> None:
    assert set(CATALOG.matters) == ALL
    assert "pawnbroking" in NO_MATTER
    assert not list(MATTERS_DIR.glob("*PAWN*"))


def test_names_in_both_languages() -> None:
    for matter in CATALOG:
        assert matter.name.get("zh_CN") != matter.name.get("en")
        assert matter.name.get("zh-CN")


def test_migrations_are_joint_handling_across_origin_and_destination() -> None:
    for code in ("MIG-JOB", "MIG-STU", "MIG-GRAD", "MIG-SPOUSE", "MIG-PARENT"):
        matter = CATALOG.get(code)
        assert matter.mode is Mode.JOINT_HANDLING
        steps = matter.procedure().steps
        assert {s.node for s in steps} == {NodeRole.DESTINATION, NodeRole.ORIGIN}
        move_out = next(s for s in steps if s.key == "move_out")
        assert move_out.time_limit is not None
        assert move_out.time_limit.resolve(None) == TimeLimit.working_days(1)
    assert CATALOG.get("MIG-JOB").validity["migration_certificate"].resolve(None) == TimeLimit.calendar_days(
        30
    )
    # The admission notice stands in for the permit: no approval step for students.
    assert "approve" not in {s.key for s in CATALOG.get("MIG-STU").procedure().steps}


def test_registry_data_is_looked_up_not_asked_for() -> None:
    birth = CATALOG.get("BIRTH")
    assert "parent_household_booklet" in {m.key for m in birth.looked_up_materials()}
    assert "parent_household_booklet" not in {m.key for m in birth.asked_materials()}
    sealshop = CATALOG.get("FILE-SEALSHOP")
    assert sealshop.asked_materials() == []
    for matter in CATALOG:
        for material in matter.materials:
            if material.kind in {"household_booklet", "hukou_record", "business_licence"}:
                assert material.source is MaterialSource.REGISTRY


def test_only_seal_filing_is_automatic() -> None:
    automatic = {
        (m.code, s.key) for m in CATALOG for p in m.procedures for s in p.steps if s.actor is Actor.AUTOMATIC
    }
    assert automatic == {("SEAL", "file_seal")}


def test_hotel_licence_has_two_procedures_with_their_limits() -> None:
    hotel = CATALOG.get("LIC-HOTEL")
    commitment, normal = hotel.procedure("commitment"), hotel.procedure("normal")
    assert commitment.time_limit is not None and commitment.time_limit.resolve(
        None
    ) == TimeLimit.working_days(0)
    assert normal.time_limit is not None and normal.time_limit.resolve(None) == TimeLimit.working_days(20)
    assert normal.extension is not None and normal.extension.resolve(None) == TimeLimit.working_days(10)
    assert hotel.rule_keys("commitment") == ["lic_hotel.commitment"]
    assert hotel.rule_keys("normal") == []
    assert "signed_commitment" not in {m.key for m in hotel.materials_for("normal")}


def test_local_limits_resolve_through_the_policy() -> None:
    policy = PolicyBook.load().for_locality("110000", date(2025, 8, 1))
    approve = next(s for s in CATALOG.get("MIG-SPOUSE").procedure().steps if s.key == "approve")
    assert approve.time_limit is not None
    assert approve.time_limit.resolve(policy) == TimeLimit.working_days(5)


def test_shipped_sample_policies_cover_every_key_the_catalog_uses() -> None:
    for policy in PolicyBook.load().policies:
        assert CATALOG.missing_in(policy) == []


# MIG-JOB without its ``allows_automatic`` flag (the origin's automatic move-out), so an automatic step is refused.
GOOD = (MATTERS_DIR / "MIG-JOB.toml").read_text(encoding="utf-8").replace("allows_automatic = true\n", "")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (('mode = "joint_handling"', 'mode = "by_pigeon"'), "mode"),
        (('mode = "joint_handling"', 'mode = "fully_online"'), "migrations are joint handling"),
        (('node = "origin"', 'node = "destination"'), "two or more nodes"),
        (
            ('kind = "hukou_record"\nsource = "registry"\nregistry = "hukou"', 'kind = "hukou_record"'),
            "never ask for a copy",
        ),
        (('source = "registry"\nregistry = "hukou"', 'source = "registry"'), "names the registry"),
        (
            ('staff_role = "reviewer"', 'actor = "automatic"'),
            "automatic step in a matter that does not allow",
        ),
        (
            (
                'time_limit = { value = 1, unit = "working_days" }',
                'time_limit = { value = 1, unit = "fortnights" }',
            ),
            "unit",
        ),
        (
            ('time_limit = { value = 1, unit = "working_days" }', "time_limit = { value = 1 }"),
            "either value and unit",
        ),
        (('en = "Household-registration migration on job transfer"', 'en = ""'), "name.en"),
        (('key = "move_in"', 'key = "move_out"'), "unique"),
        (('code = "MIG-JOB"', 'code = "mig job"'), "code"),
        (("[[procedures]]", "colour = 'red'\n[[procedures]]"), "colour"),
    ],
)
def test_broken_matter_files_are_refused(change: tuple[str, str], problem: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(CatalogError) as info:
        parse_matter(GOOD.replace(old, new, 1), name="matters/MIG-JOB.toml")
    assert "matters/MIG-JOB.toml" in str(info.value)
    assert problem in str(info.value)


def test_loading_a_directory_with_a_broken_file_fails(tmp_path: Path) -> None:
    (tmp_path / "MIG-JOB.toml").write_text(GOOD, encoding="utf-8")
    assert set(MatterCatalog.load(tmp_path).matters) == {"MIG-JOB"}
    (tmp_path / "MIG-XX.toml").write_text(GOOD, encoding="utf-8")
    with pytest.raises(CatalogError, match="file name must be the matter code"):
        MatterCatalog.load(tmp_path)
    (tmp_path / "MIG-XX.toml").write_text("code = [", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        MatterCatalog.load(tmp_path)


def test_an_empty_catalog_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no matter files"):
        MatterCatalog.load(tmp_path)


def test_a_local_limit_without_a_policy_is_refused() -> None:
    from tongban.core.errors import NotFound

    approve = next(s for s in CATALOG.get("MIG-JOB").procedure().steps if s.key == "approve")
    assert approve.time_limit is not None
    with pytest.raises(NotFound, match=r"mig\.approval"):
        approve.time_limit.resolve(None)
    with pytest.raises(NotFound):
        CATALOG.get("PAWN")
    with pytest.raises(NotFound):
        CATALOG.get("LIC-HOTEL").procedure("express")
