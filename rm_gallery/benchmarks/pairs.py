"""Your own labelled pairs as a benchmark: accuracy over all pairs, per subset, with the same CIs and reports.

For held-out splits of training data (``rm_gallery.training.splits`` writes them) and any labelled
``{"prompt", "chosen", "rejected"[, "subset"]}`` file. The headline is the plain mean over pairs (every pair
weighs the same, whatever its subset); ``subset/<name>`` are the per-subset accuracies. A pair is scored exactly as
RewardBench v1 scores one (the units and outcomes are RewardBench's): a pairwise judge earns 1 for chosen, 0 for
rejected and the error credit for a tie or an unreadable verdict, averaged over the orders judged; a pointwise
grader wins when chosen scores strictly higher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rm_gallery.benchmarks.base import Layout, mean
from rm_gallery.benchmarks.rewardbench import RewardBenchV1
from rm_gallery.benchmarks.schemas import PairRow, _Row

#: Subset of rows that carry none.
DEFAULT_SUBSET = "pairs"


def labelled_pair_row(origin: str, row: int, record: Any) -> PairRow:
    """A row with ``prompt``, ``chosen`` and ``rejected`` text; ``subset`` is optional here."""
    r = _Row(origin, row, record)
    subset = record.get("subset") if isinstance(record, Mapping) else None
    return PairRow(id=r.ident("id"), subset=r.text("subset") if subset is not None else DEFAULT_SUBSET,
                   prompt=r.text("prompt"), chosen=r.text("chosen"), rejected=r.text("rejected"))


class LabelledPairs(RewardBenchV1):
    """Labelled pairs from a local file: RewardBench's pair scoring, headline = the mean over all pairs."""

    name = "pairs"
    title = "Labelled pairs"
    hub = ("", None)  # local files only
    score_ties = "wrong for scores (chosen must score strictly higher); a tie verdict earns the error credit"

    def parse(self, origin: str, row: int, record: Any) -> PairRow:
        return labelled_pair_row(origin, row, record)

    def statistic(self, strata: Mapping[str, Sequence[float]]) -> dict[str, float | None]:
        every = [v for values in strata.values() for v in values]
        out: dict[str, float | None] = {"headline": mean(every)}
        out.update({f"subset/{s}": mean(list(v)) for s, v in strata.items() if v})
        return out

    def layout(self, strata: Mapping[str, Sequence[float]]) -> Layout:
        return Layout(notes=["headline: the mean over all pairs (each pair weighs the same)"])
