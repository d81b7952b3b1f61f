"""Names in pinyin: pypinyin with reviewed place-name readings, shipped precomputed."""

from __future__ import annotations

import pytest

from tongban.divisions.domain import PINYIN_CSV, get_catalog, load_pinyin
from tongban.divisions.pinyin import generate, load_overrides, romanize


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("长治市", "Changzhi Shi"),
        ("涡阳县", "Guoyang Xian"),
        ("洪洞县", "Hongtong Xian"),
        ("六安市", "Lu'an Shi"),
        ("蚌埠市", "Bengbu Shi"),
        ("丽水市", "Lishui Shi"),
        ("番禺区", "Panyu Qu"),
        ("乐亭县", "Laoting Xian"),
        ("亳州市", "Bozhou Shi"),
        ("铅山县", "Yanshan Xian"),
        ("莘县", "Shenxian"),
        ("单县", "Shanxian"),
        ("东阿县", "Dong'e Xian"),
        ("阆中市", "Langzhong Shi"),
        ("大城县", "Dacheng Xian"),
        ("长子县", "Zhangzi Xian"),
        ("长宁区", "Changning Qu"),
        ("三都水族自治县", "Sandu Shuizu Zizhixian"),
        ("延边朝鲜族自治州", "Yanbian Chaoxianzu Zizhizhou"),
        ("西安市", "Xi'an Shi"),
        ("绿春县", "Lüchun Xian"),
        ("新疆维吾尔自治区", "Xinjiang Uygur Zizhiqu"),
        ("神农架林区", "Shennongjia Linqu"),
        ("郊区", "Jiaoqu"),
        ("清新区", "Qingxin Qu"),
        ("浦东新区", "Pudong Xinqu"),
        ("万柏林区", "Wanbailin Qu"),
        ("东矿区", "Dongkuang Qu"),
        ("峰峰矿区", "Fengfeng Kuangqu"),
        ("瀍河回族区", "Chanhe Huizu Qu"),
        ("阿拉善左旗", "Alashan Zuoqi"),
        ("科尔沁左翼中旗", "Ke'erqin Zuoyi Zhongqi"),
        ("乌什县", "Wushi Xian"),
        ("阿勒泰市", "Aletai Shi"),
        ("陕西省", "Shaanxi Sheng"),
        ("山西省", "Shanxi Sheng"),
        ("西沙群岛", "Xisha Qundao"),
    ],
)
def test_place_name_readings(name: str, expected: str) -> None:
    assert romanize(name) == expected


def test_catalog_divisions_carry_the_reviewed_reading() -> None:
    catalog = get_catalog()
    assert catalog.get("140400").pinyin == "Changzhi Shi"  # type: ignore[union-attr]
    assert catalog.get("341500").pinyin == "Lu'an Shi"  # type: ignore[union-attr]
    assert catalog.get("371722").pinyin == "Shanxian"  # type: ignore[union-attr]


def test_overrides_are_well_formed() -> None:
    overrides = load_overrides()
    assert overrides.names["长治"] == "Changzhi"
    for hanzi, roman in {**overrides.names, **overrides.chars}.items():
        assert hanzi and roman and roman == roman.strip()
        assert roman.isascii() or "ü" in roman, hanzi
    assert all(len(ch) == 1 for ch in overrides.chars)


def test_shipped_pinyin_matches_the_generator() -> None:
    """``data/pinyin.csv`` is regenerated (python -m tongban.divisions.pinyin) whenever overrides or data change."""
    assert load_pinyin(PINYIN_CSV) == generate()
