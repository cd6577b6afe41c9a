"""verl reward functions: per-sample ``compute_score`` and the batch variant, both using a grader's parser.

Point verl at this file (``reward.custom_reward_function.path``) with ``name: compute_score`` for the
per-sample reward managers (``naive``, ``dapo``; the default) or ``name: compute_score_batch`` with the
legacy ``batch`` reward manager. ``reward_kwargs`` reach the functions as keyword arguments:
``grader`` (registered name, default ``pairwise``) and ``weighted`` (strength weighting).

The label comes where RM-Gallery's "Generative Training (Pairwise)" puts it, or where our own rows do
(see :func:`read_label`). verl reads the dict keys of the *first* sample and then expects them on every
sample, so every return — including unreadable completions and bad labels — carries exactly
:data:`SCORE_KEYS`; a label problem is reported in ``error`` (empty when there is none).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rm_gallery.training.judgments import Judgment, read_judgment
from rm_gallery.training.rewards import STRENGTH_WEIGHTS, pairwise_reward

log = logging.getLogger(__name__)

#: Keys of every dict :func:`compute_score` returns.
SCORE_KEYS = ("score", "acc", "format_ok", "predicted", "preferred", "strength", "error")
_PREFERRED = {"a": "A", "b": "B", "tie": "tie"}
_warned: set[str] = set()


@lru_cache(maxsize=32)
def training_grader(name: str = "pairwise") -> Any:
    """A registered grader built without a model: training needs only its template and parser."""
    from rm_gallery.graders.registry import create_grader

    return create_grader(name, model=None)


@dataclass(frozen=True)
class RowLabel:
    """A row's label as :func:`read_label` found it.

    ``preferred`` is "A", "B" or "tie" (None when ``error`` is set); ``strength`` is 0, 1, 2 or None when
    the row gives none (weighted rewards then weigh it 0.3, the seed's rule); ``error`` is "" or
    ``"<kind>: <what and where>"`` with kind ``missing_label``, ``invalid_label``, ``invalid_strength``,
    ``label_conflict`` or ``invalid_metadata``.
    """

    preferred: str | None
    strength: int | None
    error: str = ""


def _metadata(extra_info: Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, str]:
    """``extra_info["metadata"]``, a dict or a JSON string as in the seed's rows; (None, "") when absent."""
    meta = extra_info.get("metadata") if isinstance(extra_info, Mapping) else None
    if isinstance(meta, str):
        if not meta.strip():
            return None, ""
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError as e:
            return None, f"invalid_metadata: extra_info['metadata'] is not JSON ({e.msg} at {e.pos})"
    if meta is None:
        return None, ""
    if not isinstance(meta, Mapping):
        return None, f"invalid_metadata: extra_info['metadata'] must be a dict or a JSON object, got {meta!r:.60}"
    return meta, ""


def _ground_truth(ground_truth: Any) -> Mapping[str, Any] | str | None:
    if isinstance(ground_truth, str) and ground_truth.strip().startswith("{"):
        try:
            return json.loads(ground_truth)
        except json.JSONDecodeError:
            return ground_truth
    return ground_truth


def _agree(field: str, found: list[tuple[str, Any]]) -> tuple[Any, str]:
    """The one value the sources give for ``field``; an error when two of them disagree."""
    values = {json.dumps(v, sort_keys=True, default=str) for _, v in found}
    if len(values) > 1:
        where = ", ".join(f"{src}={v!r}" for src, v in found)
        return None, f"label_conflict: the row gives two different {field}s ({where})"
    return (found[0][1] if found else None), ""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def read_label(ground_truth: Any, extra_info: Mapping[str, Any] | None = None) -> RowLabel:
    """(preferred, strength) of one verl row, from every place a label is written.

    * ``extra_info["metadata"]`` — a dict or a JSON string with ``preferred`` and ``preference_strength``;
      the seed's reward function reads it: ``metadata = extra_info.get("metadata", {})`` ...
      ``true_preference = metadata.get("preferred", "tie")``.
    * ``ground_truth`` (``reward_model.ground_truth``) — "A"/"B"/"tie", or a dict / JSON string with both keys.
    * ``extra_info["preference_strength"]`` — where our own rows (:func:`~rm_gallery.training.data.verl_rows`)
      keep the strength.

    Sources that give a value must agree. Unlike the seed, a row with no label is an error, never a
    silent "tie"; a missing strength is allowed (the seed's weight 0.3), a strength other than 0, 1 or 2 is
    an error.
    """
    meta, error = _metadata(extra_info)
    if error:
        return RowLabel(None, None, error)
    gt = _ground_truth(ground_truth)
    preferred: list[tuple[str, Any]] = []
    strength: list[tuple[str, Any]] = []
    if meta is not None and not _missing(meta.get("preferred")):
        preferred.append(("extra_info.metadata.preferred", meta["preferred"]))
    if meta is not None and not _missing(meta.get("preference_strength")):
        strength.append(("extra_info.metadata.preference_strength", meta["preference_strength"]))
    if isinstance(gt, Mapping):
        if not _missing(gt.get("preferred")):
            preferred.append(("ground_truth.preferred", gt["preferred"]))
        if not _missing(gt.get("preference_strength")):
            strength.append(("ground_truth.preference_strength", gt["preference_strength"]))
    elif not _missing(gt) and not (isinstance(gt, str) and not gt.strip()):
        preferred.append(("ground_truth", gt))
    if isinstance(extra_info, Mapping) and not _missing(extra_info.get("preference_strength")):
        strength.append(("extra_info.preference_strength", extra_info["preference_strength"]))
    normalised = [(src, _PREFERRED.get(v.strip().lower(), v) if isinstance(v, str) else v) for src, v in preferred]
    label, error = _agree("label", normalised)
    if error:
        return RowLabel(None, None, error)
    if label is None:
        return RowLabel(None, None, "missing_label: no preference in ground_truth or extra_info['metadata']"
                                    "['preferred'] (expected A, B or tie)")
    if label not in ("A", "B", "tie"):
        return RowLabel(None, None, f"invalid_label: {normalised[0][0]} is {preferred[0][1]!r}, "
                                    "expected A, B or tie")
    numbers = []
    for src, v in strength:
        if isinstance(v, str) and v.strip().lstrip("-").isdigit():
            v = int(v)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or v not in STRENGTH_WEIGHTS:
            return RowLabel(None, None, f"invalid_strength: {src} is {v!r}, expected 0, 1 or 2")
        numbers.append((src, v))
    value, error = _agree("strength", numbers)
    if error:
        return RowLabel(None, None, error)
    return RowLabel(label, value)


def score_completion(solution_str: Any, ground_truth: Any, extra_info: Mapping[str, Any] | None = None, *,
                     grader: str = "pairwise", weighted: bool = False) -> tuple[Judgment, RowLabel, float]:
    """(judgment, label, reward) for one completion: the grader's parser against the row's label.

    Shared by verl's ``compute_score`` and RM-Gallery's, which differ only in the keys they report. A row
    whose label has an error scores 0.0 (verl needs a number) and says why in ``label.error``; it is logged
    once per kind of error. Under GRPO every rollout of that prompt shares the error, so the group's
    advantages are zero and the row pushes the judge nowhere.
    """
    judgment = read_judgment(training_grader(grader), solution_str if isinstance(solution_str, str) else "")
    label = read_label(ground_truth, extra_info)
    if label.error:
        kind = label.error.split(":", 1)[0]
        if kind not in _warned:
            _warned.add(kind)
            log.warning("verl reward: %s (reported in the 'error' key of every such sample; score 0.0)",
                        label.error)
        return judgment, label, 0.0
    assert label.preferred is not None
    predicted = None if judgment.predicted == "unknown" else judgment.predicted
    return judgment, label, pairwise_reward(predicted, label.preferred, label.strength, weighted=weighted)


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  *, grader: str = "pairwise", weighted: bool = False, **kwargs: Any) -> dict[str, Any]:
    """verl's per-sample reward: ``score`` = pairwise reward of the parsed verdict against the label.

    A label that cannot be read gives ``score`` 0.0, ``acc`` None, ``preferred`` "invalid" and the reason in
    ``error`` (same keys as always; verl's metrics skip None and string values).
    """
    judgment, label, score = score_completion(solution_str, ground_truth, extra_info, grader=grader,
                                              weighted=weighted)
    return {
        "score": score,
        "acc": None if label.error else float(judgment.predicted == label.preferred),
        "format_ok": float(judgment.format_ok),
        "predicted": judgment.predicted,
        "preferred": label.preferred or "invalid",
        "strength": -1 if label.strength is None else label.strength,
        "error": label.error,
    }


def compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                        extra_infos: Sequence[Mapping[str, Any] | None] | None = None, **kwargs: Any
                        ) -> list[dict[str, Any]]:
    """The batch variant for verl's legacy ``batch`` reward manager: one :func:`compute_score` per sample."""
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solution_strs)
    return [compute_score(ds, s, gt, info, **kwargs)
            for ds, s, gt, info in zip(data_sources, solution_strs, ground_truths, infos, strict=True)]
