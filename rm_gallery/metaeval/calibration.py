"""Calibration of a judge's probabilities: reliability bins, expected calibration error, Brier score.

Inputs are ``(probability, outcome)`` items with outcome 1 or 0. What is calibrated against what depends on the
grader (see :mod:`rm_gallery.metaeval.summary`): P(A wins) against the label, a stated confidence against
whether the verdict was right, or a probability mapped from two pointwise scores against the label.

* Reliability bins: ``bins`` equal-width bins over [0, 1]; a probability p falls in bin ``min(floor(p * bins),
  bins - 1)``, so the last bin is closed at 1.
* ECE (Naeini et al. 2015; Guo et al. 2017): sum over non-empty bins of ``n_bin / n * |mean p - mean outcome|``.
  An empty bin contributes nothing.
* Brier score (Brier 1950, binary form): mean of ``(p - outcome)^2``; 0 is perfect, 0.25 is a constant 0.5.

Pointwise scores become a pair probability by the Bradley-Terry (logistic) map
``P(A beats B) = 1 / (1 + exp(-(score_A - score_B) / T))`` with a fixed temperature T (default 1 score point).
:func:`fit_temperature` is offered beside it as an improvement: the maximum-likelihood T on the same items.
It is fitted in-sample, so the calibration it shows is an optimistic bound, and it is reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_BINS = 10
#: The temperatures :func:`fit_temperature` searches between.
TEMPERATURE_RANGE = (1e-2, 1e2)


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram; ``mean_p`` and ``freq`` are None when the bin is empty."""

    lo: float
    hi: float
    n: int
    mean_p: float | None
    freq: float | None


def _check(probs: Sequence[float], outcomes: Sequence[float]) -> None:
    if len(probs) != len(outcomes):
        raise ValueError(f"got {len(probs)} probabilities for {len(outcomes)} outcomes")
    for p in probs:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probabilities must be in [0, 1], got {p}")


def reliability_bins(probs: Sequence[float], outcomes: Sequence[float], bins: int = DEFAULT_BINS
                     ) -> list[ReliabilityBin]:
    """Every bin (empty ones included), with its count, mean probability and observed frequency."""
    _check(probs, outcomes)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    sums = [[0, 0.0, 0.0] for _ in range(bins)]
    for p, y in zip(probs, outcomes, strict=True):
        s = sums[min(int(p * bins), bins - 1)]
        s[0] += 1
        s[1] += p
        s[2] += y
    return [ReliabilityBin(lo=i / bins, hi=(i + 1) / bins, n=int(n), mean_p=sp / n if n else None,
                           freq=sy / n if n else None) for i, (n, sp, sy) in enumerate(sums)]


def expected_calibration_error(probs: Sequence[float], outcomes: Sequence[float], bins: int = DEFAULT_BINS
                               ) -> float | None:
    """ECE over equal-width bins; None for no items."""
    if not probs:
        _check(probs, outcomes)
        return None
    n = len(probs)
    return sum(b.n / n * abs(b.mean_p - b.freq) for b in reliability_bins(probs, outcomes, bins)
               if b.n and b.mean_p is not None and b.freq is not None)


def brier_score(probs: Sequence[float], outcomes: Sequence[float]) -> float | None:
    """Mean squared difference between probability and outcome; None for no items."""
    _check(probs, outcomes)
    return sum((p - y) ** 2 for p, y in zip(probs, outcomes, strict=True)) / len(probs) if probs else None


def logistic(x: float) -> float:
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def score_gap_probability(score_a: float, score_b: float, temperature: float = 1.0) -> float:
    """Bradley-Terry map of two pointwise scores to P(A beats B): logistic((score_a - score_b) / temperature)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return logistic((score_a - score_b) / temperature)


def _log_likelihood(gaps: Sequence[float], outcomes: Sequence[float], temperature: float) -> float:
    total = 0.0
    for g, y in zip(gaps, outcomes, strict=True):
        z = g / temperature
        # log sigma(z) = -log1p(exp(-z)), computed stably on both sides
        log_p = -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))
        log_q = -math.log1p(math.exp(z)) if z <= 0 else -z - math.log1p(math.exp(-z))
        total += y * log_p + (1 - y) * log_q
    return total


def fit_temperature(gaps: Sequence[float], outcomes: Sequence[float], *, lo: float = TEMPERATURE_RANGE[0],
                    hi: float = TEMPERATURE_RANGE[1]) -> float | None:
    """Maximum-likelihood temperature of the logistic map, searched on log T in [lo, hi] (golden section).

    None when no gap is non-zero (the map gives 0.5 whatever T is). The likelihood is unimodal in 1/T, and
    a result at ``lo`` or ``hi`` means the optimum lies beyond the range (e.g. perfectly separated outcomes).
    """
    if len(gaps) != len(outcomes):
        raise ValueError(f"got {len(gaps)} gaps for {len(outcomes)} outcomes")
    if not any(gaps):
        return None
    a, b = math.log(lo), math.log(hi)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _log_likelihood(gaps, outcomes, math.exp(c)), _log_likelihood(gaps, outcomes, math.exp(d))
    for _ in range(80):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _log_likelihood(gaps, outcomes, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _log_likelihood(gaps, outcomes, math.exp(d))
    return math.exp((a + b) / 2)


def calibration_summary(probs: Sequence[float], outcomes: Sequence[float], bins: int = DEFAULT_BINS
                        ) -> dict[str, Any]:
    """n, ECE, Brier score, mean probability, observed frequency, and the reliability bins (as dicts)."""
    n = len(probs)
    return {"n": n, "ece": expected_calibration_error(probs, outcomes, bins), "brier": brier_score(probs, outcomes),
            "mean_probability": sum(probs) / n if n else None, "observed_rate": sum(outcomes) / n if n else None,
            "bins": [asdict(b) for b in reliability_bins(probs, outcomes, bins)]}
