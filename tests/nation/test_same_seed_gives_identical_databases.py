"""The same seed twice gives identical node databases; another seed gives other ones."""

from __future__ import annotations

from pathlib import Path

from tests.nation.nation_helpers import nation_digests, small_nation


def test_same_seed_twice_identical_databases(tmp_path: Path) -> None:
    codes = ["110000", "650000"]
    small_nation(tmp_path / "a", codes, people=400, seed=99)
    small_nation(tmp_path / "b", codes, people=400, seed=99)
    small_nation(tmp_path / "c", codes, people=400, seed=100)
    a, b, c = (nation_digests(tmp_path / d) for d in ("a", "b", "c"))
    assert set(a) == set(codes)
    assert a == b
    assert a["110000"] != c["110000"] and a["650000"] != c["650000"]
