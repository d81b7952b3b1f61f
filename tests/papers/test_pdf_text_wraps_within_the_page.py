"""Long field values wrap within the page: Latin words stay whole, CJK breaks anywhere, nothing is lost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from reportlab.pdfbase.pdfmetrics import stringWidth

from tongban.papers.render import _register_font, _wrap

FONT = _register_font()
PIECES = [*"abc xyz 北京市朝阳区，。0123", "paper.json", "verification"]
TEXT = st.lists(st.sampled_from(PIECES), max_size=120).map("".join)


@given(TEXT, st.sampled_from([40.0, 120.0, 300.0]))
def test_wrapped_lines_fit_and_keep_every_character(text: str, width: float) -> None:
    lines = _wrap(text, FONT, 10, width)
    assert all(stringWidth(line, FONT, 10) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_latin_words_are_not_split() -> None:
    lines = _wrap("verify it at the page on any node", FONT, 10, 60)
    assert all(
        word in {"verify", "it", "at", "the", "page", "on", "any", "node"}
        for line in lines
        for word in line.split()
    )
