"""Name pools of the synthetic nation, built once per process: Han names, minority names, rare characters.

Plain Python. Han surnames and their weights come from Faker's zh_CN provider; given names are drawn from
per-generation character pools (names of people born in the 1940s differ from those born in the 2010s).
Minority naming follows each group's custom: Uyghur and Kazakh names are a given name and the father's name
joined by a middle dot (阿依古丽·买买提), Tibetan names are two Tibetan names with no surname (扎西次仁),
Mongolian names often have no surname (巴特尔). A few given names use characters outside the Basic
Multilingual Plane (𬱖, 𫖮), as real registers do, so every layer is exercised with them.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from functools import lru_cache

MIDDLE_DOT = "·"

# Given-name characters and two-character names by generation (birth decade) and sex.
_OLD_MALE = "国建华明文德志福军生海荣金春英成林宝庆祥贵忠义兴"
_OLD_FEMALE = "秀英兰桂芳玉珍凤琴淑华梅霞翠莲娥素云彩香"
_OLD_FEMALE_2 = [
    "秀英",
    "桂英",
    "秀兰",
    "玉兰",
    "桂兰",
    "秀珍",
    "凤英",
    "玉珍",
    "淑珍",
    "桂芳",
    "秀云",
    "玉梅",
]
_MID_MALE = "伟强磊勇军杰涛斌超明刚平辉鹏华飞波宁健亮俊峰龙东"
_MID_FEMALE = "丽静敏燕艳娟霞玲红芳娜萍婷雪琳丹颖慧莉倩洁"
_YOUNG_MALE_2 = [
    "子轩", "浩然", "梓轩", "宇轩", "浩宇", "俊杰", "一鸣", "博文", "思远", "子豪", "明轩", "皓轩",
    "梓豪", "宇航", "天佑", "铭泽", "奕辰", "沐宸", "浩轩", "睿泽", "嘉懿", "煜城", "懿轩", "子墨",
]  # fmt: skip
_YOUNG_FEMALE_2 = [
    "欣怡", "梓涵", "子涵", "诗涵", "雨涵", "可馨", "梓萱", "思琪", "雨欣", "一诺", "语桐", "若汐",
    "佳怡", "紫涵", "梦瑶", "欣妍", "雨桐", "心怡", "依诺", "语嫣", "芷若", "沐瑶", "梓晴", "安琪",
]  # fmt: skip
_YOUNG_MALE = "轩浩宇然博睿泽晨阳鑫皓涵凯杰恒旭辰铭航"
_YOUNG_FEMALE = "涵怡萱馨琪妍瑶婷雪悦彤欣诺琳颖菲璐嘉"
# Characters outside the BMP found in real given names (General Standard Chinese Characters, 2013).
RARE_CHARACTERS = "𬱖𬀩𬇕𬍛𬍤𫖮𬊈𬘡𬤇𫍯𬸚𫘧𬣙𬞟𫓶"

UYGHUR_MALE = [
    "买买提", "艾力", "阿不都", "吐尔逊", "艾买提", "依明", "热合曼", "努尔买买提", "阿卜杜拉", "亚森",
    "麦麦提艾力", "艾合买提", "吾斯曼", "阿迪力", "艾尔肯", "帕尔哈提", "伊力哈木", "肉孜",
]  # fmt: skip
UYGHUR_FEMALE = [
    "阿依古丽", "古丽", "热依拉", "阿依努尔", "帕提古丽", "迪丽娜尔", "古丽米热", "祖丽皮亚", "米热古丽",
    "布佐拉", "努尔古丽", "热孜万古丽", "阿米娜", "再努尔", "海尼沙", "玛依拉",
]  # fmt: skip
KAZAKH_MALE = ["努尔兰", "叶尔兰", "叶尔肯", "别克", "达吾列提", "哈力别克", "叶尔波拉提", "加尔肯", "吐尔洪"]
KAZAKH_FEMALE = ["阿依达娜", "加娜尔", "古丽巴合提", "阿依丁", "玛丽亚", "阿娜尔", "沙吾列"]
TIBETAN = ["扎西", "次仁", "多吉", "顿珠", "平措", "格桑", "尼玛", "达瓦", "旺堆", "洛桑", "索朗", "强巴"]
TIBETAN_FEMALE = ["卓玛", "央金", "拉姆", "德吉", "曲珍", "白玛", "次仁", "格桑", "尼玛", "巴桑"]
MONGOLIAN_MALE = ["巴特尔", "苏和", "额尔敦", "那日苏", "宝音", "朝鲁", "毕力格", "特木尔", "满都拉"]
MONGOLIAN_FEMALE = ["其其格", "萨仁", "乌兰", "图雅", "那仁", "琪琪格", "斯琴", "娜仁花", "高娃"]


@dataclass(frozen=True)
class Custom:
    """How a group names its children."""

    style: str  # "han", "patronymic" (given·father), "tibetan", "mongolian"
    male: tuple[str, ...] = ()
    female: tuple[str, ...] = ()


# GB/T 3304 ethnicity code -> naming custom (every group not listed uses Han-style names).
CUSTOMS: dict[str, Custom] = {
    "05": Custom("patronymic", tuple(UYGHUR_MALE), tuple(UYGHUR_FEMALE)),
    "17": Custom("patronymic", tuple(KAZAKH_MALE), tuple(KAZAKH_FEMALE)),
    "04": Custom("tibetan", tuple(TIBETAN), tuple(TIBETAN_FEMALE)),
    "02": Custom("mongolian", tuple(MONGOLIAN_MALE), tuple(MONGOLIAN_FEMALE)),
}
HAN_STYLE = Custom("han")


class Surnames:
    """Han surnames weighted by frequency (Faker's zh_CN table), drawn with one random number."""

    def __init__(self) -> None:
        from faker.providers.person.zh_CN import Provider

        items = list(Provider.last_names.items())
        self.names = [name for name, _w in items]
        self.cumulative = list(itertools.accumulate(float(w) for _n, w in items))

    def pick(self, rng: random.Random) -> str:
        x = rng.random() * self.cumulative[-1]
        return self.names[min(bisect.bisect_right(self.cumulative, x), len(self.names) - 1)]


@lru_cache(maxsize=1)
def surnames() -> Surnames:
    return Surnames()


@lru_cache(maxsize=1)
def _faker_given() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from faker.providers.person.zh_CN import Provider

    return tuple(Provider.first_names_male), tuple(Provider.first_names_female)


def han_given_name(rng: random.Random, *, male: bool, birth_year: int) -> str:
    """A given name typical of the person's generation; one in a few hundred uses a rare character."""
    faker_male, faker_female = _faker_given()
    if birth_year < 1960:
        if not male and rng.random() < 0.4:
            return rng.choice(_OLD_FEMALE_2)
        pool = _OLD_MALE if male else _OLD_FEMALE
    elif birth_year < 1995:
        if rng.random() < 0.35:
            return rng.choice(faker_male if male else faker_female)
        pool = _MID_MALE if male else _MID_FEMALE
    else:
        if rng.random() < 0.5:
            return rng.choice(_YOUNG_MALE_2 if male else _YOUNG_FEMALE_2)
        pool = _YOUNG_MALE if male else _YOUNG_FEMALE
    single = rng.random() < (0.45 if birth_year < 1995 else 0.15)
    if rng.random() < 0.004:
        rare = rng.choice(RARE_CHARACTERS)
        return rare if single else rng.choice(pool) + rare
    if single:
        return rng.choice(pool)
    return rng.choice(pool) + rng.choice(pool)


def han_name(rng: random.Random, *, male: bool, birth_year: int, surname: str | None = None) -> str:
    return (surname or surnames().pick(rng)) + han_given_name(rng, male=male, birth_year=birth_year)


def minority_given(rng: random.Random, custom: Custom, *, male: bool) -> str:
    return rng.choice(custom.male if male else custom.female)


def person_name(
    rng: random.Random,
    *,
    ethnicity: str,
    male: bool,
    birth_year: int,
    surname: str | None = None,
    father_given: str | None = None,
) -> str:
    """A name following the person's group's custom.

    ``surname`` is the family's Han surname (children take it); ``father_given`` is the father's own given
    name for patronymic customs (a person whose father is not generated gets a plausible one).
    """
    custom = CUSTOMS.get(ethnicity, HAN_STYLE)
    if custom.style == "patronymic":
        father = father_given or rng.choice(custom.male)
        return minority_given(rng, custom, male=male) + MIDDLE_DOT + father
    if custom.style == "tibetan":
        first = rng.choice(TIBETAN)
        second = rng.choice(custom.male if male else custom.female)
        return first + second if first != second else first + rng.choice(TIBETAN_FEMALE)
    if custom.style == "mongolian":
        if rng.random() < 0.3:
            return (surname or surnames().pick(rng)) + minority_given(rng, custom, male=male)
        return minority_given(rng, custom, male=male)
    return han_name(rng, male=male, birth_year=birth_year, surname=surname)


def given_part(name: str) -> str:
    """The person's own given name in a patronymic name (``阿依古丽·买买提`` -> ``阿依古丽``)."""
    return name.split(MIDDLE_DOT, 1)[0]


def surname_of(name: str) -> str:
    """The Han surname of a Han-style name: a known two-character surname or the first character."""
    if len(name) >= 3 and name[:2] in TWO_CHARACTER_SURNAMES:
        return name[:2]
    return name[:1]


TWO_CHARACTER_SURNAMES = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "令狐",
    }
)
