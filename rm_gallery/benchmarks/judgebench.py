"""JudgeBench, with the official both-order accounting (ScalerLab/JudgeBench ``utils/metrics.py``).

Each pair is judged as (A, B) and as (B, A); the second decision is mapped back to the original labels. A
counter adds +1 for each decision equal to the label and -1 for each equal to the flipped label (a tie or an
unreadable decision adds 0): counter > 0 is correct, < 0 incorrect, 0 a tie. The score is correct / total
(the official script prints it times 100). The error convention does not apply: the counter is the official rule.
The side tallies follow the same function: see :func:`judgebench_counts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rm_gallery.benchmarks.base import ErrorConvention, JudgeKind, Layout, Unit, make_sample, mean
from rm_gallery.benchmarks.outcomes import order_winners, response_scores, score_decision
from rm_gallery.benchmarks.schemas import JudgeRow, judge_row
from rm_gallery.types import Winner

#: Source-name prefixes of the official categories.
CATEGORIES = (("mmlu-pro", "knowledge"), ("livebench-reasoning", "reasoning"), ("livebench-math", "math"),
              ("livecodebench", "coding"))
_FLIP: dict[str, Winner] = {"A": "B", "B": "A"}


def category(source: str) -> str:
    """The official category of a source (e.g. ``mmlu-pro-law`` -> ``knowledge``); unknown sources stand alone."""
    for prefix, name in CATEGORIES:
        if source.startswith(prefix):
            return name
    return source


@dataclass(frozen=True)
class PairOutcome:
    """A pair's decisions (original labels; None = unreadable) against its label, and the official counter."""

    label: Winner
    decisions: tuple[Winner | None, ...]

    @property
    def counter(self) -> int:
        return sum((d == self.label) - (d == _FLIP[self.label]) for d in self.decisions)


def judgebench_counts(outcomes: Sequence[PairOutcome]) -> dict[str, int]:
    """The official tallies (``compute_final_metrics`` with both orders), each counting pairs.

    correct / incorrect / tie by the counter; all_correct when every decision equals the label, all_incorrect
    when none does (ties and nulls included), some_correct otherwise, so the three add up to the pairs;
    inconsistent when the decisions differ; nulls when any decision is unreadable.
    """
    counts = dict.fromkeys(("pairs", "correct", "incorrect", "tie", "all_correct", "all_incorrect", "some_correct",
                            "inconsistent", "nulls"), 0)
    for o in outcomes:
        c = o.counter
        right = [d == o.label for d in o.decisions]
        counts["pairs"] += 1
        counts["correct" if c > 0 else "incorrect" if c < 0 else "tie"] += 1
        counts["all_correct" if all(right) else "all_incorrect" if not any(right) else "some_correct"] += 1
        counts["inconsistent"] += len(set(o.decisions)) > 1
        counts["nulls"] += any(d is None for d in o.decisions)
    return counts


class JudgeBench:
    """JudgeBench (``ScalerLab/JudgeBench``, split ``gpt`` or ``claude``)."""

    name = "judgebench"
    title = "JudgeBench"
    hub = ("ScalerLab/JudgeBench", "gpt")
    kinds: tuple[JudgeKind, ...] = ("pairwise", "pointwise")
    error_options = 0  # the official counter: a tie or an unreadable decision adds 0
    score_ties = "a tie decision, adding 0 to the counter"

    def parse(self, origin: str, row: int, record: Any) -> JudgeRow:
        return judge_row(origin, row, record)

    def group(self, row: JudgeRow) -> str:
        return category(row.source)

    def units(self, rows: Sequence[JudgeRow], kind: JudgeKind, *, seed: int) -> list[Unit]:
        return [Unit(category(r.source), (make_sample(r.pair_id, r.question, (r.response_a, r.response_b),
                                                      label="A" if r.label == "A>B" else "B", source=r.source),))
                for r in rows]

    def outcome(self, unit: Unit, results: Sequence[Any], kind: JudgeKind, convention: ErrorConvention) -> PairOutcome:
        sample, result = unit.samples[0], results[0]
        assert sample.label is not None and sample.label.preferred in ("A", "B")
        if kind == "pointwise":
            decisions: tuple[Winner | None, ...] = (score_decision(*response_scores(result, 2)),)
        else:
            winners = order_winners(result)
            decisions = tuple(winners.get(k) for k in ("ab", "ba") if k in winners) or (None,)
        return PairOutcome(label=sample.label.preferred, decisions=decisions)

    def statistic(self, strata: Mapping[str, Sequence[PairOutcome]]) -> dict[str, float | None]:
        out: dict[str, float | None] = {f"section/{c}": mean([float(o.counter > 0) for o in v])
                                        for c, v in strata.items() if v}
        everything = [o for v in strata.values() for o in v]
        out["headline"] = mean([float(o.counter > 0) for o in everything])
        out["metric/inconsistent"] = mean([float(len(set(o.decisions)) > 1) for o in everything])
        return out

    def layout(self, strata: Mapping[str, Sequence[PairOutcome]]) -> Layout:
        present = [c for c, v in strata.items() if v]
        sections = {c: {"partial": False, "missing": [], "scored": True, "n": len(strata[c])} for c in present}
        counts = judgebench_counts([o for v in strata.values() for o in v])
        return Layout(sections=sections, extra={"counts": counts},
                      notes=["score = correct / total pairs (official counter over both orders; ties and nulls "
                             "add 0)"])
