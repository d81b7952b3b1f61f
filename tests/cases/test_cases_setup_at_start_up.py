"""Start-up loads the catalog, policies and calendar, and refuses policies that lack keys the matters use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tongban.cases.calendar import DaySource, ScheduleError
from tongban.cases.catalog import CatalogError
from tongban.cases.policy import SAMPLES_DIR
from tongban.cases.setup import load_setup
from tongban.core.settings import Settings
from tongban.web.runtime import build_runtime


def test_runtime_gets_the_cases_setup(tmp_path: Path) -> None:
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "2099.toml").write_text("year = 2099\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path, calendar_dir=tmp_path / "cal")
    runtime = build_runtime(settings, only=[])
    setup = runtime.extras["cases"]
    assert "MIG-SPOUSE" in setup.catalog.matters
    assert setup.calendar.source_for(2099) is DaySource.FILE


def test_a_policy_missing_a_key_stops_start_up(tmp_path: Path) -> None:
    text = (SAMPLES_DIR / "110000" / "2025.2.toml").read_text(encoding="utf-8")
    (tmp_path / "p.toml").write_text(text.replace('"mig.approval"', '"mig.approvals"'), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"limit mig\.approval"):
        load_setup(Settings(data_dir=tmp_path, policy_dir=tmp_path))


def test_a_broken_calendar_file_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "2099.toml").write_text("year = 2099\nworkdays = ['2099-01-05']\n", encoding="utf-8")
    with pytest.raises(ScheduleError):
        load_setup(Settings(data_dir=tmp_path, calendar_dir=tmp_path))


def test_a_policy_for_an_unknown_locality_stops_start_up(tmp_path: Path) -> None:
    text = (SAMPLES_DIR / "110000" / "2025.2.toml").read_text(encoding="utf-8")
    (tmp_path / "p.toml").write_text(
        text.replace('locality = "110000"', 'locality = "119900"'), encoding="utf-8"
    )
    with pytest.raises(CatalogError, match="119900"):
        load_setup(Settings(data_dir=tmp_path, policy_dir=tmp_path))
