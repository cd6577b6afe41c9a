"""What each calibration section compares, and whole meta-evaluations of degenerate judges (report included)."""

import pytest

from rm_gallery.metaeval.calibration import logistic
from rm_gallery.metaeval.report import meta_report
from rm_gallery.metaeval.summary import calibration_sections, meta_summary

from .helpers import pair


def test_probability_is_calibrated_against_the_label():
    pairs = [pair("A", "A", probability=0.8), pair("A", "B", probability=0.8), pair("tie", "tie", probability=0.5),
             pair("A", "A")]
    s = calibration_sections(pairs)["probability"]
    assert s["n"] == 2  # tie labels and pairs without a probability are left out
    assert s["ece"] == pytest.approx(0.3) and s["brier"] == pytest.approx((0.04 + 0.64) / 2)
    assert s["observed_rate"] == 0.5 and s["against"] == "P(A wins) against the label"


def test_confidence_is_calibrated_against_the_verdict_being_right():
    pairs = [pair({"ab": "A", "ba": "B"}, "A", confidences={"ab": 0.9, "ba": 0.6}),
             pair({"ab": "tie"}, "tie", confidences={"ab": 0.7})]
    s = calibration_sections(pairs)["confidence"]
    # (0.9, right), (0.6, wrong), (0.7, right: a tie verdict on a tie label)
    assert s["n"] == 3 and s["brier"] == pytest.approx((0.01 + 0.36 + 0.09) / 3)
    assert s["ece"] == pytest.approx((0.6 + 0.3 + 0.1) / 3)  # three non-empty bins, one item each


def test_score_gap_uses_the_logistic_map_and_reports_a_fitted_temperature():
    pairs = [pair("A", "A", scores=(7.0, 5.0)), pair("B", "A", scores=(5.0, 7.0)), pair("tie", "B", scores=(6.0, 6.0))]
    s = calibration_sections(pairs)["score_gap"]
    probs, outcomes = [logistic(2), logistic(-2), 0.5], [1, 1, 0]
    assert s["brier"] == pytest.approx(sum((p - y) ** 2 for p, y in zip(probs, outcomes, strict=True)) / 3)
    # (2, right), (-2, right), (0, wrong): the likelihood grows as T grows, so the fit stops at the search edge
    assert s["temperature"] == 1.0 and s["fitted_temperature"] == pytest.approx(100) and s["fitted_at_bound"]
    assert set(s["fitted_in_sample"]) == {"ece", "brier"}
    hot = calibration_sections(pairs, temperature=4.0)["score_gap"]
    assert hot["mean_probability"] == pytest.approx((logistic(0.5) + logistic(-0.5) + 0.5) / 3)


def test_fitted_temperature_inside_the_range():
    # gap 1 wins 3 times of 4 alone would give T = 1 / ln 3 = 0.91; the lost gap -1 pulls it sharper
    pairs = [pair("A", "A", scores=(6.0, 5.0))] * 3 + [pair("B", "B", scores=(6.0, 5.0))]
    pairs.append(pair("A", "B", scores=(5.0, 6.0)))
    s = calibration_sections(pairs)["score_gap"]
    assert 0.5 < s["fitted_temperature"] < 0.91 and not s["fitted_at_bound"]


def test_nothing_to_calibrate():
    assert calibration_sections([pair("A", "A"), pair({"ab": "B", "ba": "A"}, "B")]) == {}


def render(pairs, **kw):
    meta = meta_summary(pairs, **kw)
    return meta, meta_report(meta, {"grader": "g", "model": "m", "source": "x"})


def test_all_errors():
    meta, md = render([pair({"ab": None, "ba": None}, "A", id=str(i)) for i in range(4)])
    a = meta["agreement"]
    assert a["coverage"] == 0.0 and a["kappa"] is None and a["errors_by_kind"] == {"parse_error": 8}
    assert meta["length"]["prefer_rate"] is None and meta["calibration"] == {}
    assert "undefined (no judgment with a verdict)" in md and "coverage 0.0%" in md
    assert "Nothing to calibrate" in md


def test_one_class_only_single_order():
    # every label A, one order, the judge always says A: kappa has no expected disagreement to beat
    meta, md = render([pair("A", "A", id=str(i)) for i in range(5)])
    assert meta["agreement"]["kappa"] is None and meta["agreement"]["accuracy"] == 1.0
    assert "undefined (judge and labels use one single class)" in md
    # the same data judged in both orders has both classes in presentation order: kappa is defined
    both, _ = render([pair({"ab": "A", "ba": "A"}, "A", id=str(i)) for i in range(5)])
    assert both["agreement"]["kappa"] == 1.0


def test_all_ties():
    meta, md = render([pair({"ab": "tie", "ba": "tie"}, "A", id=str(i)) for i in range(3)])
    assert meta["agreement"]["kappa"] == 0.0 and meta["agreement"]["accuracy"] == 0.0
    assert meta["position"]["first_shown_rate"] is None and meta["length"]["decided"] == 0
    assert "| label A | 0 | 0 | 3 | 0 |" in md and "| label B | 0 | 0 | 3 | 0 |" in md


def test_summary_counts_and_notes():
    pairs = [pair("A", "A", stratum="x", pointwise=True, scores=(2.0, 1.0)), pair("B", None, stratum="y")]
    meta, md = render(pairs, price_in=1.0, price_out=1.0)
    assert meta["pairs"] == 2 and meta["labelled"] == 1 and meta["strata"] == {"x": 1, "y": 1}
    assert any("no label" in n for n in meta["notes"]) and any("both orientations" in n for n in meta["notes"])
    assert "Not applicable: no labelled pair has pairwise verdicts" in md and "money / 1k" in md and "score_gap" in md


def test_first_shown_probability_is_calibrated_per_order_with_both_outcomes():
    """Chosen response always A: P(A wins) sees one outcome; per order the first-shown side wins in ab, loses in ba."""
    pairs = [pair({"ab": "A", "ba": "A"}, "A", probability=0.75, order_probabilities={"ab": 0.8, "ba": 0.3}),
             pair({"ab": "A", "ba": "B"}, "A", probability=0.4, order_probabilities={"ab": 0.6, "ba": 0.8})]
    cal = calibration_sections(pairs)
    assert cal["probability"]["observed_rate"] == 1.0  # the degenerate view
    s = cal["first_shown"]
    # (0.8, 1), (0.3, 0), (0.6, 1), (0.8, 0)
    assert s["n"] == 4 and s["observed_rate"] == 0.5
    assert s["brier"] == pytest.approx((0.04 + 0.09 + 0.16 + 0.64) / 4)
    assert s["against"] == "P(first shown wins), per order, against the label"
