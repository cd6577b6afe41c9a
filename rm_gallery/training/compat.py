"""RM-Gallery's documented generative-pairwise training shapes, backed by the grader's template and parser.

``PairwiseRLDataset`` keeps RM-Gallery's hooks (``_build_messages``, ``_apply_chat_template``,
``_extract_ground_truth``, ``_get_data_source``) so existing subclasses keep working; each row it yields is
verl's row format (``prompt`` messages, ``data_source``, ``reward_model.ground_truth``, ``extra_info``).
:func:`compute_score` returns RM-Gallery's documented keys for every sample.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rm_gallery.records import sample_from_record
from rm_gallery.training.verl_rewards import score_completion, training_grader

#: RM-Gallery's documented keys, plus ``error`` on every sample (the seed's reward adds it only when it fails,
#: which breaks verl's rule that every sample has the first sample's keys).
COMPAT_KEYS = ("score", "predicted_preference", "true_preference", "preference_strength", "accuracy", "task_type",
               "data_source", "error")


def _metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.strip() else {}
    return dict(meta)


class PairwiseRLDataset:
    """RM-Gallery pairwise records (``input``/``output``/``metadata``) as verl rows, prompts by the grader.

    ``records`` is a list of dicts or a ``.parquet``/``.jsonl``/``.json`` path; ``tokenizer`` (optional)
    turns messages into the prompt string through its chat template.
    """

    def __init__(self, records: Sequence[Mapping[str, Any]] | str | Path, *, grader: Any | None = None,
                 tokenizer: Any | None = None, data_source: str = "rm_gallery/pairwise") -> None:
        if isinstance(records, (str, Path)):
            from rm_gallery.loaders import iter_records

            records = [r for _, r in iter_records(records)]
        self.records = list(records)
        self.grader = grader or training_grader("pairwise")
        self.tokenizer = tokenizer
        self.data_source = data_source

    def __len__(self) -> int:
        return len(self.records)

    # -- RM-Gallery's hooks ----------------------------------------------------------------------------

    def _build_messages(self, example: Mapping[str, Any]) -> list[dict[str, str]]:
        """The judge prompt for one record, rendered by the grader's own template."""
        return self.grader.render(sample_from_record(example, default_id=str(example.get("id", "row"))))

    def _apply_chat_template(self, messages: list[dict[str, str]]) -> str:
        """The prompt text: the tokenizer's chat template, or a plain role-tagged transcript without one."""
        if self.tokenizer is not None:
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def _extract_ground_truth(self, row_dict: Mapping[str, Any]) -> str:
        """``metadata.preferred`` (metadata may be a JSON string)."""
        preferred = _metadata(row_dict).get("preferred")
        if preferred is None:
            raise KeyError("record has no metadata.preferred; pairwise RL needs a label A, B or tie")
        return str(preferred)

    def _get_data_source(self, row_dict: Mapping[str, Any]) -> str:
        return str(row_dict.get("data_source") or _metadata(row_dict).get("data_source") or self.data_source)

    # -- rows ------------------------------------------------------------------------------------------

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.records[index]
        messages = self._build_messages(row)
        meta = _metadata(row)
        return {
            "prompt": messages,
            "raw_prompt": self._apply_chat_template(messages),
            "data_source": self._get_data_source(row),
            "ability": "preference",
            "reward_model": {"style": "rule", "ground_truth": self._extract_ground_truth(row)},
            # the seed's reward reads the label from extra_info["metadata"]; a JSON string keeps parquet schemas flat
            "extra_info": {"index": index, "preference_strength": meta.get("preference_strength"),
                           "metadata": json.dumps(meta), "task_type": "pairwise"},
        }

    def rows(self) -> list[dict[str, Any]]:
        return [self[i] for i in range(len(self))]


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping[str, Any] | None = None,
                  *, grader: str = "pairwise", weighted: bool = False, **kwargs: Any) -> dict[str, Any]:
    """RM-Gallery's documented pairwise ``compute_score``: 1.0 for the labelled winner, else 0.0 (optionally
    strength-weighted), with ``predicted_preference`` "A"/"B"/"tie"/"unknown" and the same keys every time.

    The label is read as the seed reads it, from ``extra_info["metadata"]`` (a dict or a JSON string), or
    from ``ground_truth`` (see :func:`~rm_gallery.training.verl_rewards.read_label`). Where the seed falls
    back to ``true_preference = "tie"``, a row without a label here gets ``true_preference`` "unknown",
    ``accuracy`` None, ``score`` 0.0 and the reason in ``error``.
    """
    judgment, label, score = score_completion(solution_str, ground_truth, extra_info, grader=grader,
                                              weighted=weighted)
    return {
        "score": score,
        "predicted_preference": judgment.predicted,
        "true_preference": label.preferred or "unknown",
        "preference_strength": -1 if label.strength is None else label.strength,
        "accuracy": None if label.error else float(judgment.predicted == label.preferred),
        "task_type": "pairwise",
        "data_source": str(data_source),
        "error": label.error,
    }
