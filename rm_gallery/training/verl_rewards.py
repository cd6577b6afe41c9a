"""verl reward functions: per-sample ``compute_score`` and the batch variant, both using a grader's parser.

Point verl at this file (``reward.custom_reward_function.path``) with ``name: compute_score`` for the
per-sample reward managers (``naive``, ``dapo``; the default) or ``name: compute_score_batch`` with the
legacy ``batch`` reward manager. ``reward_kwargs`` reach the functions as keyword arguments:
``grader`` (registered name, default ``pairwise``) and ``weighted`` (strength weighting).

verl reads the dict keys of the *first* sample and then expects them on every sample, so every return
— including unreadable completions and bad labels — carries exactly :data:`SCORE_KEYS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from rm_gallery.training.judgments import read_judgment
from rm_gallery.training.rewards import pairwise_reward

#: Keys of every dict :func:`compute_score` returns.
SCORE_KEYS = ("score", "acc", "format_ok", "predicted", "preferred", "strength")


@lru_cache(maxsize=32)
def training_grader(name: str = "pairwise") -> Any:
    """A registered grader built without a model: training needs only its template and parser."""
    from rm_gallery.graders.registry import create_grader

    return create_grader(name, model=None)


def parse_ground_truth(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> tuple[str | None, int | None]:
    """(preferred, strength) from verl's ground truth: "A"/"B"/"tie", or a dict / JSON string with both.

    A strength in ``extra_info["preference_strength"]`` is used when the ground truth carries none.
    """
    preferred: Any = ground_truth
    strength: Any = None
    if isinstance(ground_truth, str) and ground_truth.strip().startswith("{"):
        try:
            preferred = json.loads(ground_truth)
        except json.JSONDecodeError:
            preferred = None
    if isinstance(preferred, Mapping):
        strength = preferred.get("preference_strength")
        preferred = preferred.get("preferred")
    if strength is None and extra_info:
        strength = extra_info.get("preference_strength")
    if isinstance(preferred, str):
        preferred = {"a": "A", "b": "B", "tie": "tie"}.get(preferred.strip().lower())
    else:
        preferred = None
    try:
        strength = None if strength is None else int(strength)
    except (TypeError, ValueError):
        strength = None
    return preferred, strength if strength in (0, 1, 2) else None



def score_completion(solution_str: Any, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, *,
                     grader: str = "pairwise", weighted: bool = False) -> tuple[Any, str | None, int | None, float]:
    """(judgment, preferred, strength, reward) for one completion: the grader's parser against the label.

    Shared by verl's ``compute_score`` and RM-Gallery's, which differ only in the keys they report.
    """
    judgment = read_judgment(training_grader(grader), solution_str if isinstance(solution_str, str) else "")
    preferred, strength = parse_ground_truth(ground_truth, extra_info)
    predicted = None if judgment.predicted == "unknown" else judgment.predicted
    score = 0.0 if preferred is None else pairwise_reward(predicted, preferred, strength, weighted=weighted)
    return judgment, preferred, strength, score


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  *, grader: str = "pairwise", weighted: bool = False, **kwargs: Any) -> dict[str, Any]:
    """verl's per-sample reward: ``score`` = pairwise reward of the parsed verdict against the label.

    A label that cannot be read gives ``score`` 0.0 and ``preferred`` "invalid" (same keys as always).
    """
    judgment, preferred, strength, score = score_completion(solution_str, ground_truth, extra_info, grader=grader,
                                                           weighted=weighted)
    return {
        "score": score,
        "acc": float(preferred is not None and judgment.predicted == preferred),
        "format_ok": float(judgment.format_ok),
        "predicted": judgment.predicted,
        "preferred": preferred or "invalid",
        "strength": -1 if strength is None else strength,
    }


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, **kwargs: Any
                        ) -> list[dict[str, Any]]:
    """The batch variant for verl's legacy ``batch`` reward manager: one :func:`compute_score` per sample."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    return [compute_score(ds, s, gt, info, **kwargs)
            for ds, s, gt, info in zip(data_sources, solution_strs, ground_truths, infos, strict=True)]
