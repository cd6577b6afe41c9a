"""What meta-evaluation reads: one :class:`Pair` per labelled two-response sample, with every judgment of it.

A pair keeps its verdict in each presentation order judged (``ab`` as given, ``ba`` swapped), always in the
sample's original labels (A = ``responses[0]``), as :class:`~rm_gallery.graders.debias.PositionDebiasedGrader`
stores them. A pointwise judge has no presentation order: its decision (strict >, equal scores a tie) is one
judgment under ``ab``. Besides verdicts, a pair keeps what the bias, calibration and cost sections need:
response lengths and markdown flags, style variants (RM-Bench), P(A wins), stated confidences, scores, usage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rm_gallery.benchmarks.outcomes import response_scores, score_decision
from rm_gallery.metaeval.style import has_markdown
from rm_gallery.types import GraderError, Rank, Result, Sample, Verdict, Winner

#: Sample metadata fields that name a stratum (subset) of a data file, in the order they are looked up.
STRATUM_FIELDS = ("subset", "domain", "category", "source")


@dataclass(frozen=True)
class Pair:
    """One labelled pair and its judgments; see the module docstring."""

    id: str
    stratum: str
    label: Winner | None
    #: Verdict per presentation order, in original labels; None where that judgment failed.
    verdicts: dict[str, Winner | None]
    #: Error kind per order that has no verdict (parse_error, api_error, ...).
    errors: dict[str, str] = field(default_factory=dict)
    pointwise: bool = False
    lengths: tuple[int, int] = (0, 0)
    markdown: tuple[bool, bool] = (False, False)
    #: (style of the chosen response, style of the rejected one), when the data has style variants.
    styles: tuple[str, str] | None = None
    #: P(A beats B) from the pair's Verdict (the mean over orders for a both-order judge).
    probability: float | None = None
    #: P(the response shown first wins) per presentation order, where the judge gives it (``win_probability``'s
    #: ``p_ab`` / ``p_ba``): calibration in presentation order has both outcomes even when A is always chosen.
    order_probabilities: dict[str, float] = field(default_factory=dict)
    #: The judge's stated confidence in its own verdict, per order.
    confidences: dict[str, float] = field(default_factory=dict)
    #: Pointwise scores of (A, B).
    scores: tuple[float, float] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float | None = None

    def judgments(self) -> list[tuple[str, Winner | None]]:
        """``(order, verdict)`` for every judgment of this pair."""
        return list(self.verdicts.items())


def default_stratum(sample: Sample) -> str:
    """The first of :data:`STRATUM_FIELDS` present in the sample's metadata, else ``all``."""
    for name in STRATUM_FIELDS:
        value = sample.metadata.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            return str(value)
    return "all"


def _order_records(result: Result) -> Mapping[str, Mapping[str, Any]] | None:
    """Per-order records written by the position-debiasing wrapper (each has a ``kind``), else None."""
    orders = result.metadata.get("orders")
    if isinstance(orders, Mapping) and orders and all(isinstance(v, Mapping) and "kind" in v
                                                      for v in orders.values()):
        return orders
    return None


def _scores(result: Result) -> tuple[float | None, float | None] | None:
    """(A, B) scores for a pointwise result (per-response scores or a Rank), or from a score-pair Verdict."""
    if isinstance(result, Rank) or isinstance(result.metadata.get("scores"), list):
        a, b = response_scores(result, 2)
        return a, b
    if isinstance(result, Verdict) and {"score_a", "score_b"} <= result.metadata.keys():
        return result.metadata["score_a"], result.metadata["score_b"]
    return None


def _order_probabilities(result: Result) -> dict[str, float]:
    """``{"ab": p_ab, "ba": p_ba}``: P(first shown wins) per order, from a Verdict that records them."""
    if not isinstance(result, Verdict):
        return {}
    out = {}
    for order in ("ab", "ba"):
        p = result.metadata.get(f"p_{order}")
        if isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= p <= 1.0:
            out[order] = float(p)
    return out


def pair_from(sample: Sample, result: Result, *, stratum: str | None = None) -> Pair | None:
    """The pair view of one graded sample; None when the sample is not a pair (two responses)."""
    if len(sample.responses) != 2:
        return None
    a, b = (r.content for r in sample.responses)
    label = sample.label.preferred if sample.label is not None else None
    verdicts: dict[str, Winner | None] = {}
    errors: dict[str, str] = {}
    confidences: dict[str, float] = {}
    scores = _scores(result)
    records = _order_records(result)
    pointwise = scores is not None and not isinstance(result, Verdict)
    if pointwise:
        assert scores is not None
        verdicts["ab"] = score_decision(*scores)
        if verdicts["ab"] is None:
            errors["ab"] = result.kind if isinstance(result, GraderError) else "parse_error"
    elif records is not None:
        for order, rec in records.items():
            ok = rec.get("kind") == "verdict" and rec.get("winner") in ("A", "B", "tie")
            verdicts[order] = rec["winner"] if ok else None
            if not ok:
                errors[order] = str(rec.get("kind"))
            if ok and isinstance(rec.get("confidence"), (int, float)):
                confidences[order] = float(rec["confidence"])
    elif isinstance(result, Verdict):
        verdicts["ab"] = result.winner
        if result.confidence is not None:
            confidences["ab"] = result.confidence
    elif isinstance(result, GraderError):
        verdicts["ab"], errors["ab"] = None, result.kind
    else:  # a Score for one response: no decision between the two
        return None
    styles = None
    chosen, rejected = sample.metadata.get("chosen_style"), sample.metadata.get("rejected_style")
    if isinstance(chosen, str) and isinstance(rejected, str):
        styles = (chosen, rejected)
    full_scores = (float(scores[0]), float(scores[1])) if scores and None not in scores else None
    return Pair(id=sample.id, stratum=stratum if stratum is not None else default_stratum(sample), label=label,
                verdicts=verdicts, errors=errors, pointwise=pointwise, lengths=(len(a), len(b)),
                markdown=(has_markdown(a), has_markdown(b)), styles=styles,
                probability=result.probability if isinstance(result, Verdict) else None,
                order_probabilities=_order_probabilities(result),
                confidences=confidences, scores=full_scores, prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens, latency_s=result.latency_s)


def pairs_from(samples: Sequence[Sample], results: Sequence[Result], strata: Sequence[str] | None = None
               ) -> list[Pair]:
    """Pairs of every two-response sample (others are skipped); ``strata`` overrides each sample's stratum."""
    if len(samples) != len(results):
        raise ValueError(f"got {len(results)} results for {len(samples)} samples")
    out = []
    for i, (s, r) in enumerate(zip(samples, results, strict=True)):
        p = pair_from(s, r, stratum=strata[i] if strata is not None else None)
        if p is not None:
            out.append(p)
    return out
