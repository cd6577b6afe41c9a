"""The reward formulas, as small pure functions of already-parsed judge output and labels.

Nothing here parses text or imports torch: adapters (:mod:`~rm_gallery.training.trl`,
:mod:`~rm_gallery.training.verl`, :mod:`~rm_gallery.training.par`) run a grader's own parser and hand the
result to these functions. Each formula follows the method it is named after:

* :func:`pairwise_reward` — RM-Gallery's generative pairwise GRPO: 1 if the parsed preference equals the
  label, else 0 (unreadable = 0), optionally weighted by preference strength 2/1/other -> 1.0/0.7/0.3.
* :func:`par_rewards` and :func:`format_penalty` — PaTaRM's preference-aware reward and format reward.
* :func:`reason_score` — ReasonGenRM's R_score for ranking reasoning chains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from rm_gallery.graders.rubric import RubricJudgment, tags_in_order
from rm_gallery.types import ParseFailure

#: Reward weight per preference strength (2 = strong, 1 = moderate, 0 = tie / slight).
STRENGTH_WEIGHTS: dict[int, float] = {2: 1.0, 1: 0.7, 0: 0.3}
#: The weight of a label that gives no strength: the seed's last branch, 0.3.
MISSING_STRENGTH_WEIGHT = 0.3
#: PaTaRM format penalties: tags missing or out of order; score unreadable or out of range.
MISSING_TAGS_PENALTY = -1.5
INVALID_SCORE_PENALTY = -1.0
#: PaTaRM's constant PAR factor and its graded factors for 0 < delta <= 2 and delta > 2.
PAR_ALPHA = 1.3
PAR_GRADED = (1.2, 1.4)

ParMode = Literal["constant", "graded"]


def strength_weight(strength: int | None) -> float:
    """The reward weight of a preference strength, as RM-Gallery's "Weighted Preferences" writes it:
    ``weight = 1.0 if strength == 2 else (0.7 if strength == 1 else 0.3)``.

    A label without a strength (None) takes the seed's last branch, 0.3. A strength other than 0, 1 or 2 is
    an error here, where the seed would weigh it 0.3 without a word.
    """
    if strength is None:
        return MISSING_STRENGTH_WEIGHT
    if isinstance(strength, bool) or strength not in STRENGTH_WEIGHTS:
        raise ValueError(f"preference_strength must be 0, 1 or 2 (or missing), got {strength!r}")
    return STRENGTH_WEIGHTS[strength]


def pairwise_reward(predicted: str | None, preferred: str, strength: int | None = None, *,
                    weighted: bool = False) -> float:
    """1.0 when ``predicted`` equals the label ``preferred`` (A/B/tie), else 0.0; None (unreadable) is 0.0.

    With ``weighted=True`` a correct answer earns :func:`strength_weight` of the label's strength (0.3
    when the label gives none), as the seed's ``base_reward * weight``.
    """
    weight = strength_weight(strength) if weighted else 1.0  # a bad strength is an error, right or wrong
    if predicted is None or predicted != preferred:
        return 0.0
    return weight


def par_factor(delta: float, mode: ParMode = "constant", alpha: float | None = None) -> float:
    """PaTaRM's f(delta): ``alpha`` (default 1.3) when constant; graded 1.2 for 0 < delta <= 2 and 1.4 for delta > 2.

    The graded factor is only defined for delta > 0, which is exactly when PAR's indicator is 1. ``alpha`` only
    applies to the constant factor: given with ``mode="graded"`` it is an error, not silently ignored.
    """
    if mode == "constant":
        return PAR_ALPHA if alpha is None else alpha
    if mode != "graded":
        raise ValueError(f"PAR mode must be 'constant' or 'graded', got {mode!r}")
    if alpha is not None:
        raise ValueError(f"alpha={alpha} sets the constant PAR factor; the graded one is {PAR_GRADED} by delta")
    if delta <= 0:
        raise ValueError(f"graded f(delta) needs delta > 0, got {delta}")
    return PAR_GRADED[0] if delta <= 2 else PAR_GRADED[1]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def par_rewards(chosen_scores: Sequence[float | None], rejected_scores: Sequence[float | None], *,
                mode: ParMode = "constant", alpha: float | None = None) -> tuple[list[float], list[float]]:
    """PaTaRM's preference-aware reward for n judgment rollouts on the chosen and on the rejected response.

    R(y_c,i) = 1[s_c,i > mean(s_r)] * f(delta_i) with delta_i = s_c,i - mean(s_r), and
    R(y_r,j) = 1[s_r,j < mean(s_c)] * f(delta_j) with delta_j = mean(s_c) - s_r,j: delta is the score gap
    that the indicator tests, so f only ever sees positive gaps. A rollout whose score could not be read
    (None) gets 0 here (its format penalty comes from :func:`format_penalty`) and is left out of the means;
    if one side has no readable score at all, every PAR reward of the pair is 0.
    """
    par_factor(1.0, mode, alpha)  # a bad mode or an alpha the mode does not use fails even when no gap is positive
    sc = [s for s in chosen_scores if s is not None]
    sr = [s for s in rejected_scores if s is not None]
    if not sc or not sr:
        return [0.0] * len(chosen_scores), [0.0] * len(rejected_scores)
    mean_c, mean_r = _mean(sc), _mean(sr)

    def reward(gap: float | None) -> float:
        return par_factor(gap, mode, alpha) if gap is not None and gap > 0 else 0.0

    r_c = [reward(None if s is None else s - mean_r) for s in chosen_scores]
    r_r = [reward(None if s is None else mean_c - s) for s in rejected_scores]
    return r_c, r_r


def format_penalty(text: str, parsed: RubricJudgment | ParseFailure) -> float:
    """PaTaRM's format reward from the rubric parser's result: -1.5, -1.0 or 0.

    The seed: tags in order but the final ``<answer>`` not a valid score -> -1.0; missing or out-of-order
    tags -> -1.5. So -1.5 when the ``<think>``/``<generate_rubrics>``/``<eval>``/``<answer>`` tags are
    missing, unclosed or out of order (parser codes ``missing_tag``/``unclosed_tag``, or ``format_ok``
    false); -1.0 when the tags hold but the judge's final answer is not a valid score (code
    ``invalid_score``; an earlier valid answer does not count); 0 otherwise.
    """
    if isinstance(parsed, ParseFailure):
        if parsed.code == "invalid_score" and isinstance(text, str) and tags_in_order(text):
            return INVALID_SCORE_PENALTY
        return MISSING_TAGS_PENALTY
    return 0.0 if parsed.format_ok else MISSING_TAGS_PENALTY


def reason_score(p_verdict: float, p_reason: float) -> float:
    """ReasonGenRM's R_score = (2 P(A|U,R) - 1) * P(R|U) if P(A|U,R) >= P(R|U), else -P(R|U).

    ``p_verdict`` is P(correct verdict | user, reason), ``p_reason`` is P(reason | user), both in [0, 1].
    """
    for name, p in (("p_verdict", p_verdict), ("p_reason", p_reason)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    if p_verdict >= p_reason:
        return (2.0 * p_verdict - 1.0) * p_reason
    return -p_reason


def correct_rate_in_band(correct: Sequence[bool], low: float = 1 / 8, high: float = 6 / 8) -> bool:
    """PaTaRM's RL data filter: keep a pair whose share of correct judgments lies in [low, high]."""
    if not correct:
        return False
    rate = sum(bool(c) for c in correct) / len(correct)
    return low <= rate <= high
