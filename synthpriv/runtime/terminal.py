"""Text bound for a terminal, made inert.

Column names, file names and run names come from the user's data and folders. Printed raw,
an ANSI escape in a column name could recolour, move the cursor or retitle the terminal, and
a newline could forge a second ``error:`` line. Every such string passes through
`printable` before it reaches stdout, stderr or a log: control characters become visible
escapes (``\\x1b``, ``\\n``), and so do the Unicode format characters that reorder text on
screen (bidirectional overrides and isolates, the "Trojan Source" characters) and the
Unicode line and paragraph separators.
"""

from __future__ import annotations

import re
import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: C0 and C1 controls and DEL; Unicode "format" characters (category Cf) are matched below.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Format characters (Cf), and the line and paragraph separators (U+2028, U+2029), which
#: ``str.splitlines`` and some terminals treat as line breaks.
_ESCAPED_CATEGORIES = frozenset({"Cf", "Zl", "Zp"})


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control and format character replaced by a visible escape."""
    text = _CONTROL.sub(lambda m: _escape(m.group()), text)
    if text.isascii():
        return text
    return "".join(_escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in text)
