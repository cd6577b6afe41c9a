"""PaTaRM's preference-aware reward (PAR) computed over a batch that holds both halves of each pair.

A pointwise rubric judge is trained from *pairs*: the chosen and the rejected response of a pair are two
prompts (rendered by the rubric grader), each rolled out n times. A rollout's PAR reward needs the other
half's mean score, so the batch must hold both halves: :class:`PairPreservingSampler` orders rows with
chosen and rejected adjacent (pairs shuffled, unmatched rows dropped), and :func:`par_batch` groups the
batch by ``pair_id``. Total reward = PAR + format penalty. :class:`PARReward` is the TRL adapter and
:func:`par_compute_score_batch` the verl batch-manager adapter.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rm_gallery.training.judgments import completion_text, read_judgment
from rm_gallery.training.rewards import (
    ParMode,
    correct_rate_in_band,
    format_penalty,
    par_rewards,
)
from rm_gallery.types import Sample

ROLES = ("chosen", "rejected")


def par_rows(samples: Sequence[Sample], grader: Any, *, data_source: str = "rm_gallery/par") -> list[dict[str, Any]]:
    """Two rows per labelled pair — the rubric grader's prompt for the chosen and for the rejected response.

    Ties and unlabelled samples are skipped (PAR needs a preferred side).
    """
    rows = []
    for sample in samples:
        label = sample.label
        if label is None or label.preferred not in ("A", "B") or len(sample.responses) < 2:
            continue
        chosen = 0 if label.preferred == "A" else 1
        for role, index in (("chosen", chosen), ("rejected", 1 - chosen)):
            rows.append({"prompt": grader.render(sample, index), "pair_id": sample.id, "role": role,
                         "data_source": data_source})
    return rows


class PairPreservingSampler:
    """Yields row indices with each pair's chosen and rejected rows adjacent, pairs shuffled per epoch.

    Rows whose pair is incomplete (an odd leftover) are dropped. Works as a ``torch`` sampler (it has
    ``__iter__``/``__len__``) and, through :meth:`order`, to pre-order a dataset for trainers that take
    rows in order (TRL with ``shuffle_dataset=False``, verl with ``data.shuffle=False``).
    """

    def __init__(self, pair_ids: Sequence[Any], roles: Sequence[str], *, seed: int = 0) -> None:
        groups: dict[Any, dict[str, int]] = defaultdict(dict)
        for i, (pid, role) in enumerate(zip(pair_ids, roles, strict=True)):
            if role not in ROLES:
                raise ValueError(f"row {i}: role must be 'chosen' or 'rejected', got {role!r}")
            groups[pid].setdefault(role, i)
        self.pairs = [(g["chosen"], g["rejected"]) for g in groups.values() if len(g) == 2]
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self, epoch: int | None = None) -> list[int]:
        pairs = list(self.pairs)
        random.Random(self.seed * 1_000_003 + (self.epoch if epoch is None else epoch)).shuffle(pairs)
        return [i for pair in pairs for i in pair]

    def __iter__(self) -> Iterator[int]:
        return iter(self.order())

    def __len__(self) -> int:
        return 2 * len(self.pairs)


def par_batch(texts: Sequence[str], pair_ids: Sequence[Any], roles: Sequence[str], grader: Any, *,
              mode: ParMode = "constant", alpha: float | None = None) -> list[dict[str, Any]]:
    """PAR + format reward for every completion of a batch, grouped by ``pair_id``.

    Each result: ``score`` (total), ``par``, ``format`` (penalty), ``judge_score`` (-1 if unreadable),
    ``paired`` (0.0 when the pair's other half is missing from the batch, in which case ``score`` is the
    format penalty alone).
    """
    n = len(texts)
    if not n == len(pair_ids) == len(roles):
        raise ValueError("texts, pair_ids and roles must have the same length")
    judgments = [read_judgment(grader, t) for t in texts]
    penalties = [format_penalty(t, j.parsed) for t, j in zip(texts, judgments, strict=True)]
    par = [0.0] * n
    paired = [0.0] * n
    by_pair: dict[Any, dict[str, list[int]]] = defaultdict(lambda: {"chosen": [], "rejected": []})
    for i, (pid, role) in enumerate(zip(pair_ids, roles, strict=True)):
        if role not in ROLES:
            raise ValueError(f"completion {i}: role must be 'chosen' or 'rejected', got {role!r}")
        by_pair[pid][role].append(i)
    for group in by_pair.values():
        c_idx, r_idx = group["chosen"], group["rejected"]
        if not c_idx or not r_idx:
            continue
        r_c, r_r = par_rewards([judgments[i].score for i in c_idx], [judgments[i].score for i in r_idx],
                               mode=mode, alpha=alpha)
        for i, r in zip(c_idx + r_idx, r_c + r_r, strict=True):
            par[i], paired[i] = r, 1.0
    return [{"score": par[i] + penalties[i], "par": par[i], "format": penalties[i],
             "judge_score": -1.0 if judgments[i].score is None else judgments[i].score, "paired": paired[i]}
            for i in range(n)]


class PARReward:
    """TRL reward: PaTaRM's PAR + format penalty, using the ``pair_id`` and ``role`` dataset columns.

    Train with rows from :func:`par_rows`, ordered by :class:`PairPreservingSampler`,
    ``shuffle_dataset=False`` and a ``generation_batch_size`` that is a multiple of 2 x num_generations,
    so both halves of every pair are generated in the same batch.
    """

    def __init__(self, grader: Any, *, mode: ParMode = "constant", alpha: float | None = None,
                 name: str = "par_reward") -> None:
        self.grader, self.mode, self.alpha = grader, mode, alpha
        self.__name__ = name

    def __call__(self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (),
                 **kwargs: Any) -> list[float | None]:
        for col in ("pair_id", "role"):
            if col not in kwargs:
                raise KeyError(f"PAR needs the dataset column {col!r}; build rows with training.par.par_rows")
        results = par_batch([completion_text(c) for c in completions], kwargs["pair_id"], kwargs["role"],
                            self.grader, mode=self.mode, alpha=self.alpha)
        log_metric = kwargs.get("log_metric")
        if log_metric is not None and results:
            log_metric("par/paired", sum(r["paired"] for r in results) / len(results))
            log_metric("par/format_penalty", sum(r["format"] for r in results) / len(results))
        return [r["score"] for r in results]


def par_compute_score_batch(data_sources: Sequence[str], solution_strs: Sequence[str], ground_truths: Sequence[Any],
                            extra_infos: Sequence[Mapping[str, Any] | None] | None = None, *,
                            grader: str = "rubric", mode: ParMode = "constant", alpha: float | None = None,
                            **kwargs: Any) -> list[dict[str, Any]]:
    """verl batch-manager adapter: ``extra_info`` carries ``pair_id`` and ``role`` (see :func:`par_rows`)."""
    from rm_gallery.training.verl_rewards import training_grader

    infos = [dict(i or {}) for i in (extra_infos if extra_infos is not None else [None] * len(solution_strs))]
    missing = [k for k in ("pair_id", "role") if infos and k not in infos[0]]
    if missing:
        raise KeyError(f"PAR needs extra_info[{missing[0]!r}] on every row; build rows with par_rows")
    return par_batch(list(solution_strs), [i["pair_id"] for i in infos], [i["role"] for i in infos],
                     training_grader(grader), mode=mode, alpha=alpha)


# -- PaTaRM's data filters -----------------------------------------------------------------------------


def filter_rl_pairs(pairs: Sequence[Any], correct: Sequence[Sequence[bool]], *, low: float = 1 / 8,
                    high: float = 6 / 8) -> list[Any]:
    """Keep pairs whose correct-judgment rate over their rollouts (8 in PaTaRM) lies in [low, high]."""
    if len(pairs) != len(correct):
        raise ValueError("pairs and correct must have the same length")
    return [p for p, c in zip(pairs, correct, strict=True) if correct_rate_in_band(c, low, high)]


def filter_sft_pairs(pairs: Sequence[Any], chosen_scores: Sequence[float], rejected_scores: Sequence[float], *,
                     min_gap: float = 2.0) -> list[Any]:
    """Keep pointwise SFT pairs whose chosen - rejected score gap exceeds ``min_gap`` (2 in PaTaRM)."""
    if not len(pairs) == len(chosen_scores) == len(rejected_scores):
        raise ValueError("pairs, chosen_scores and rejected_scores must have the same length")
    return [p for p, c, r in zip(pairs, chosen_scores, rejected_scores, strict=True) if c - r > min_gap]
