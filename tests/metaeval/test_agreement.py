"""Confusion matrix, Cohen's kappa and coverage against hand-computed cases, degenerate ones included."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rm_gallery.metaeval.agreement import CLASSES, agreement_summary, cohens_kappa, confusion_matrix


def items(counts: dict[tuple[str, str | None], int]) -> list:
    return [key for key, n in counts.items() for _ in range(n)]


def test_textbook_kappa():
    # the classic 2x2 example: 20 agree-yes, 5, 10, 15 agree-no -> p_o 0.7, p_e 0.5, kappa 0.4
    s = agreement_summary(items({("A", "A"): 20, ("A", "B"): 5, ("B", "A"): 10, ("B", "B"): 15}))
    assert s["kappa"] == pytest.approx(0.4) and s["coverage"] == 1.0 and s["accuracy"] == pytest.approx(0.7)
    assert s["matrix"]["A"] == {"A": 20, "B": 5, "tie": 0, "error": 0}


def test_errors_are_a_column_and_lower_coverage_not_kappa():
    s = agreement_summary(items({("A", "A"): 20, ("A", "B"): 5, ("B", "A"): 10, ("B", "B"): 15, ("A", None): 10}))
    assert s["matrix"]["A"]["error"] == 10 and s["judgments"] == 60 and s["parsed"] == 50
    assert s["coverage"] == pytest.approx(50 / 60) and s["kappa"] == pytest.approx(0.4)
    assert s["accuracy"] == pytest.approx(35 / 60)  # failures count as wrong


def test_three_classes_with_ties():
    # rows A (3 A, 1 tie), B (1 A, 2 B), tie (1 B, 2 tie): n 10, diagonal 7 -> p_o 0.7;
    # rows (4, 3, 3), columns (4, 3, 3) -> p_e (16 + 9 + 9) / 100 = 0.34
    counts = {("A", "A"): 3, ("A", "tie"): 1, ("B", "A"): 1, ("B", "B"): 2, ("tie", "B"): 1, ("tie", "tie"): 2}
    s = agreement_summary(items(counts))
    assert s["matrix"]["tie"] == {"A": 0, "B": 1, "tie": 2, "error": 0}
    assert s["kappa"] == pytest.approx((0.7 - 0.34) / (1 - 0.34))


def test_degenerate_cases():
    # one class only, and the judge agrees: no expected disagreement, kappa undefined
    s = agreement_summary([("A", "A")] * 5)
    assert s["kappa"] is None and "one single class" in s["kappa_undefined"] and s["accuracy"] == 1.0
    # one class only in the labels, the judge mixed: p_e = P(judge A); kappa 0 whatever the judge does
    assert cohens_kappa(confusion_matrix([("A", "A")] * 3 + [("A", "B")])) == pytest.approx(0.0)
    # all ties against A/B labels: p_o = 0, p_e = 0 -> kappa 0
    assert agreement_summary([("A", "tie"), ("B", "tie")] * 3)["kappa"] == 0.0
    # all ties against tie labels: one class, undefined
    assert agreement_summary([("tie", "tie")] * 4)["kappa"] is None
    # all errors: nothing parsed, coverage 0
    s = agreement_summary([("A", None), ("B", None)])
    assert s["kappa"] is None and s["kappa_undefined"] == "no judgment with a verdict" and s["coverage"] == 0.0
    assert s["accuracy"] == 0.0
    empty = agreement_summary([])
    assert empty["coverage"] is None and empty["accuracy"] is None and empty["kappa"] is None
    # perfect agreement and perfect disagreement on balanced classes
    assert agreement_summary([("A", "A"), ("B", "B")] * 4)["kappa"] == 1.0
    assert agreement_summary([("A", "B"), ("B", "A")] * 4)["kappa"] == -1.0


def test_bad_label():
    with pytest.raises(ValueError):
        confusion_matrix([("C", "A")])


verdicts = st.sampled_from(["A", "B", "tie"])


@given(st.lists(st.tuples(verdicts, verdicts), max_size=60))
def test_kappa_is_symmetric_in_the_raters_and_at_most_one(pairs):
    k = cohens_kappa(confusion_matrix(pairs))
    swapped = cohens_kappa(confusion_matrix([(v, label) for label, v in pairs]))
    assert (k is None) == (swapped is None)
    if k is not None:
        assert k == pytest.approx(swapped) and -1.0 - 1e-9 <= k <= 1.0 + 1e-9
        if all(label == v for label, v in pairs):
            assert k == pytest.approx(1.0)
    assert set(confusion_matrix(pairs)) == set(CLASSES)
