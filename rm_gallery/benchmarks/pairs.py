"""Your own labelled pairs as a benchmark: accuracy over all pairs, per subset, with the same CIs and reports.

For held-out splits of training data (``rm_gallery.training.splits`` writes them) and any labelled
``{"prompt", "chosen", "rejected"[, "subset"]}`` file. The headline is the plain mean over pairs (every pair
weighs the same, whatever its subset); ``subset/<name>`` are the per-subset accuracies. A pair is scored as in
RewardBench: a pairwise judge earns 1 for chosen, 0 for rejected and the error credit for a tie or an
unreadable verdict, averaged over the orders judged; a pointwise grader wins when chosen scores strictly higher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rm_gallery.benchmarks.base import ErrorConvention, JudgeKind, Layout, Unit, make_sample, mean
from rm_gallery.benchmarks.outcomes import error_value, pair_credit, response_scores
from rm_gallery.benchmarks.schemas import PairRow, _Row

#: Subset of rows that carry none.
DEFAULT_SUBSET = "pairs"


def labelled_pair_row(origin: str, row: int, record: Any) -> PairRow:
    """A row with ``prompt``, ``chosen`` and ``rejected`` text; ``subset`` is optional here."""
    r = _Row(origin, row, record)
    subset = record.get("subset") if isinstance(record, Mapping) else None
    return PairRow(id=r.ident("id"), subset=r.text("subset") if subset is not None else DEFAULT_SUBSET,
                   prompt=r.text("prompt"), chosen=r.text("chosen"), rejected=r.text("rejected"))


class LabelledPairs:
    """Labelled pairs from a local file: accuracy over pairs (the headline) and per subset."""

    name = "pairs"
    title = "Labelled pairs"
    hub = ("", None)  # local files only
    kinds: tuple[JudgeKind, ...] = ("pairwise", "pointwise")
    error_options = 2
    score_ties = "wrong for scores (chosen must score strictly higher); a tie verdict earns the error credit"

    def parse(self, origin: str, row: int, record: Any) -> PairRow:
        return labelled_pair_row(origin, row, record)

    def group(self, row: PairRow) -> str:
        return row.subset

    def units(self, rows: Sequence[PairRow], kind: JudgeKind, *, seed: int) -> list[Unit]:
        return [Unit(r.subset, (make_sample(f"{r.subset}/{r.id}", r.prompt, (r.chosen, r.rejected), label="A",
                                            subset=r.subset),)) for r in rows]

    def outcome(self, unit: Unit, results: Sequence[Any], kind: JudgeKind, convention: ErrorConvention) -> float:
        if kind == "pointwise":
            chosen, rejected = response_scores(results[0], 2)
            if chosen is None or rejected is None:
                return error_value(convention, 2)
            return 1.0 if chosen > rejected else 0.0
        return pair_credit(results[0], "A", convention)

    def statistic(self, strata: Mapping[str, Sequence[float]]) -> dict[str, float | None]:
        every = [v for values in strata.values() for v in values]
        out: dict[str, float | None] = {"headline": mean(every)}
        out.update({f"subset/{s}": mean(list(v)) for s, v in strata.items() if v})
        return out

    def layout(self, strata: Mapping[str, Sequence[float]]) -> Layout:
        return Layout(notes=["headline: the mean over all pairs (each pair weighs the same)"])
