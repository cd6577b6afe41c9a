"""Every reward formula against hand-computed cases."""

from __future__ import annotations

import pytest

from rm_gallery.graders.rubric import parse_rubric_score
from rm_gallery.graders.win_probability import symmetric_win_probability
from rm_gallery.training.rewards import (
    correct_rate_in_band,
    format_penalty,
    pairwise_reward,
    par_factor,
    par_rewards,
    reason_score,
    strength_weight,
)

GOOD = ("<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval><answer>{s}</answer>")


@pytest.mark.parametrize(("predicted", "preferred", "strength", "weighted", "expected"), [
    ("A", "A", None, False, 1.0),
    ("B", "A", None, False, 0.0),
    (None, "A", 2, True, 0.0),          # unknown -> 0
    ("tie", "tie", 0, False, 1.0),
    ("A", "A", 2, True, 1.0),
    ("B", "B", 1, True, 0.7),
    ("tie", "tie", 0, True, 0.3),
    ("A", "B", 1, True, 0.0),           # wrong answers earn nothing, whatever the weight
    ("A", "A", None, True, 0.3),        # no strength: the seed's last branch
    ("A", "A", 2.0, True, 1.0),         # a float column holding 2
])
def test_pairwise_reward(predicted, preferred, strength, weighted, expected):
    assert pairwise_reward(predicted, preferred, strength, weighted=weighted) == pytest.approx(expected)


def test_strength_weight_is_the_seeds_formula():
    """``weight = 1.0 if strength == 2 else (0.7 if strength == 1 else 0.3)`` for every strength the seed
    can hold (0, 1, 2, missing); any other value is an error instead of the seed's silent 0.3."""
    def seed(strength):
        return 1.0 if strength == 2 else (0.7 if strength == 1 else 0.3)

    for strength in (0, 1, 2, None):
        assert strength_weight(strength) == seed(strength)
    for bad in (3, -1, 1.5, "2", True, float("nan")):
        with pytest.raises(ValueError, match="0, 1 or 2"):
            strength_weight(bad)
        with pytest.raises(ValueError, match="0, 1 or 2"):              # wrong answers too: the label is bad
            pairwise_reward("B", "A", bad, weighted=True)


def test_par_constant_hand_computed():
    # s_c = [8, 6, 4] (mean 6), s_r = [5, 7, 3] (mean 5)
    r_c, r_r = par_rewards([8, 6, 4], [5, 7, 3], mode="constant")
    assert r_c == pytest.approx([1.3, 1.3, 0.0])     # 8 > 5, 6 > 5, 4 < 5
    assert r_r == pytest.approx([1.3, 0.0, 1.3])     # 5 < 6, 7 > 6, 3 < 6


def test_par_graded_hand_computed():
    # s_c = [9, 6, 4] (mean 19/3), s_r = [5, 7, 3] (mean 5)
    r_c, r_r = par_rewards([9, 6, 4], [5, 7, 3], mode="graded")
    # chosen gaps vs mean_r=5: 4 (>2 -> 1.4), 1 (-> 1.2), -1 (-> 0)
    assert r_c == pytest.approx([1.4, 1.2, 0.0])
    # rejected gaps mean_c - s: 19/3-5=1.33 (1.2), 19/3-7<0 (0), 19/3-3=3.33 (1.4)
    assert r_r == pytest.approx([1.2, 0.0, 1.4])


def test_par_graded_boundary_at_two():
    assert par_factor(2.0, "graded") == 1.2
    assert par_factor(2.0001, "graded") == 1.4
    assert par_factor(0.5, "constant") == 1.3
    with pytest.raises(ValueError):
        par_factor(0.0, "graded")


def test_par_alpha_sets_only_the_constant_factor():
    assert par_factor(0.5, "constant", alpha=2.0) == 2.0
    assert par_rewards([8], [5], mode="constant", alpha=2.0) == ([2.0], [2.0])
    # given with the graded factor it would change nothing: an error, even when no gap is positive
    with pytest.raises(ValueError, match="alpha=2.0 sets the constant PAR factor"):
        par_factor(3.0, "graded", alpha=2.0)
    with pytest.raises(ValueError, match="alpha"):
        par_rewards([4], [5], mode="graded", alpha=2.0)


def test_par_unreadable_rollouts():
    r_c, r_r = par_rewards([8, None], [5, 7], mode="constant")  # mean_r 6; None gets 0 and is left out
    assert r_c == [1.3, 0.0]
    assert r_r == [1.3, 1.3]                                     # mean_c = 8
    assert par_rewards([None], [5]) == ([0.0], [0.0])


@pytest.mark.parametrize(("text", "expected"), [
    (GOOD.format(s=7), 0.0),
    ("<answer>7</answer>", -1.5),                                            # other tags missing
    ("<eval>e</eval><think>t</think><generate_rubrics>r</generate_rubrics><answer>7</answer>", -1.5),  # order
    ("no tags at all", -1.5),
    (GOOD.format(s="eleven"), -1.0),                                         # tags fine, score invalid
    (GOOD.format(s=42), -1.0),                                               # out of the 0-10 scale
    ("<answer>eleven</answer>", -1.5),                                       # invalid score but tags missing
    # the final <answer> is the judge's score: an earlier valid one never stands in for it (PaTaRM: -1.0)
    (GOOD.format(s=7) + " <answer>11</answer>", -1.0),
    (GOOD.format(s=7) + " <answer>not sure</answer>", -1.0),
    (GOOD.format(s=7) + " <answer>8", -1.5),                                 # the final answer tag is not closed
    (GOOD.format(s=11) + " <answer>7</answer>", 0.0),                        # a corrected final score is valid
])
def test_format_penalty(text, expected):
    assert format_penalty(text, parse_rubric_score(text)) == expected


@pytest.mark.parametrize(("p_verdict", "p_reason", "expected"), [
    (0.9, 0.5, (2 * 0.9 - 1) * 0.5),   # 0.4
    (0.5, 0.5, 0.0),                   # equal: first branch, (2*0.5-1)*0.5
    (0.3, 0.6, -0.6),                  # P(A|U,R) < P(R|U): -P(R|U)
    (0.2, 0.1, (0.4 - 1) * 0.1),       # first branch can be negative: -0.06
])
def test_reason_score_branches(p_verdict, p_reason, expected):
    assert reason_score(p_verdict, p_reason) == pytest.approx(expected)


def test_reason_score_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probability"):
        reason_score(1.2, 0.5)


def test_symmetric_win_probability_hand_computed():
    assert symmetric_win_probability(0.8, 0.4) == pytest.approx(0.7)   # (0.8 + 0.6) / 2
    assert symmetric_win_probability(0.9, 0.9) == pytest.approx(0.5)   # pure position bias cancels


def test_correct_rate_band():
    assert correct_rate_in_band([True] + [False] * 7)            # 1/8
    assert correct_rate_in_band([True] * 6 + [False] * 2)        # 6/8
    assert not correct_rate_in_band([True] * 7 + [False])        # 7/8: too easy
    assert not correct_rate_in_band([False] * 8)                 # 0/8: too hard
    assert not correct_rate_in_band([])
