"""Position, length and style bias of a pairwise judge, from its judgments of labelled pairs.

Accuracy here is strict: a judgment is right when its verdict equals the label, so a tie verdict or a failed
judgment is wrong (the benchmark's error credit is not applied; coverage is reported beside it).

* **Position** (pairwise judges only): accuracy per order, both-order consistency and the share of verdicts
  that picked whichever response was shown first (:func:`rm_gallery.benchmarks.position.position_stats`), plus
  a sign test of position bias: among pairs judged in both orders whose two verdicts disagree, the ones that
  picked the first-shown response both times against the ones that picked the second both times, two-sided
  exact binomial against 1/2.
* **Length**: over pairs whose lengths differ by more than the margin, P(prefer the longer response) among
  A/B verdicts, beside the share of those same judgments whose label is the longer one (what an accurate
  judge would show); accuracy when the chosen response is the longer one, the shorter one, or of similar length.
* **Markdown**: the same over pairs where exactly one response uses markdown or lists.
* **Style variants** (RM-Bench): accuracy per (chosen style, rejected style) cell pooled over all pairs, and
  hard (chosen less styled than rejected), normal (same style) and easy (chosen more styled) as the official
  triangle means of that matrix. The benchmark section keeps the official per-domain numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rm_gallery.benchmarks.position import position_stats
from rm_gallery.benchmarks.rmbench import STYLES, difficulty_scores
from rm_gallery.metaeval.pairs import Pair
from rm_gallery.metaeval.significance import binomial_test
from rm_gallery.metaeval.style import LENGTH_MARGIN, longer_side

#: Which side of a pair has a feature ("A", "B") or None when neither or both do.
Side = Callable[[Pair], str | None]


def _rate(hits: int, total: int) -> float | None:
    return hits / total if total else None


def _labelled(pairs: Sequence[Pair]) -> list[Pair]:
    return [p for p in pairs if p.label in ("A", "B", "tie")]


def position_section(pairs: Sequence[Pair]) -> dict[str, Any] | None:
    """Order statistics and the position sign test; None for pointwise judges or no labelled pairs."""
    judged = [p for p in _labelled(pairs) if not p.pointwise]
    if not judged:
        return None
    stats = position_stats((p.verdicts, p.label) for p in judged)  # type: ignore[misc]
    first_both = sum(p.verdicts.get("ab") == "A" and p.verdicts.get("ba") == "B" for p in judged)
    second_both = sum(p.verdicts.get("ab") == "B" and p.verdicts.get("ba") == "A" for p in judged)
    return {**stats, "pairs": len(judged), "first_both_orders": first_both, "second_both_orders": second_both,
            "sign_test_p": binomial_test(first_both, first_both + second_both) if first_both + second_both else None}


def preference_split(pairs: Sequence[Pair], side: Side) -> dict[str, Any]:
    """P(verdict picks the featured side), its label reference, and accuracy by where the chosen response is.

    ``prefer_rate`` counts A/B verdicts on pairs where ``side`` names a side; ``label_rate`` is the share of
    those same judgments whose label is that side. Accuracy groups (labelled A/B pairs, all judgments):
    ``chosen_has`` (the chosen response has the feature), ``chosen_lacks`` and ``neither`` (no side has it).
    """
    prefer = decided = label_side = 0
    hits = {"chosen_has": 0, "chosen_lacks": 0, "neither": 0}
    seen = dict.fromkeys(hits, 0)
    for p in pairs:
        featured = side(p)
        for _, verdict in p.judgments():
            if featured is not None and verdict in ("A", "B"):
                decided += 1
                prefer += verdict == featured
                label_side += p.label == featured
            if p.label in ("A", "B"):
                group = "neither" if featured is None else "chosen_has" if p.label == featured else "chosen_lacks"
                seen[group] += 1
                hits[group] += verdict == p.label
    return {"prefer_rate": _rate(prefer, decided), "label_rate": _rate(label_side, decided), "decided": decided,
            "accuracy": {g: _rate(hits[g], seen[g]) for g in hits}, "judgments": seen}


def length_section(pairs: Sequence[Pair], margin: int = LENGTH_MARGIN) -> dict[str, Any]:
    """:func:`preference_split` with the feature "longer by more than ``margin`` characters"."""
    return {"margin": margin, **preference_split(pairs, lambda p: longer_side(*p.lengths, margin))}


def _markdown_side(p: Pair) -> str | None:
    a, b = p.markdown
    return "A" if a and not b else "B" if b and not a else None


def markdown_section(pairs: Sequence[Pair]) -> dict[str, Any]:
    """:func:`preference_split` with the feature "uses markdown or lists" (exactly one side does)."""
    return preference_split(pairs, _markdown_side)


def style_section(pairs: Sequence[Pair]) -> dict[str, Any] | None:
    """RM-Bench style cells and hard/normal/easy; None when no pair carries style variants."""
    hits: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], int] = {}
    for p in pairs:
        if p.styles is None or p.label not in ("A", "B"):
            continue
        for _, verdict in p.judgments():
            seen[p.styles] = seen.get(p.styles, 0) + 1
            hits[p.styles] = hits.get(p.styles, 0) + (verdict == p.label)
    if not seen:
        return None
    cells = {f"{c}>{r}": {"accuracy": hits[(c, r)] / n, "judgments": n} for (c, r), n in sorted(seen.items())}
    out: dict[str, Any] = {"cells": cells, "hard": None, "normal": None, "easy": None}
    if all((c, r) in seen for c in STYLES for r in STYLES):
        matrix = [[hits[(c, r)] / seen[(c, r)] for r in STYLES] for c in STYLES]
        out |= {k: v for k, v in difficulty_scores(matrix).items() if k != "score"}
    return out
