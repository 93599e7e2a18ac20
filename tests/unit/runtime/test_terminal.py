"""`printable`: what reaches a terminal carries no control or reordering character."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from synthpriv.runtime.terminal import printable


def _inert(text: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cf") for c in text)


@given(st.text())
def test_nothing_active_survives(text: str) -> None:
    assert _inert(printable(text))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf"))))
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert printable(text) == text


@given(st.text())
def test_one_line_stays_one_line(text: str) -> None:
    assert len(printable(text).splitlines()) <= 1


def test_escapes_read_as_python_would_write_them() -> None:
    assert printable("a\nb") == "a\\nb"
    assert printable("\x1b[31mred") == "\\x1b[31mred"
    assert printable("\x9b2J") == "\\x9b2J"  # the one-byte CSI of C1
    assert printable("abc\u202eexe.txt") == "abc\\u202eexe.txt"  # right-to-left override
    assert printable("naïve café 東京") == "naïve café 東京"
