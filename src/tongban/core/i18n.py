"""Translations: gettext catalogs per capability, zh-CN first, English as the source language.

Each capability keeps ``tongban/<capability>/locale/zh_CN.po`` (and the web shell ``tongban/web/locale``);
the message ids are the English texts, so English needs no catalog. Catalogs are read with Babel at first
use and merged into one table per locale.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

import tongban

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
LOCALE_NAMES = {"zh_CN": "中文", "en": "English"}
PACKAGE_DIR = Path(tongban.__file__).parent


def catalog_files(locale: str) -> list[Path]:
    return sorted(PACKAGE_DIR.glob(f"*/locale/{locale}.po"))


_lock = threading.Lock()


@lru_cache(maxsize=8)
def _table(locale: str) -> dict[str, str]:
    table: dict[str, str] = {}
    with _lock:
        for path in catalog_files(locale):
            with path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            for message in catalog:
                if message.id and message.string and not message.fuzzy:
                    key = message.id if isinstance(message.id, str) else message.id[0]
                    value = message.string if isinstance(message.string, str) else message.string[0]
                    table[key] = value
    return table


def normalize_locale(value: str | None) -> str:
    """Map ``zh``, ``zh-CN``, ``zh_cn``, ``en-US`` ... to a supported locale; default zh_CN."""
    if not value:
        return DEFAULT_LOCALE
    v = value.strip().replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def gettext(locale: str, message: str, /, **params: Any) -> str:
    """The text of ``message`` in ``locale``, with ``{name}`` placeholders filled from ``params``."""
    text = message if locale == "en" else _table(locale).get(message, message)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def N_(message: str) -> str:  # noqa: N802 - gettext convention
    """Mark a text for extraction without translating it now."""
    return message


class Translator:
    """Bound to one locale: ``t("Search")``; used by pages and templates."""

    def __init__(self, locale: str) -> None:
        self.locale = normalize_locale(locale)

    def __call__(self, message: str, /, **params: Any) -> str:
        return gettext(self.locale, message, **params)

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        return self(singular if n == 1 else plural, n=n, **params)


def reload_catalogs() -> None:
    _table.cache_clear()
