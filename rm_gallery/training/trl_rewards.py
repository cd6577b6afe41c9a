"""TRL GRPO reward functions built from a grader: its parser reads each completion, a pure reward scores it.

TRL calls ``f(prompts=..., completions=..., completion_ids=..., **dataset_columns, trainer_state=...,
log_extra=..., log_metric=...)`` and wants one float (or None = not applicable) per completion. Columns
come from :func:`rm_gallery.training.data.grpo_rows` (``preferred``, ``preference_strength``). When TRL
passes ``log_extra``/``log_metric``, the verdict and format status of every completion are logged too.
No torch or trl import happens here: these are plain callables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rm_gallery.training.judgments import Judgment, completion_text, grader_parser, read_judgment
from rm_gallery.training.rewards import pairwise_reward


def _column(kwargs: dict[str, Any], name: str, n: int, *, required: bool) -> list[Any]:
    values = kwargs.get(name)
    if values is None:
        if required:
            raise KeyError(f"reward needs the dataset column {name!r} (build rows with "
                           "rm_gallery.training.data.grpo_rows, or pass label_column=...)")
        return [None] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return list(values)


def log_judgments(judgments: Sequence[Judgment], rewards: Sequence[float | None], kwargs: dict[str, Any],
                  prefix: str = "judge") -> None:
    """Log verdicts and format status through TRL's ``log_extra``/``log_metric`` when TRL provides them."""
    log_extra: Callable[[str, list[Any]], None] | None = kwargs.get("log_extra")
    log_metric: Callable[[str, float], None] | None = kwargs.get("log_metric")
    if log_extra is not None:
        log_extra(f"{prefix}_verdict", [j.predicted for j in judgments])
        log_extra(f"{prefix}_format_ok", [j.format_ok for j in judgments])
    if log_metric is not None and judgments:
        n = len(judgments)
        log_metric(f"{prefix}/format_ok", sum(j.format_ok for j in judgments) / n)
        log_metric(f"{prefix}/unknown", sum(j.predicted == "unknown" for j in judgments) / n)
        scored = [r for r in rewards if r is not None]
        if scored:
            log_metric(f"{prefix}/reward", sum(scored) / len(scored))


class PairwiseReward:
    """RM-Gallery's pairwise GRPO reward for TRL: 1 if the grader's parser reads the labelled winner, else 0.

    ``weighted=True`` scales a correct answer by the label's strength (2/1/0 -> 1.0/0.7/0.3; none -> 0.3). Rows whose
    label is missing get None (TRL leaves them out).
    """

    def __init__(self, grader: Any, *, weighted: bool = False, label_column: str = "preferred",
                 strength_column: str = "preference_strength", name: str | None = None) -> None:
        grader_parser(grader)  # fail now, not at the first training step
        self.grader = grader
        self.weighted = weighted
        self.label_column = label_column
        self.strength_column = strength_column
        self.__name__ = name or f"{getattr(grader, 'name', 'grader')}_reward"
        #: Number of completions scored so far (tests and progress checks read it).
        self.calls = 0

    def score(self, completions: Sequence[Any], **kwargs: Any) -> tuple[list[float | None], list[Judgment]]:
        """Rewards and judgments for a batch (no logging)."""
        n = len(completions)
        labels = _column(kwargs, self.label_column, n, required=True)
        strengths = _column(kwargs, self.strength_column, n, required=False)
        judgments = [read_judgment(self.grader, completion_text(c)) for c in completions]
        rewards: list[float | None] = []
        for j, label, strength in zip(judgments, labels, strengths, strict=True):
            if label is None:
                rewards.append(None)
                continue
            predicted = None if j.predicted == "unknown" else j.predicted
            rewards.append(pairwise_reward(predicted, label, strength, weighted=self.weighted))
        self.calls += n
        return rewards, judgments

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 **kwargs: Any) -> list[float | None]:
        rewards, judgments = self.score(completions, **kwargs)
        log_judgments(judgments, rewards, kwargs, prefix=self.__name__)
        return rewards


class AsyncPairwiseReward(PairwiseReward):
    """The same reward as an ``async`` callable, so TRL runs it concurrently with other async rewards."""

    async def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),  # type: ignore[override]
                       **kwargs: Any) -> list[float | None]:
        return PairwiseReward.__call__(self, prompts, completions, **kwargs)


def pairwise_trl_reward(grader: Any, *, weighted: bool = False, asynchronous: bool = False,
                        **kwargs: Any) -> PairwiseReward:
    """A TRL reward function for any grader with a verdict parser (pairwise, reasoning, rubric_pairwise...)."""
    cls = AsyncPairwiseReward if asynchronous else PairwiseReward
    return cls(grader, weighted=weighted, **kwargs)
