"""Romanising division names: pypinyin plus a reviewed list of place-name readings.

Follows the rules for Chinese place names in Hanyu Pinyin (GB/T 16159; 中国地名汉语拼音字母拼写规则): no tone
marks, the specific part (专名) and the generic part (通名: 省, 市, 县, 自治州 ...) written apart and each
capitalised (``长治市`` -> ``Changzhi Shi``); a one-syllable specific part is joined to its generic
(``单县`` -> ``Shanxian``); an apostrophe before a syllable starting with a, o or e inside a word
(``六安`` -> ``Lu'an``); ethnic names in autonomous divisions are words of their own
(``延边朝鲜族自治州`` -> ``Yanbian Chaoxianzu Zizhizhou``); ü is kept.

pypinyin misreads many place names (长治 is Changzhi, not Zhangzhi), so ``data/pinyin_overrides.csv`` lists
reviewed readings of specific parts. Importing pypinyin takes a while, so the readings of all shipped names are
generated once into ``data/pinyin.csv`` (``python -m tongban.divisions.pinyin``), which the catalog reads; a test
checks the file matches this code.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from tongban.divisions.domain import DIVISIONS_CSV, PINYIN_CSV, read_rows

OVERRIDES_CSV = Path(__file__).parent / "data" / "pinyin_overrides.csv"

#: Generic parts, longest first, with their romanisation.
GENERICS: tuple[tuple[str, str], ...] = (
    ("特别行政区", "Tebie Xingzhengqu"),
    ("自治区", "Zizhiqu"),
    ("自治州", "Zizhizhou"),
    ("自治县", "Zizhixian"),
    ("自治旗", "Zizhiqi"),
    ("行政区", "Xingzhengqu"),
    ("左翼前旗", "Zuoyi Qianqi"),
    ("左翼中旗", "Zuoyi Zhongqi"),
    ("左翼后旗", "Zuoyi Houqi"),
    ("右翼前旗", "Youyi Qianqi"),
    ("右翼中旗", "Youyi Zhongqi"),
    ("右翼后旗", "Youyi Houqi"),
    ("联合旗", "Lianheqi"),
    ("工矿区", "Gongkuangqu"),
    ("工农区", "Gongnongqu"),
    ("地区", "Diqu"),
    ("矿区", "Kuangqu"),
    ("群岛", "Qundao"),
    ("特区", "Tequ"),
    ("新区", "Xinqu"),
    ("左旗", "Zuoqi"),
    ("右旗", "Youqi"),
    ("前旗", "Qianqi"),
    ("中旗", "Zhongqi"),
    ("后旗", "Houqi"),
    ("省", "Sheng"),
    ("市", "Shi"),
    ("区", "Qu"),
    ("县", "Xian"),
    ("旗", "Qi"),
    ("盟", "Meng"),
)

#: Ethnic groups named in autonomous divisions (without 族), in Hanyu Pinyin like the rest of the name
#: (the customary forms of a few provinces' names, e.g. ``Xinjiang Uygur Zizhiqu``, are overrides).
ETHNIC: dict[str, str] = {
    "蒙古": "Menggu",
    "回": "Hui",
    "藏": "Zang",
    "维吾尔": "Weiwu'er",
    "苗": "Miao",
    "彝": "Yi",
    "壮": "Zhuang",
    "布依": "Buyi",
    "朝鲜": "Chaoxian",
    "满": "Man",
    "侗": "Dong",
    "瑶": "Yao",
    "白": "Bai",
    "土家": "Tujia",
    "哈尼": "Hani",
    "哈萨克": "Hasake",
    "傣": "Dai",
    "黎": "Li",
    "傈僳": "Lisu",
    "佤": "Wa",
    "畲": "She",
    "拉祜": "Lahu",
    "水": "Shui",
    "东乡": "Dongxiang",
    "纳西": "Naxi",
    "景颇": "Jingpo",
    "柯尔克孜": "Ke'erkezi",
    "土": "Tu",
    "达斡尔": "Dawo'er",
    "仫佬": "Mulao",
    "羌": "Qiang",
    "布朗": "Bulang",
    "撒拉": "Sala",
    "毛南": "Maonan",
    "仡佬": "Gelao",
    "锡伯": "Xibo",
    "普米": "Pumi",
    "塔吉克": "Tajike",
    "怒": "Nu",
    "鄂温克": "Ewenke",
    "保安": "Bao'an",
    "裕固": "Yugu",
    "独龙": "Dulong",
    "鄂伦春": "Elunchun",
}


@dataclass(frozen=True)
class Overrides:
    """Reviewed readings: of whole names or specific parts (``names``), and of single characters (``chars``)."""

    names: dict[str, str]
    chars: dict[str, str]


def load_overrides(path: Path = OVERRIDES_CSV) -> Overrides:
    """Reviewed readings, ``hanzi,pinyin,scope,note``: scope ``name`` matches a whole name or its specific
    part exactly; scope ``char`` gives a character's reading in every name without a ``name`` override."""
    names: dict[str, str] = {}
    chars: dict[str, str] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            (chars if row["scope"] == "char" else names)[row["hanzi"]] = row["pinyin"]
    return Overrides(names=names, chars=chars)


def _join_syllables(syllables: list[str]) -> str:
    """One word: syllables joined, an apostrophe before a/o/e after the first, capitalised."""
    word = ""
    for i, s in enumerate(syllables):
        if i and s[:1] in ("a", "o", "e"):
            word += "'"
        word += s
    return word[:1].upper() + word[1:]


def _syllables(text: str, chars: dict[str, str]) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.NORMAL, v_to_u=True)
    if len(syllables) == len(text):  # one syllable per character: apply the character readings
        syllables = [chars.get(ch, s) for ch, s in zip(text, syllables, strict=True)]
    return [s for s in syllables if s.strip()]


def _specific(text: str, overrides: Overrides) -> str:
    if text in overrides.names:
        return overrides.names[text]
    return _join_syllables(_syllables(text, overrides.chars))


def _split_generic(name: str) -> tuple[str, str, str]:
    """(specific, generic hanzi, generic pinyin); the generic is empty when none applies.

    A two-character generic that would leave a one-character specific part is not taken: 清新区 is
    清新 + 区, not 清 + 新区; 东矿区 is 东矿 + 区.
    """
    for hanzi, roman in GENERICS:
        if name.endswith(hanzi) and len(name) > len(hanzi):
            if len(hanzi) == 2 and not hanzi.startswith("自治") and len(name) - len(hanzi) == 1:
                continue
            return name[: -len(hanzi)], hanzi, roman
    return name, "", ""


def _split_ethnic(specific: str) -> tuple[str, list[str]]:
    """Strip ethnic names (``朝鲜族``, ``蒙古``) off the end of an autonomous division's specific part."""
    words: list[str] = []
    rest = specific
    while True:
        for hanzi in sorted(ETHNIC, key=len, reverse=True):
            forms = ((hanzi + "族", "zu"), (hanzi, "")) if len(hanzi) > 1 else ((hanzi + "族", "zu"),)
            for form, suffix in forms:
                if rest.endswith(form) and len(rest) > len(form):
                    words.insert(0, ETHNIC[hanzi] + suffix)
                    rest = rest[: -len(form)]
                    break
            else:
                continue
            break
        else:
            return rest, words


def romanize(name: str, overrides: Overrides | None = None) -> str:
    """The Hanyu Pinyin of a division name (``长治市`` -> ``Changzhi Shi``)."""
    if overrides is None:
        overrides = load_overrides()
    if name in overrides.names:
        return overrides.names[name]
    specific, generic, generic_roman = _split_generic(name)
    if not generic:
        return _specific(name, overrides)
    ethnic: list[str] = []
    if generic.startswith("自治") or specific.endswith("族"):
        specific, ethnic = _split_ethnic(specific)
    place = _specific(specific, overrides)
    if not ethnic and len(specific) == 1:  # one syllable: joined to the generic
        return place + generic_roman.lower().replace(" ", "")
    return " ".join([place, *ethnic, generic_roman])


def generate(source: Path = DIVISIONS_CSV) -> dict[str, str]:
    """The romanisation of every name in the source, sorted by name."""
    overrides = load_overrides()
    names = sorted({row["名称"] for row in read_rows(source)})
    return {name: romanize(name, overrides) for name in names}


def write(path: Path = PINYIN_CSV, source: Path = DIVISIONS_CSV) -> int:
    table = generate(source)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["name", "pinyin"])
        for name, roman in table.items():
            writer.writerow([name, roman])
    return len(table)


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    count = write()
    sys.stdout.write(f"wrote {count} names to {PINYIN_CSV}\n")
