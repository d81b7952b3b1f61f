"""Every text the cases capability marks for translation has a zh_CN translation."""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.pofile import read_po

import tongban.cases

PACKAGE = Path(tongban.cases.__file__).parent


def marked_texts() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"N_", "_"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def test_every_marked_text_has_a_translation() -> None:
    with (PACKAGE / "locale" / "zh_CN.po").open("rb") as fh:
        catalog = read_po(fh, locale="zh_CN")
    translated = {m.id for m in catalog if m.id and m.string}
    texts = marked_texts()
    assert len(texts) > 20
    assert sorted(texts - translated) == []
