"""The exact binomial test, McNemar's exact test and Holm's correction against hand-computed and published values."""

from fractions import Fraction
from math import comb

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rm_gallery.metaeval.significance import binomial_pmf, binomial_test, holm, mcnemar_exact


def reference_p(k: int, n: int, p: Fraction) -> float:
    """Exact rational two-sided p-value: every outcome no more likely than k."""
    pmf = [comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return float(sum(q for q in pmf if q <= pmf[k]))


def test_binomial_hand_values():
    assert binomial_test(3, 10) == pytest.approx(352 / 1024)  # 2 * (1 + 10 + 45 + 120) / 2^10
    assert binomial_test(0, 10) == pytest.approx(2 / 1024)
    assert binomial_test(5, 10) == 1.0
    assert binomial_test(10, 10) == pytest.approx(2 / 1024)
    # n=3, p=0.2: pmf 0.512, 0.384, 0.096, 0.008; outcomes no more likely than k=2 are {2, 3}
    assert binomial_test(2, 3, 0.2) == pytest.approx(0.104)
    assert binomial_test(0, 0) == 1.0


def test_binomial_published_value():
    # R's ?binom.test example: binom.test(c(682, 243), p = 3/4) gives p-value = 0.3825
    assert binomial_test(682, 925, 0.75) == pytest.approx(0.3825, abs=5e-5)


@given(st.integers(0, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
       st.sampled_from([Fraction(1, 2), Fraction(1, 5), Fraction(3, 4), Fraction(1, 10)]))
def test_binomial_matches_exact_rational_reference(nk, p):
    n, k = nk
    assert binomial_test(k, n, float(p)) == pytest.approx(min(1.0, reference_p(k, n, p)), rel=1e-9)


def test_binomial_edges_and_bad_input():
    assert binomial_pmf(0, 5, 0.0) == 1.0 and binomial_pmf(5, 5, 1.0) == 1.0 and binomial_pmf(6, 5, 0.5) == 0.0
    assert binomial_test(0, 5, 0.0) == 1.0 and binomial_test(1, 5, 0.0) == 0.0
    with pytest.raises(ValueError):
        binomial_test(6, 5)
    with pytest.raises(ValueError):
        binomial_test(1, 5, 1.5)


def test_mcnemar_exact():
    assert mcnemar_exact(0, 0) == 1.0  # no discordant pairs: no evidence
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)  # 2 * (1 + 10) / 2^10
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 7) == pytest.approx(2 / 128)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_holm():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2]) == [0.2]  # one test: unchanged
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []
    assert holm([0.04, 0.04]) == pytest.approx([0.08, 0.08])
