"""Every user-facing text marked in code or templates has a zh-CN translation in its capability's catalog."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import tongban
from tongban.core.i18n import Translator, gettext

PACKAGE = Path(tongban.__file__).parent
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "N_": None, "t": None, "ngettext": (1, 2)}
# Packages that share one catalog: the shell's catalog covers core and the web shell.
CATALOG_OF = {"core": "web", "bench": "web", "migrations": "web"}


def _packages() -> list[Path]:
    return sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())


def _marked(package: Path) -> set[str]:
    found: set[str] = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        package, METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found.update(m for m in message if m)
        elif message:
            found.add(message)
    return found


def _catalog(name: str) -> dict[str, str]:
    path = PACKAGE / name / "locale" / "zh_CN.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return {str(m.id): str(m.string) for m in read_po(fh) if m.id and not m.fuzzy}


@pytest.mark.parametrize("package", _packages(), ids=lambda p: p.name)
def test_every_marked_text_is_translated(package: Path) -> None:
    marked = _marked(package)
    catalog = _catalog(CATALOG_OF.get(package.name, package.name))
    missing = sorted(m for m in marked if not catalog.get(m))
    assert missing == [], f"untranslated in {package.name}: {missing}"


def test_placeholders_survive_translation() -> None:
    for po in PACKAGE.glob("*/locale/zh_CN.po"):
        with po.open("rb") as fh:
            for m in read_po(fh):
                if m.id and m.string:
                    assert set(re.findall(r"\{(\w+)\}", str(m.id))) == set(
                        re.findall(r"\{(\w+)\}", str(m.string))
                    ), f"{po}: {m.id!r}"


def test_default_locale_is_chinese_and_english_is_the_source() -> None:
    assert Translator("zh-CN")("Home") == "首页"
    assert Translator("en")("Home") == "Home"
    assert gettext("zh_CN", "No node with code {code} is served here.", code="990000").endswith(
        "990000。"
    ) or ("990000" in gettext("zh_CN", "No node with code {code} is served here.", code="990000"))


def test_one_text_has_one_translation_across_catalogs() -> None:
    """The catalogs merge into one table per locale, so a text translated two ways would show whichever
    catalog loads last, on every page: a text used with two meanings needs two texts ("One-time code",
    "Division name"), not two translations."""
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for po in sorted(PACKAGE.glob("*/locale/zh_CN.po")):
        for msgid, msgstr in _catalog(po.parent.parent.name).items():
            if not msgstr:
                continue
            first = seen.setdefault(msgid, (po.parent.parent.name, msgstr))
            if first[1] != msgstr:
                clashes.append((msgid, first, (po.parent.parent.name, msgstr)))
    assert clashes == []
