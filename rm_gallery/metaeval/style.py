"""Simple, documented heuristics for the surface features a judge may be biased towards: length and markdown.

* Length is counted in characters (``len(text)``), the unit of the 30-character margin: two responses
  "differ in length" when ``|len(A) - len(B)| > margin``.
* A response "uses markdown or lists" when it has any of: a heading line (``#`` to ``######`` then a space),
  a list of at least two items (lines starting, after up to three spaces, with ``-``, ``*`` or ``+`` then a
  space, or with ``1.`` / ``1)`` then a space), bold text (``**text**`` or ``__text__``), a fenced code
  block (```` ``` ````), or a table row (a line that starts and ends with ``|`` and holds another ``|``).
  Known misses and false hits: code whose comment lines start with `` * `` counts as a list; a single bullet
  does not.
"""

from __future__ import annotations

import re

#: Responses whose lengths differ by at most this many characters count as of similar length.
LENGTH_MARGIN = 30

_HEADING = re.compile(r"^ {0,3}#{1,6} \S", re.MULTILINE)
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)]) +\S", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_FENCE = re.compile(r"^ {0,3}```", re.MULTILINE)
_TABLE_ROW = re.compile(r"^ {0,3}\|.*\|.*\| *$", re.MULTILINE)


def has_markdown(text: str) -> bool:
    """Whether ``text`` uses markdown structure or a list (see the module docstring for the exact rules)."""
    return bool(_HEADING.search(text) or len(_LIST_ITEM.findall(text)) >= 2 or _BOLD.search(text)
                or _FENCE.search(text) or _TABLE_ROW.search(text))


def longer_side(len_a: int, len_b: int, margin: int = LENGTH_MARGIN) -> str | None:
    """``A`` or ``B`` when that response is longer by more than ``margin`` characters, else None."""
    if len_a - len_b > margin:
        return "A"
    if len_b - len_a > margin:
        return "B"
    return None
