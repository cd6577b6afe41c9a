"""Reading a judge's verdict: one rule and one normaliser for every pairwise-style parser.

The rule: **the last verdict the judge writes decides.** If it is unreadable, out of range or names both
sides ("[[A]] or [[B]]?"), the result is a parse failure, never a fallback to an earlier verdict (which
would turn "I am not sure" into a confident verdict and an RL reward). The responses are shown inside the
prompt, not in the judge's output, so the output's last verdict is the judge's own; an analysis that
quotes a response's ``<preference>A</preference>`` is overridden by the judge's final tag.

A verdict is read with a small word grammar, not by searching for a letter. After NFKC (full-width
``Ａ``, ``［［Ｂ］］``) and with inline HTML (``<b>A</b>``) and markdown emphasis (``**A**``, ``__B__``)
dropped, every word must be a side (``A``, ``Response B``, ``[[a]]``), a tie word (``tie``, ``equal``,
``both``, ``same``, ``draw``) or a neutral verdict word (``final verdict``, ``is better``, ``wins``,
``I prefer``). So "Response B is better" and "Both are equally good" read, while "not A", "A is worse",
"A?", "A or B", "A, not B" and "A is better than B" do not: a word outside the grammar, a question mark
or a second side makes the verdict unreadable rather than guessed. Everything here is linear-time and
never raises.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from typing import cast

from rm_gallery.graders.tags import final_tag
from rm_gallery.types import ParseFailure, Winner

#: A verdict longer than this is prose, not a verdict (the templates ask for one letter).
MAX_VERDICT_CHARS = 160
#: Longest content of a ``[[...]]`` token that counts as a verdict token.
MAX_TOKEN_CHARS = 32

_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]{0,15}\s{0,4}/?>")
_CONTRACTION = re.compile(r"['’](?:s|d|ll|re|ve|m)\b", re.IGNORECASE)
_NOT = re.compile(r"n['’]t\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")

_TIE_WORDS = frozenset({"tie", "tied", "draw", "equal", "equally", "same", "both"})
#: Words that name what a side is ("Response A", "Assistant B", "Answer: A").
_NOUNS = frozenset({"response", "responses", "assistant", "assistants", "answer", "answers", "output", "outputs",
                    "option", "options", "candidate", "candidates", "model", "models", "completion", "submission"})
#: Words a verdict may hold besides sides and tie words. Only neutral or positive words: with one side named,
#: none of them can turn the verdict against it (no "not", "worse", "than", "or", "but", "maybe"...).
_NEUTRAL = _NOUNS | frozenset({
    "final", "verdict", "preference", "preferred", "prefer", "choice", "choose", "chosen", "pick", "select",
    "selected", "decision", "winner", "wins", "win", "overall", "result", "judgment", "judgement", "conclusion",
    "the", "is", "are", "was", "it", "they", "this", "my", "i", "we", "would", "will", "be", "one", "ones",
    "and", "better", "best", "good", "great", "stronger", "superior", "preferable", "higher", "quality", "more",
    "much", "slightly", "slight", "clearly", "clear", "significantly", "somewhat", "bit", "far", "very",
    "helpful", "accurate", "correct", "complete", "relevant", "clearer", "concise", "detailed", "safer",
    "fine", "okay"})
#: Before these (with only spaces between) the word "a" is the article ("a tie", "B is a better answer"),
#: unless a noun precedes it ("Response A better").
_ARTICLE_NEXT = frozenset({"tie", "draw", "better", "best", "good", "great", "stronger", "superior", "preferable",
                           "higher", "more", "much", "slightly", "slight", "clearly", "clear", "significantly",
                           "somewhat", "bit", "far", "very", "winner", "fine"})


def plain(value: str) -> str:
    """``value`` in NFKC (full-width ``Ａ`` -> ``A``, ``［`` -> ``[``) with inline HTML tags removed."""
    return _HTML_TAG.sub(" ", unicodedata.normalize("NFKC", value))


def _words(plain_text: str) -> list[tuple[str, bool]]:
    """(word, whether only spaces separate it from the next word) for every casefolded word of a plain text.

    Punctuation, emphasis and underscores separate words; contractions ("A's", "I'd") lose their tail and
    "n't" becomes "not".
    """
    text = _NOT.sub(" not", _CONTRACTION.sub("", plain_text))
    found = list(_WORD.finditer(text))
    return [(m.group().casefold(), i + 1 < len(found) and text[m.end(): found[i + 1].start()].isspace())
            for i, m in enumerate(found)]


def read_side(value: str, letters: str = "AB") -> str | ParseFailure:
    """The one side ``value`` names: a letter of ``letters`` or ``"tie"``; a ParseFailure otherwise.

    Codes: ``ambiguous`` when it names more than one side (a letter and a tie word count as two), and
    ``unreadable`` when it names none, holds a word outside the verdict grammar, asks a question, or is
    longer than :data:`MAX_VERDICT_CHARS`. The caller decides whether ``"tie"`` is allowed.
    """
    if not isinstance(value, str):
        return ParseFailure(reason=f"expected text, got {type(value).__name__}")
    shown = " ".join(value.split())
    if len(shown) > MAX_VERDICT_CHARS:
        return ParseFailure(reason=f"holds {len(shown)} characters of prose, not a verdict", code="unreadable")
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    text = plain(value)
    if "?" in text:
        return ParseFailure(reason=f"asks a question ({shown!r}) instead of giving a verdict", code="unreadable")
    sides = {letter.casefold(): letter for letter in letters}
    words = _words(text)
    named: set[str] = set()
    stray = None
    for i, (word, spaced) in enumerate(words):
        nxt = words[i + 1][0] if spaced else ""
        if word in sides:
            after_noun = i > 0 and words[i - 1][0] in _NOUNS
            if word == "a" and (nxt in ("tie", "draw") or (not after_noun and nxt in _ARTICLE_NEXT)):
                continue  # the article: "a tie", "B is a better answer" (not "A (better)", "Response A better")
            named.add(sides[word])
        elif word in _TIE_WORDS:
            named.add("tie")
        elif word not in _NEUTRAL and stray is None:
            stray = word
    if len(named) > 1:
        found = sorted(named)
        return ParseFailure(reason=f"names {', '.join(found[:-1])} and {found[-1]} ({shown!r}); a verdict names "
                                   "exactly one", code="ambiguous")
    if stray is not None:
        return ParseFailure(reason=f"holds {shown!r}: {stray!r} is not a verdict word, so it does not clearly "
                                   f"name one of {_options(letters)}", code="unreadable")
    if not named:
        return ParseFailure(reason=f"holds {shown!r}, which names none of {_options(letters)}", code="unreadable")
    return named.pop()


def _options(letters: str) -> str:
    return ", ".join(letters) + " or a tie"


def normalize_winner(value: str) -> Winner | None:
    """``"Response A"``, ``"**b**"``, ``"Equal."``, ``"Ｂ"`` -> ``"A"``, ``"B"``, ``"tie"``; None if unreadable."""
    side = read_side(value)
    return None if isinstance(side, ParseFailure) else cast(Winner, side)


def tag_verdict(text: str, tag: str) -> Winner | ParseFailure:
    """The winner (A, B or tie) in the judge's final ``<tag>``: any length, any inline markup; never raises."""
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}")
    value = final_tag(text, tag)
    if isinstance(value, ParseFailure):
        return value
    side = read_side(value)
    if isinstance(side, ParseFailure):
        return ParseFailure(reason=f"the final <{tag}> {side.reason}", code=side.code)
    return cast(Winner, side)


# -- [[X]] verdict tokens (reasoning judge, best-of-four) ---------------------------------------------------
_TOKEN = re.compile(rf"[\[［]{{2}}([^\[\]［］\n]{{0,{MAX_TOKEN_CHARS}}})[\]］]{{2}}")
_SENTENCE_ENDS = ".!?\n。！？"


def last_token_start(text: str) -> int | None:
    """Where the last ``[[...]]`` verdict token starts (None if there is none)."""
    last = deque(_TOKEN.finditer(text), maxlen=1)
    return last[0].start() if last else None


def bracket_verdict(text: str, letters: str) -> str | ParseFailure:
    """The side named by the last ``[[X]]`` token (``X`` read by :func:`read_side`); never raises.

    The last token is the judge's verdict: if it is unreadable it is a failure, even when an earlier token
    was readable. Its sentence (between the sentence ends ``. ! ? newline`` around it) is the verdict
    statement: another token in it naming a different side ("[[A]] or [[B]]", "[[B]] is better than
    [[A]]") makes the verdict ``ambiguous``, and a question mark ending it ("[[A]]?") ``unreadable``.
    Tokens in earlier sentences are reasoning and never count.
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}")
    tokens = list(_TOKEN.finditer(text))
    if not tokens:
        return ParseFailure(reason="no [[...]] verdict (" + ", ".join(f"[[{x}]]" for x in letters) + ")",
                            code="missing_tag")
    last = tokens[-1]
    side = read_side(last.group(1), letters)
    if isinstance(side, ParseFailure):
        return ParseFailure(reason=f"the final verdict {last.group(0)!r} {side.reason}", code=side.code)
    begin = max(text.rfind(c, 0, last.start()) for c in _SENTENCE_ENDS) + 1
    for other in tokens[-2::-1]:
        if other.start() < begin:
            break
        seen = read_side(other.group(1), letters)
        if not isinstance(seen, ParseFailure) and seen != side:
            return ParseFailure(reason=f"the final verdict names both {other.group(0)} and {last.group(0)}",
                                code="ambiguous")
    ends = [i for c in _SENTENCE_ENDS if (i := text.find(c, last.end())) >= 0]
    if ends and text[min(ends)] in "?？":
        return ParseFailure(reason=f"the final verdict {last.group(0)!r} is a question", code="unreadable")
    return side
