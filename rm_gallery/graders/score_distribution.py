"""The probability of each whole score a judge could have written, from the logprobs of the one it wrote.

A score such as ``10`` or ``7.5`` is several tokens for a tokenizer that splits digits (Qwen, our tiny
model): ``1`` ``0``, ``7`` ``.`` ``5``. Reading only the first digit's alternatives turns a 10 into
about 1. This module follows the number token by token instead.

What one generation tells us, and what it cannot:

* At the score position (the first token after ``<answer>`` that starts with a digit) the returned
  alternatives give P(first token) for every candidate first token.
* At each later position only the distribution *after the generated prefix* is known. So the
  generated number's own branch is exact: after a generated ``1``, P(``0`` | ``1``) gives 10,
  P(end | ``1``) gives 1, P(``.`` | ``1``) the decimals (followed further when generated).
* An alternative that was not generated (``8`` when the judge wrote ``9``) is *open*: its continuation
  was never computed. It is read as the score it spells when that is the only allowed score it can
  begin (``8`` -> 8 on a 0-10 grid; the share that would have gone on to a disallowed ``85`` is
  unobservable and taken as zero). When it can begin several allowed scores (``1`` -> 1 or 10) it is
  *ambiguous*: one generation cannot split it. :func:`resolve_open_prefixes` splits it exactly with a
  one-token follow-up request that continues the judge's text after that prefix (vLLM's
  ``continue_final_message``); without one, the expectation is only known to lie in ``[low, high]``.

Approximations, stated: only the returned top alternatives are seen (``top_logprobs``); the mass at the
score position is renormalised over the alternatives that start a number, and at a later position the
unseen mass counts as ending the number (it can only be non-digit tokens or digits rarer than every
returned one). Formatting before the number (a space, ``Score:``) is taken as generated: a leading space
token is conditioned on, and `` 7`` and ``7`` at the score position are the same score.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from rm_gallery.client.completion import TokenLogprob
from rm_gallery.types import ParseFailure

#: Widest interval of possible expectations (score points) reported without resolving it; its midpoint is used.
MAX_AMBIGUITY = 0.1
_CANONICAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]*)?")
_START = re.compile(r"[0-9]+(?:\.[0-9]*)?")
_INT_TAIL = re.compile(r"[0-9]*(?:\.[0-9]*)?")
_FRAC_TAIL = re.compile(r"[0-9]*")


@dataclass(frozen=True)
class OpenPrefix:
    """A number the judge could have started but did not write: its mass and the scores it could become."""

    number: str
    mass: float
    text: str  # the judge's generated text up to and including this prefix (what a follow-up continues)
    candidates: tuple[float, ...]


@dataclass(frozen=True)
class ScoreDistribution:
    """Unnormalised probabilities of the allowed scores, plus the ambiguous mass one generation cannot split."""

    masses: tuple[tuple[float, float], ...]
    ambiguous: tuple[OpenPrefix, ...] = ()
    outside: float = 0.0  # mass on numbers outside the scale (dropped)
    lo: float = 0.0
    hi: float = 10.0
    grid: tuple[float, ...] = ()

    @property
    def total(self) -> float:
        return math.fsum(m for _, m in self.masses) + math.fsum(o.mass for o in self.ambiguous)

    @property
    def exact(self) -> bool:
        return not self.ambiguous

    def bounds(self) -> tuple[float, float]:
        """The lowest and highest expectation over every way of splitting the ambiguous mass."""
        base = math.fsum(v * m for v, m in self.masses)
        low = base + math.fsum(min(o.candidates) * o.mass for o in self.ambiguous)
        high = base + math.fsum(max(o.candidates) * o.mass for o in self.ambiguous)
        z = self.total
        return min(max(low / z, self.lo), self.hi), min(max(high / z, self.lo), self.hi)

    def probabilities(self) -> dict[float, float]:
        """P(score) over the allowed scores, normalised; ambiguous mass left out (see :attr:`exact`)."""
        z = self.total
        return {v: m / z for v, m in self.masses}

    def expected(self, max_ambiguity: float = MAX_AMBIGUITY) -> float | ParseFailure:
        """The expected score; a parse failure when ``[low, high]`` is wider than ``max_ambiguity`` points."""
        low, high = self.bounds()
        if high - low > max_ambiguity:
            pending = ", ".join(f"{o.number!r} (p={o.mass / self.total:.3g}) -> "
                                f"{'/'.join(f'{c:g}' for c in o.candidates)}" for o in self.ambiguous)
            return ParseFailure(reason=f"the expected score lies between {low:.3f} and {high:.3f}: one generation "
                                       f"cannot tell which score these unchosen prefixes begin: {pending}",
                                code="ambiguous_score")
        return (low + high) / 2


def _value(number: str) -> float | None:
    """The value of a written number (``7.`` reads 7), or None for a non-canonical one (``05``)."""
    if not _CANONICAL.fullmatch(number):
        return None
    v = float(number.rstrip("."))
    return v if math.isfinite(v) else None


def _writing(v: float) -> tuple[str, str]:
    """Integer and fraction digits of a grid value as a judge writes it: 10 -> ("10", ""), 7.5 -> ("7", "5")."""
    text = str(int(v)) if v == int(v) else repr(v)
    whole, _, frac = text.partition(".")
    return whole, frac


def _candidates(number: str, lo: float, hi: float, grid: Sequence[float]) -> tuple[float, ...]:
    """The allowed scores an unfinished ``number`` can end as: itself, or a longer grid value it begins."""
    out = set()
    own = _value(number)
    if own is not None and lo <= own <= hi:
        out.add(own)
    whole, dot, frac = number.partition(".")
    for v in grid:
        w, f = _writing(v)
        if (not dot and w.startswith(whole)) or (dot and w == whole and (f + "0" * len(frac)).startswith(frac)):
            out.add(v)
    return tuple(sorted(out))


def _prob(lp: float) -> float:
    return math.exp(lp) if lp <= 0.0 else (1.0 if lp == lp else 0.0)  # NaN -> 0; > 0 is out of contract -> 1


def _alternatives(tok: TokenLogprob) -> dict[str, float]:
    alts = {t: _prob(lp) for t, lp in tok.top}
    alts.setdefault(tok.token, _prob(tok.logprob))
    return alts


@dataclass
class _Reading:
    terminals: list[tuple[str, float]]
    open: list[tuple[str, float, str]]  # (number, mass, text)


def _follow(number: str, mass: float, text: str, path: Sequence[TokenLogprob], out: _Reading) -> None:
    """Split ``number``'s mass by the next tokens of ``path`` (the generation that continued it)."""
    while path:
        tok, path = path[0], path[1:]
        tail = _FRAC_TAIL if "." in number else _INT_TAIL
        seen = 0.0
        generated: tuple[str, float] | None = None
        for alt, p in _alternatives(tok).items():
            run = tail.match(alt).group()  # type: ignore[union-attr]  # always matches (possibly empty)
            if not run:
                continue
            seen += p
            if run != alt:                      # "0<": the number ends inside this token
                out.terminals.append((number + run, mass * p))
            elif alt == tok.token:
                generated = (number + alt, mass * p)
            else:
                out.open.append((number + alt, mass * p, text + alt))
        out.terminals.append((number, mass * max(0.0, 1.0 - seen)))  # every non-continuing token ends it
        if generated is None:
            return
        number, mass = generated
        text += tok.token
    out.open.append((number, mass, text))  # the generation stopped inside the number


def _score_position(tokens: Sequence[TokenLogprob], anchor: str) -> tuple[int, str, str] | ParseFailure:
    """Index of the first token starting a number after the last ``anchor``, the text before it and the
    part of that token that precedes the anchor's end (when the anchor and the number share a token)."""
    text = "".join(t.token for t in tokens)
    cut = text.rfind(anchor)
    if cut < 0:
        return ParseFailure(reason=f"no {anchor} in the generated tokens", code="missing_tag")
    end = cut + len(anchor)
    start = 0
    for i, tok in enumerate(tokens):
        stop = start + len(tok.token)
        if stop > end:
            head = tok.token[:max(0, end - start)]
            rest = tok.token[len(head):]
            if _START.match(rest.lstrip()):
                return i, text[:start], head
            if "<" in rest:  # the closing tag came first: the answer holds no number
                break
        start = stop
    return ParseFailure(reason=f"no number after the last {anchor} in the generated tokens", code="invalid_score")


def score_distribution(tokens: Sequence[TokenLogprob], lo: float, hi: float, *, grid: Sequence[float] | None = None,
                       anchor: str = "<answer>") -> ScoreDistribution | ParseFailure:
    """P(each allowed score) at the number after the last ``anchor``, following the generated digits.

    ``grid`` lists the longer scores an unchosen prefix may begin (default: the integers in
    ``[lo, hi]``; pass half points if the judge writes them). A number the generated path spells out
    counts whenever it lies in ``[lo, hi]``, on the grid or not. Failure codes: ``missing_tag`` (no
    anchor), ``invalid_score`` (no number after it, or no probability on an allowed score). Never raises.
    """
    grid = tuple(float(v) for v in grid) if grid is not None else tuple(
        float(v) for v in range(math.ceil(lo), math.floor(hi) + 1))
    found = _score_position(tokens, anchor)
    if isinstance(found, ParseFailure):
        return found
    k, before, head = found
    reading = _Reading([], [])
    first = tokens[k]
    for alt, p in _alternatives(first).items():
        if not alt.startswith(head):
            continue  # an alternative that rewrites the anchor's own characters spells no number here
        body = alt[len(head):]
        stripped = body.lstrip()
        m = _START.match(stripped)
        if m is None:
            continue  # whitespace, words: not a number at this position
        run = m.group()
        if run != stripped:
            reading.terminals.append((run, p))
        elif alt == first.token:
            _follow(run, p, before + alt, tokens[k + 1:], reading)
        else:
            reading.open.append((run, p, before + alt))
    return _classify(reading, lo, hi, grid)


def _classify(reading: _Reading, lo: float, hi: float, grid: tuple[float, ...],
              base: ScoreDistribution | None = None) -> ScoreDistribution | ParseFailure:
    masses: dict[float, float] = dict(base.masses) if base else {}
    outside = base.outside if base else 0.0
    ambiguous: list[OpenPrefix] = []
    for number, mass in reading.terminals:
        v = _value(number)
        if v is not None and lo <= v <= hi:
            masses[v] = masses.get(v, 0.0) + mass
        else:
            outside += mass
    for number, mass, text in reading.open:
        cands = _candidates(number, lo, hi, grid)
        if len(cands) == 1:
            masses[cands[0]] = masses.get(cands[0], 0.0) + mass
        elif cands:
            ambiguous.append(OpenPrefix(number, mass, text, cands))
        else:
            outside += mass
    dist = ScoreDistribution(tuple(sorted((v, m) for v, m in masses.items() if m > 0)), tuple(ambiguous),
                             outside, lo, hi, grid)
    if not dist.total > 0:
        return ParseFailure(reason=f"no probability on a score between {lo:g} and {hi:g} at the score position",
                            code="invalid_score")
    return dist


#: Request parameters of a follow-up that continues the judge's own text by one token (vLLM chat API).
CONTINUE_PARAMS = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "top_logprobs": 20,
                   "extra_body": {"continue_final_message": True, "add_generation_prompt": False}}

Continuer = Callable[[str], Awaitable[Sequence[TokenLogprob]]]


async def resolve_open_prefixes(dist: ScoreDistribution, continue_after: Continuer, *, rounds: int = 3
                                ) -> ScoreDistribution | ParseFailure:
    """Split every ambiguous prefix exactly: ``continue_after(text)`` returns the logprobs of one token
    generated after ``text`` (the judge's own output up to the prefix), which is P(next | prefix).

    Each round sends one request per ambiguous prefix; on a 0-10 grid one round settles ``1`` (-> 1 or
    10). Whatever is still ambiguous after ``rounds`` stays in :attr:`ScoreDistribution.ambiguous`; a
    parse failure when the follow-ups move all the mass onto numbers outside the scale.
    """
    for _ in range(rounds):
        if dist.exact:
            break
        pending = dist.ambiguous
        answers = await asyncio.gather(*(continue_after(o.text) for o in pending))
        reading = _Reading([], [])
        for o, path in zip(pending, answers, strict=True):
            _follow(o.number, o.mass, o.text, tuple(path), reading)
        resolved = _classify(reading, dist.lo, dist.hi, dist.grid, replace(dist, ambiguous=()))
        if isinstance(resolved, ParseFailure):
            return resolved
        dist = resolved
    return dist


def expected_score(tokens: Sequence[TokenLogprob], lo: float, hi: float, *, grid: Sequence[float] | None = None,
                   anchor: str = "<answer>", max_ambiguity: float = MAX_AMBIGUITY) -> float | ParseFailure:
    """Sum of score x P(score) over the whole scores after the last ``anchor`` (see :func:`score_distribution`).

    A parse failure when there is no score position or no mass on an allowed score, and
    (``ambiguous_score``) when unchosen prefixes leave the expectation undetermined by more than
    ``max_ambiguity`` points; use :func:`resolve_open_prefixes` with a follow-up request to settle them.
    """
    dist = score_distribution(tokens, lo, hi, grid=grid, anchor=anchor)
    return dist if isinstance(dist, ParseFailure) else dist.expected(max_ambiguity)
