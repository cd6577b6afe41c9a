"""Exact tests for judge comparisons: the two-sided binomial test, McNemar's exact test, and Holm's correction.

Pure Python (no scipy): tests against 1/2 (McNemar, the sign test) are summed in exact integers up to
n = 20,000, everything else in log space. The two-sided p-value is the one R's ``binom.test`` and
``scipy.stats.binomtest`` give: the total probability of every outcome no more likely than the one observed
(with R's relative tolerance of 1e-7).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

_TOLERANCE = 1 + 1e-7  # R's binom.test: outcomes within this relative likelihood of the observed one count
_EXACT_MAX_N = 20_000  # up to here a p = 1/2 test is summed in exact integers (the McNemar and sign-test case)


def binomial_pmf(k: int, n: int, p: float) -> float:
    """P(X = k) for X ~ Binomial(n, p)."""
    if not 0 <= k <= n:
        return 0.0
    if p in (0.0, 1.0):
        return float(k == (0 if p == 0.0 else n))
    log = (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
           + k * math.log(p) + (n - k) * math.log1p(-p))
    return math.exp(log)


def binomial_test(k: int, n: int, p: float = 0.5) -> float:
    """Two-sided exact p-value of ``k`` successes in ``n`` trials under success probability ``p``.

    Sums P(X = i) over every i with P(X = i) <= P(X = k); n = 0 gives 1.0 (no evidence either way).
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if n == 0:
        return 1.0
    if p == 0.5 and n <= _EXACT_MAX_N:  # symmetric: both tails beyond min(k, n - k), in exact integers
        m = min(k, n - k)
        if 2 * m == n:
            return 1.0
        tail, term = 0, 1
        for i in range(m + 1):
            tail += term
            term = term * (n - i) // (i + 1)
        return min(1.0, 2 * tail / 2 ** n)
    observed = binomial_pmf(k, n, p)
    total = sum(q for i in range(n + 1) if (q := binomial_pmf(i, n, p)) <= observed * _TOLERANCE)
    return min(1.0, total)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """McNemar's exact test: two-sided binomial test of the discordant pairs against 1/2.

    ``only_a``: items judge A got right and judge B wrong; ``only_b``: the reverse. Concordant items carry
    no information about the difference. No discordant pairs gives 1.0.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError("discordant counts must be >= 0")
    return binomial_test(only_a, only_a + only_b, 0.5)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (family-wise error control).

    Sorted ascending, the i-th smallest (i from 0) is multiplied by m - i; adjusted values are made
    non-decreasing in that order and capped at 1. One test is returned unchanged.
    """
    m = len(pvalues)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda j: pvalues[j])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted
