"""Search keys of names: hanzi, full pinyin and initials, every reading, capped; with no database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tongban.registry.names import (
    MAX_KEY_LENGTH,
    MAX_VARIANTS,
    normalize_query,
    prefix_upper_bound,
    search_keys,
)


def test_hanzi_full_pinyin_and_initials() -> None:
    assert search_keys("张三") == ["zhangsan", "zs", "张三"]


def test_every_reading_of_a_polyphonic_character() -> None:
    keys = set(search_keys("曾乐"))
    assert {"zengle", "cengle", "zengyue", "zl", "cl", "zy"} <= keys
    assert {"shanxin", "danxin", "sx", "dx"} <= set(search_keys("单信"))


def test_middle_dot_names_are_found_by_each_part() -> None:
    keys = set(search_keys("阿依古丽·买买提"))
    assert {"阿依古丽·买买提", "阿依古丽买买提", "ayigulimaimaiti", "买买提", "maimaiti", "mmt"} <= keys
    assert not any("·" in k and k.isascii() for k in keys)


def test_characters_outside_the_bmp_stay_in_the_hanzi_key() -> None:
    assert "𠮷野" in search_keys("𠮷野")


def test_variants_are_capped_and_keep_the_common_reading() -> None:
    name = "乐行长重朝藏"  # six polyphonic characters
    keys = search_keys(name)
    pinyin_full = [k for k in keys if k.isascii() and len(k) > len(name)]
    assert len(pinyin_full) <= MAX_VARIANTS
    assert len(keys) <= 2 * MAX_VARIANTS + 1
    assert all(len(k) <= MAX_KEY_LENGTH for k in keys)


@given(st.text(min_size=1, max_size=20))
def test_keys_are_unique_lowercase_and_bounded(name: str) -> None:
    keys = search_keys(name)
    assert keys == sorted(set(keys))
    assert all(k == k.lower() and 0 < len(k) <= MAX_KEY_LENGTH for k in keys)


def test_queries_are_normalised_like_keys() -> None:
    assert normalize_query("  Zhang San ") == "zhangsan"
    assert normalize_query("阿依古丽·买") == "阿依古丽买"


@given(st.text(min_size=1, max_size=8), st.text(max_size=8), st.text(max_size=10))
def test_the_prefix_range_is_exactly_the_prefix(prefix: str, rest: str, other: str) -> None:
    upper = prefix_upper_bound(prefix)
    assert prefix <= prefix + rest and (upper is None or prefix + rest < upper)
    # Nothing else lies in the range: a string in it starts with the prefix.
    if prefix <= other and (upper is None or other < upper):
        assert other.startswith(prefix)


def test_a_last_character_without_successor_carries() -> None:
    top = "\U0010ffff"
    assert prefix_upper_bound("zs") == "zt"
    assert prefix_upper_bound("a" + top) == "b"
    assert prefix_upper_bound("a" + top + top) == "b"
    assert prefix_upper_bound("\ud7ff") == "\ue000"  # the surrogates are skipped
    assert prefix_upper_bound(top) is None and prefix_upper_bound(top * 3) is None
    assert "a" + top + top + "x" < "b"  # what the old bound (the prefix plus U+10FFFF) left out
