"""Search keys of a name: the name itself, its full pinyin and its initials, for every reading.

A name is found by a prefix of any of its keys: ``张三`` by ``张``, ``zhangsan``, ``zhangs`` or ``zs``. A
polyphonic character contributes every reading pypinyin knows (``曾`` is ``zeng`` as a surname and ``ceng``
elsewhere; ``单`` is ``shan``, ``dan`` or ``chan``), so the clerk finds the person whichever reading they try.
Readings multiply, so variants are generated in order of how many characters use a less common reading and
capped at ``MAX_VARIANTS`` per kind. For middle-dot names (``阿依古丽·买买提``) each part after a dot also gets
keys, so a search by the second part finds the person too. Keys are lower-case; case and spaces in a query
are ignored. Characters pypinyin does not know (Latin letters, rare characters outside the BMP) are kept as
they are in the hanzi key and dropped from the pinyin keys.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import lru_cache

from pypinyin import Style, pinyin

MAX_VARIANTS = 8  # full-pinyin readings per name part; initials likewise
MAX_KEY_LENGTH = 96
NAME_SEPARATORS = "·•‧・.．"


@lru_cache(maxsize=65536)
def readings(char: str) -> tuple[str, ...]:
    """Every toneless reading of one character, most common first; ``()`` when it has none."""
    if not (
        "\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0003134f" or "\uf900" <= char <= "\ufaff"
    ):
        return ()
    found = pinyin(char, style=Style.NORMAL, heteronym=True, errors=lambda _c: "")
    if not found:
        return ()
    return tuple(dict.fromkeys(r.replace("ü", "v") for r in found[0] if r and r.isascii() and r.isalpha()))


def _variants(per_char: list[tuple[str, ...]], limit: int) -> Iterator[tuple[str, ...]]:
    """Reading combinations, fewest uncommon readings first, at most ``limit``.

    Only characters with more than one reading can take an uncommon one, so the positions taking one are
    combinations of those characters alone (in the same order as of all positions, skipping the rest)."""
    n = len(per_char)
    common = [options[:1] for options in per_char]
    uncommon = [options[1:] for options in per_char]
    poly = [i for i in range(n) if len(per_char[i]) > 1]
    emitted = 0
    for k in range(len(poly) + 1):
        for positions in itertools.combinations(poly, k):
            choices = list(common)
            for p in positions:
                choices[p] = uncommon[p]
            for combo in itertools.product(*choices):
                yield combo
                emitted += 1
                if emitted >= limit:
                    return


@lru_cache(maxsize=65536)
def _char_options(char: str) -> tuple[str, ...]:
    """A character's readings; a Latin letter stands for itself; others have none."""
    found = readings(char)
    if found:
        return found
    return (char.lower(),) if char.isascii() and char.isalpha() else ()


@lru_cache(maxsize=65536)
def _part_keys(part: str) -> frozenset[str]:
    keys = {part.lower()}
    fixed = [o for o in map(_char_options, part) if o]
    if not fixed or all(len(o[0]) == 1 and o[0].isascii() and len(o) == 1 for o in fixed):
        return frozenset(keys)  # nothing pypinyin knows: no pinyin keys
    if all(len(o) == 1 for o in fixed):  # the common case: one reading per character
        keys.add("".join(o[0] for o in fixed))
        keys.add("".join(o[0][0] for o in fixed))
        return frozenset(keys)
    for combo in _variants(fixed, MAX_VARIANTS):
        keys.add("".join(combo))
    initials = [tuple(dict.fromkeys(r[0] for r in options)) for options in fixed]
    for combo in _variants(initials, MAX_VARIANTS):
        keys.add("".join(combo))
    return frozenset(keys)


def split_name(name: str) -> list[str]:
    return [p for p in re.split(f"[{re.escape(NAME_SEPARATORS)}\\s]+", name) if p]


def search_keys(name: str) -> list[str]:
    """The search keys of ``name`` (sorted, unique, each at most ``MAX_KEY_LENGTH`` characters)."""
    keys: set[str] = {name.lower()[:MAX_KEY_LENGTH]}
    parts = split_name(name)
    # The whole name without separators, then each part from the second on.
    keys |= {k[:MAX_KEY_LENGTH] for k in _part_keys("".join(parts))}
    for part in parts[1:]:
        keys |= {k[:MAX_KEY_LENGTH] for k in _part_keys(part)}
    keys.discard("")
    return sorted(keys)


def normalize_query(query: str) -> str:
    """A search text as keys are stored: lower-case, without spaces and name separators."""
    return "".join(ch for ch in query.strip().lower() if not ch.isspace() and ch not in NAME_SEPARATORS)[
        :MAX_KEY_LENGTH
    ]


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string that starts with ``prefix`` (code point order), or None when
    there is none (a prefix of U+10FFFF only).

    ``key >= prefix AND key < prefix_upper_bound(prefix)`` is ``key LIKE 'prefix%'`` written so that an
    ordinary B-tree index answers it on both backends (SQLite's LIKE is case-insensitive and skips the index).
    A last character of U+10FFFF has no successor: the bound carries to the character before it.
    """
    head = prefix.rstrip("\U0010ffff")
    if not head:
        return None
    nxt = ord(head[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # skip the surrogate block: not encodable
        nxt = 0xE000
    return head[:-1] + chr(nxt)


def keys_of_names(names: list[str]) -> list[list[str]]:
    """``search_keys`` of each name, in order (a worker process's task: see ``bulk.BackgroundKeys``)."""
    return [search_keys(name) for name in names]
