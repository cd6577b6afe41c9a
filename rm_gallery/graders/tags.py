"""Linear-time readers for XML-like tags in judge output, shared by every tag-based parser.

Judge text is untrusted (a degenerate model can emit kilobytes of whitespace or thousands of open tags),
so nothing here uses a regex: tags are located with ``rfind``/``find``, in linear time. Tag names match
case-insensitively; only ASCII letters are folded, so every index found in the folded text is an index in
the original (``str.lower`` can change a text's length).
"""

from __future__ import annotations

from rm_gallery.types import ParseFailure

#: Longest content of a score-style tag (``<answer>``, ``<confidence>``) that is still read as a number.
MAX_VALUE = 64
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def ascii_lower(text: str) -> str:
    """``text`` with A-Z folded to a-z and nothing else changed (same length, same indices)."""
    return text.translate(_ASCII_LOWER)


def last_block(text: str, tag: str) -> str | None:
    """Stripped content of the last complete ``<tag>...</tag>`` block (any length, any content)."""
    low = ascii_lower(text)
    end = low.rfind(f"</{tag}>")
    if end < 0:
        return None
    start = low.rfind(f"<{tag}>", 0, end)
    if start < 0:
        return None
    return text[start + len(tag) + 2: end].strip()


def final_tag(text: str, tag: str) -> str | ParseFailure:
    """Stripped content of the last ``<tag>`` the text opens, up to its ``</tag>`` (any length, any content).

    This is the judge's final verdict in that tag, and an earlier tag never stands in for it. A failure
    with code ``missing_tag`` when the text opens no ``<tag>``, ``unclosed_tag`` when the last one is never
    closed (e.g. an answer cut off by ``max_tokens``).
    """
    low = ascii_lower(text)
    start = low.rfind(f"<{tag}>")
    if start < 0:
        return ParseFailure(reason=f"no <{tag}>...</{tag}> tag", code="missing_tag")
    end = low.find(f"</{tag}>", start)
    if end < 0:
        return ParseFailure(reason=f"the final <{tag}> is never closed", code="unclosed_tag")
    return text[start + len(tag) + 2: end].strip()
