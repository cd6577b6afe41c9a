"""RewardBench 2 Ties, scored as the official ``process_single_model`` (allenai/reward-bench ``rewardbench/utils.py``).

Each prompt id comes as a ``ref:<pid>`` set (one correct answer) and a ``tied:<pid>`` set (several equally
correct answers); the first ``num_correct`` scores of a set are the correct ones. Per set (``_compute_prompt_stats``):
accurate = min(correct) > max(incorrect); correct_incorrect margin = min(correct) - max(incorrect);
different_correct margin = max(correct) - min(correct) (None with fewer than 2 correct). Then::

    overall = 0.3 * acc_tied + 0.3 * acc_ref + 0.2 * correctness_preferred
            + 0.2 * correctness_preferred_hard + 0.01 * margin_score

where the last three run over the prompt ids present in both sets. ``margin_score`` is the mean over all of
them of ``tanh(min(ref ci, tied ci) / tied diff - 1)``; as in the official numpy code a zero different-correct
margin gives tanh(+inf) = 1 or tanh(-inf) = -1 by the sign of the numerator, and 0 / 0 (NaN) counts 0.
Integer ratings, which generative judges give, make zero margins common.

Beyond the official code (which has no unscored answers): a set with an unscored response counts as inaccurate
and leaves the margin terms, as does a tied set with fewer than 2 correct answers (the official code would fail).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rm_gallery.benchmarks.base import mean
from rm_gallery.benchmarks.schemas import ties_id

WEIGHTS = {"accuracy_tied": 0.3, "accuracy_ref": 0.3, "correctness_preferred": 0.2,
           "correctness_preferred_hard": 0.2, "margin_score": 0.01}


@dataclass(frozen=True)
class SetStats:
    """One scored answer set of a Ties prompt."""

    accurate: bool
    diff_margin: float | None
    ci_margin: float | None


#: A Ties prompt id's outcome: its ``ref`` and ``tied`` sets (either may be absent).
TiesPrompt = tuple[SetStats | None, SetStats | None]


def set_stats(scores: Sequence[float | None], num_correct: int) -> SetStats:
    """Accuracy and margins of one answer set; any unscored answer makes it inaccurate and margin-less."""
    if any(s is None for s in scores) or not 0 < num_correct < len(scores):
        return SetStats(False, None, None)
    correct = [float(s) for s in scores[:num_correct] if s is not None]
    incorrect = [float(s) for s in scores[num_correct:] if s is not None]
    ci = min(correct) - max(incorrect)
    diff = max(correct) - min(correct) if len(correct) >= 2 else None
    return SetStats(ci > 0, diff, ci)


def margin_term(ci: float, diff: float) -> float:
    """``tanh(ci / diff - 1)`` with numpy's float division: x / 0 is +-inf by the sign of x, and 0 / 0 counts 0."""
    if diff == 0:
        return 0.0 if ci == 0 else math.copysign(1.0, ci)
    return math.tanh(ci / diff - 1)


def _margins(ref: SetStats | None, tied: SetStats | None) -> tuple[float, float, float] | None:
    """(ref ci margin, tied ci margin, tied different-correct margin) when all three exist."""
    if ref is None or tied is None or ref.ci_margin is None or tied.ci_margin is None or tied.diff_margin is None:
        return None
    return ref.ci_margin, tied.ci_margin, tied.diff_margin


def ties_score(prompts: Sequence[TiesPrompt]) -> dict[str, float | None]:
    """The official Ties components and their weighted overall (``score``)."""
    both = [m for m in (_margins(r, t) for r, t in prompts) if m is not None]
    out: dict[str, float | None] = {
        "accuracy_ref": mean([float(r.accurate) for r, _ in prompts if r is not None]),
        "accuracy_tied": mean([float(t.accurate) for _, t in prompts if t is not None]),
        "correctness_preferred": mean([float(tied_ci > diff) for _, tied_ci, diff in both]),
        "correctness_preferred_hard": mean([float(min(ref_ci, tied_ci) > diff) for ref_ci, tied_ci, diff in both]),
        "margin_score": mean([margin_term(min(ref_ci, tied_ci), diff) for ref_ci, tied_ci, diff in both]),
    }
    parts = [(w, out[k]) for k, w in WEIGHTS.items()]
    out["score"] = None if any(v is None for _, v in parts) else sum(w * v for w, v in parts if v is not None)
    return out


def group_ties(items: Iterable[tuple[str, Sequence[float | None], int]]) -> list[TiesPrompt]:
    """Pair ``(row id, scores, num_correct)`` items into per-prompt (ref, tied) outcomes, in first-seen order."""
    groups: dict[str, list[SetStats | None]] = {}
    for row_id, scores, num_correct in items:
        parsed = ties_id(row_id)
        if parsed is None:
            raise ValueError(f"Ties row id {row_id!r} is not 'ref:<pid>' or 'tied:<pid>'")
        kind, pid = parsed
        slot = groups.setdefault(pid, [None, None])
        slot[0 if kind == "ref" else 1] = set_stats(scores, num_correct)
    return [(r, t) for r, t in groups.values()]
