"""Read per-judgment decisions back out of results, and the error convention that scores the unreadable ones.

A pairwise result (from :class:`~rm_gallery.graders.debias.PositionDebiasedGrader`) keeps each presentation order
in ``metadata["orders"]`` with winners already mapped back to the original labels; a pointwise result (from
:class:`~rm_gallery.benchmarks.judges.ResponseScoresGrader`) keeps one score per response, None where scoring
failed. A failed judgment and a ``tie`` verdict both earn the error credit: 0 under ``zero``, 1/options under
``chance`` (0.5 for a pair, 0.25 for best-of-four, as the official generative scripts count errors).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rm_gallery.benchmarks.base import ErrorConvention
from rm_gallery.types import Rank, Result, Verdict, Winner

CONVENTIONS: tuple[ErrorConvention, ...] = ("zero", "chance")


def error_value(convention: ErrorConvention, options: int) -> float:
    """Credit for a judgment with no usable answer: 0, or the chance level 1/options."""
    if convention not in CONVENTIONS:
        raise ValueError(f"error convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return 0.0 if convention == "zero" else 1.0 / options


def verdict_credit(winner: Winner | None, correct: Winner, convention: ErrorConvention) -> float:
    """1 for the correct side, 0 for the other side, the error credit for a tie or no verdict."""
    if winner == correct:
        return 1.0
    if winner in ("A", "B"):
        return 0.0
    return error_value(convention, 2)


def order_winners(result: Result) -> dict[str, Winner | None]:
    """Winner per presentation order (``ab``, ``ba``) in original labels; None for an order that failed."""
    orders = result.metadata.get("orders")
    if isinstance(orders, dict) and orders:
        return {k: v.get("winner") for k, v in orders.items()}
    if isinstance(result, Verdict):  # a plain pairwise grader: one judgment in the given order
        return {"ab": result.winner}
    return {}


def pair_credit(result: Result, correct: Winner, convention: ErrorConvention) -> float:
    """Mean credit over the orders judged (both orders by default); the error credit if nothing was judged.

    A judge that is symmetric by construction (``metadata["symmetric"]``: the win-probability judge averages
    P(A wins) over both orders) is scored on its own verdict; its per-order answers are diagnostics.
    """
    if isinstance(result, Verdict) and result.metadata.get("symmetric"):
        return verdict_credit(result.winner, correct, convention)
    winners = order_winners(result)
    if not winners:
        return error_value(convention, 2)
    return sum(verdict_credit(w, correct, convention) for w in winners.values()) / len(winners)


def response_scores(result: Result, n: int) -> list[float | None]:
    """One score per response (None where scoring failed)."""
    if isinstance(result, Rank) and result.scores is not None:
        return list(result.scores)
    scores = result.metadata.get("scores")
    if isinstance(scores, list) and len(scores) == n:
        return scores
    return [None] * n


def score_decision(score_a: float | None, score_b: float | None) -> Winner | None:
    """A vs B from two scores, strict >: equal scores are a tie, a missing score no decision."""
    if score_a is None or score_b is None:
        return None
    return "A" if score_a > score_b else "B" if score_b > score_a else "tie"


def judgment_kinds(result: Result) -> list[str]:
    """The outcome kind of every model judgment behind one result (an order, a response score, or itself)."""
    orders = result.metadata.get("orders")
    if isinstance(orders, dict) and orders:
        return [str(v.get("kind")) for v in orders.values()]
    kinds = result.metadata.get("kinds")
    if isinstance(kinds, list) and kinds:
        return [str(k) for k in kinds]
    return [result.kind]


def error_stats(results: Iterable[Result]) -> dict[str, Any]:
    """Judgments by outcome kind, the parse-failure rate and the overall failure rate."""
    kinds: Counter[str] = Counter()
    for r in results:
        kinds.update(judgment_kinds(r))
    total = sum(kinds.values())
    ok = sum(c for k, c in kinds.items() if k in ("verdict", "score", "rank"))
    return {"judgments": total, "by_kind": dict(sorted(kinds.items())),
            "parse_failure_rate": round(kinds["parse_error"] / total, 6) if total else 0.0,
            "failure_rate": round((total - ok) / total, 6) if total else 0.0}

