"""ECE, Brier score, reliability bins and the score-gap map against hand-computed cases."""

import math

import pytest

from rm_gallery.metaeval.calibration import (
    brier_score,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    logistic,
    reliability_bins,
    score_gap_probability,
)


def test_hand_computed_ece_and_brier():
    probs, outcomes = [0.05, 0.15, 0.95, 0.95], [0, 1, 1, 0]
    # bin 0: |0.05 - 0| x 1/4; bin 1: |0.15 - 1| x 1/4; bin 9: |0.95 - 0.5| x 2/4; bins 2..8 are empty
    assert expected_calibration_error(probs, outcomes) == pytest.approx(0.0125 + 0.2125 + 0.225)
    assert brier_score(probs, outcomes) == pytest.approx((0.0025 + 0.7225 + 0.0025 + 0.9025) / 4)
    bins = reliability_bins(probs, outcomes)
    assert [b.n for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert bins[3].mean_p is None and bins[3].freq is None  # an empty bin has no mean
    assert bins[9].mean_p == pytest.approx(0.95) and bins[9].freq == 0.5


def test_bin_edges_last_bin_closed():
    bins = reliability_bins([0.0, 0.1, 0.5, 1.0], [0, 0, 1, 1], bins=10)
    assert bins[0].n == 1 and bins[1].n == 1 and bins[5].n == 1 and bins[9].n == 1
    assert [b.n for b in reliability_bins([0.0, 0.49, 0.5, 1.0], [0, 0, 1, 1], bins=2)] == [2, 2]


def test_perfectly_calibrated_and_degenerate_cases():
    # within each bin the mean probability equals the observed frequency
    probs, outcomes = [0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0]
    assert expected_calibration_error(probs, outcomes) == pytest.approx(0.0)
    assert brier_score([1.0, 0.0], [1, 0]) == 0.0
    assert brier_score([0.5] * 6, [1, 0, 1, 1, 0, 0]) == pytest.approx(0.25)
    # one class only: every outcome 1, a constant 0.8 is off by 0.2
    assert expected_calibration_error([0.8] * 5, [1] * 5) == pytest.approx(0.2)
    assert expected_calibration_error([], []) is None and brier_score([], []) is None
    s = calibration_summary([], [])
    assert s["n"] == 0 and s["ece"] is None and s["mean_probability"] is None and all(b["n"] == 0 for b in s["bins"])


def test_bad_input():
    with pytest.raises(ValueError):
        expected_calibration_error([0.5], [1, 0])
    with pytest.raises(ValueError):
        brier_score([1.2], [1])
    with pytest.raises(ValueError):
        reliability_bins([0.5], [1], bins=0)
    with pytest.raises(ValueError):
        score_gap_probability(1, 0, temperature=0)


def test_logistic_map():
    assert logistic(0) == 0.5 and logistic(1000) == 1.0 and logistic(-1000) == 0.0  # no overflow
    assert score_gap_probability(7, 6) == pytest.approx(1 / (1 + math.exp(-1)))
    assert score_gap_probability(6, 8, temperature=2) == pytest.approx(1 / (1 + math.e))
    assert score_gap_probability(5, 5) == 0.5


def test_fit_temperature_recovers_the_generating_temperature():
    # outcomes equal to the model's own probabilities at T = 2.5: the likelihood peaks exactly there
    gaps = [-4, -2, -1, -0.5, 0.5, 1, 2, 3, 5]
    outcomes = [logistic(g / 2.5) for g in gaps]
    assert fit_temperature(gaps, outcomes) == pytest.approx(2.5, rel=1e-4)
    assert fit_temperature([0, 0], [1, 0]) is None  # no gap: every T gives 0.5
    # perfectly separated outcomes: the optimum is at the sharpest temperature searched
    assert fit_temperature([-1, 1], [0, 1]) == pytest.approx(1e-2, rel=1e-3)
