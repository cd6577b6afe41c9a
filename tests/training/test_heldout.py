"""Held-out metrics of a judge on labelled pairs, against hand-computed values."""

from __future__ import annotations

import pytest

from rm_gallery.training.heldout import PairJudgment, from_probabilities, from_winners, pair_score, summarize


def J(pid: str, ab, ba, source: str = "s", symmetric=None) -> PairJudgment:
    return PairJudgment(pid, source, {"ab": ab, "ba": ba}, symmetric)


def test_hand_computed_figures():
    judged = [J("1", "A", "A"), J("2", "A", "B"), J("3", "tie", None), J("4", "B", "B", source="t")]
    s = summarize(judged, n_boot=0)
    # credits: 1, 0.5, (0.5 + 0.5) / 2, 0  -> mean 0.5; strict: 1, 0.5, 0, 0 -> 0.375
    assert s["accuracy"] == pytest.approx(0.5) and s["strict_accuracy"] == pytest.approx(0.375)
    assert s["accuracy_ab"] == pytest.approx(0.5) and s["accuracy_ba"] == pytest.approx(0.25)
    assert s["both_correct"] == pytest.approx(0.25)
    assert s["consistency"] == pytest.approx(0.5)                # pairs 1 and 4 agree with themselves
    # readable A/B answers: 1ab A(first), 1ba A(second), 2ab A(first), 2ba B(first), 4ab B(second), 4ba B(first)
    assert s["first_shown_rate"] == pytest.approx(4 / 6)
    assert s["parse_failure_rate"] == pytest.approx(1 / 8)
    assert s["source/s"] == pytest.approx(2 / 3) and s["source/t"] == 0.0
    assert s["sources"] == {"s": 3, "t": 1} and s["ci"] == {}


def test_symmetric_verdict_is_scored_instead_of_the_orders():
    j = J("1", "B", "B", symmetric="A")
    assert pair_score(j) == 1.0
    assert summarize([j], n_boot=0)["accuracy_ab"] == 0.0       # the per-order diagnostics still show the orders


def test_from_probabilities_maps_orders_back_to_the_pair():
    # chosen first: P(first better)=0.8 -> chosen; chosen second: P(first better)=0.3 -> the second, chosen
    (j,) = from_probabilities(["p"], ["s"], [0.8], [0.3])
    assert j.orders == {"ab": "A", "ba": "A"} and j.symmetric == "A" and j.probability == pytest.approx(0.75)
    (k,) = from_probabilities(["q"], ["s"], [0.75], [0.75])      # always says "first": position bias
    assert k.orders == {"ab": "A", "ba": "B"} and k.probability == pytest.approx(0.5) and k.symmetric == "tie"


def test_from_probabilities_an_unreadable_order_makes_the_pair_a_parse_error():
    from rm_gallery.types import ParseFailure

    miss = ParseFailure(reason="neither yes nor no in the top logprobs", code="no_yes_no_tokens")
    (j,) = from_probabilities(["p"], ["s"], [0.9], [miss])          # as the grader: no verdict for the pair
    assert j.orders == {"ab": "A", "ba": None} and j.symmetric is None and j.probability is None
    assert pair_score(j) == 0.5 and pair_score(j, 0.0) == 0.0      # error credit, not the readable order's 1.0
    assert summarize([j], n_boot=0)["parse_failure_rate"] == 0.5


def test_from_winners_flips_the_swapped_order():
    (j,) = from_winners(["p"], ["s"], ["A"], ["B"])              # shown B first then picked B: the chosen one
    assert j.orders == {"ab": "A", "ba": "A"}
    (k,) = from_winners(["p"], ["s"], [None], ["tie"])
    assert k.orders == {"ab": None, "ba": "tie"}


def test_degenerate_cases_and_cis():
    ties = [J(str(i), "tie", "tie") for i in range(10)]
    s = summarize(ties, n_boot=200)
    assert s["accuracy"] == 0.5 and s["strict_accuracy"] == 0.0 and s["consistency"] == 1.0
    assert s["first_shown_rate"] is None and s["ci"]["accuracy"] == [0.5, 0.5]
    mixed = [J(str(i), "A" if i % 3 else "B", "A") for i in range(60)]
    s = summarize(mixed, n_boot=300, seed=1)
    low, high = s["ci"]["accuracy"]
    assert low < s["accuracy"] < high and high - low < 0.3
    assert summarize(mixed, n_boot=300, seed=1)["ci"] == s["ci"]  # seeded


def test_paired_gain_by_hand():
    from rm_gallery.training.heldout import paired_gain

    before = [J(str(i), "A", "B", symmetric="B" if i < 6 else "A") for i in range(10)]   # right on 4 of 10
    after = [J(str(i), "A", "A", symmetric="A" if i != 9 else "B") for i in range(10)]   # right on 9 of 10
    g = paired_gain(before, after, n_boot=0)
    assert g["gain"] == pytest.approx(0.5) and g["ci"] is None
    assert (g["right_only_after"], g["right_only_before"]) == (6, 1)
    assert g["mcnemar_p"] == pytest.approx(2 * (1 + 7) / 2 ** 7)        # two-sided binomial, 1 of 7 discordant
    g = paired_gain(before, after, n_boot=500, seed=1)
    assert g["ci"][0] <= 0.5 <= g["ci"][1] and g["ci"][0] > 0               # a paired interval around the gain
    same = paired_gain(before, before, n_boot=200)
    assert same["gain"] == 0 and same["ci"] == [0, 0] and same["mcnemar_p"] == 1.0
    with pytest.raises(ValueError, match="same pairs"):
        paired_gain(before, after[:-1])
