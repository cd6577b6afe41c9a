"""Listwise / best-of-n: rank N responses from pointwise scores or from a pairwise round robin.

Ties are broken deterministically: a higher score (or net win rate) ranks first, then the lower index.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Literal

from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import GradeContext, Grader, InvalidSample
from rm_gallery.graders.registry import register_grader
from rm_gallery.types import GraderError, Rank, Result, Sample, Score, Usage, Verdict

Method = Literal["pointwise", "round_robin"]


def rank_by(values: list[float]) -> tuple[int, ...]:
    """Indices from best to worst; equal values keep their original order (lower index first)."""
    return tuple(sorted(range(len(values)), key=lambda i: (-values[i], i)))


def net_win_rates(n: int, outcomes: dict[tuple[int, int], str]) -> list[float]:
    """(wins - losses) / (n - 1) per response, from pairwise winners ("A" = first of the pair)."""
    net = [0.0] * n
    for (i, j), w in outcomes.items():
        if w == "A":
            net[i] += 1
            net[j] -= 1
        elif w == "B":
            net[j] += 1
            net[i] -= 1
    return [v / (n - 1) for v in net] if n > 1 else net


async def score_responses(scorer: Any, sample: Sample, ctx: GradeContext | None
                          ) -> tuple[list[Score], Usage] | GraderError:
    """Every response's Score from ``scorer.score_response`` (concurrently) with their summed usage, or, if any
    response could not be scored, the first error (carrying the usage of all the requests)."""
    n = len(sample.responses)
    results = list(await asyncio.gather(*(scorer.score_response(sample, i, ctx) for i in range(n))))
    usage = Usage.total(results)
    failed = [r for r in results if not isinstance(r, Score)]
    if failed:
        return _fail(failed[0], usage, f"{len(failed)} of {n} responses could not be scored")
    return [r for r in results if isinstance(r, Score)], usage


@register_grader("listwise")
class ListwiseGrader:
    """Ranks N responses (best-of-n) from pointwise scores or a pairwise round robin (net win rate)."""

    def __init__(self, model: ChatModel | None = None, *, method: Method = "pointwise", scorer: Any = None,
                 judge: Grader | None = None, name: str = "listwise") -> None:
        if method not in ("pointwise", "round_robin"):
            raise ValueError(f"method must be pointwise or round_robin, got {method!r}")
        if method == "pointwise" and scorer is None:
            if model is None:
                raise ValueError("listwise (pointwise) needs a model or a scorer with score_response()")
            from rm_gallery.graders.rubric import RubricPointwiseGrader

            scorer = RubricPointwiseGrader(model)
        if method == "round_robin" and judge is None:
            if model is None:
                raise ValueError("listwise (round_robin) needs a model or a pairwise judge")
            from rm_gallery.graders.pairwise import PairwiseGrader

            judge = PairwiseGrader(model)
        self.method, self.scorer, self.name = method, scorer, name
        self.grader = scorer if method == "pointwise" else judge

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        n = len(sample.responses)
        if n < 2:
            raise InvalidSample(f"sample {sample.id}: ranking needs at least 2 responses, got {n}")
        if self.method == "pointwise":
            scored = await score_responses(self.scorer, sample, ctx)
            if isinstance(scored, GraderError):
                return scored
            values = [s.value for s in scored[0]]
            return Rank(order=rank_by(values), scores=tuple(values), usage=scored[1])
        pairs = list(itertools.combinations(range(n), 2))
        subs = [sample.model_copy(update={"responses": (sample.responses[i], sample.responses[j]), "label": None,
                                          "id": f"{sample.id}:{i}v{j}"}) for i, j in pairs]
        assert self.grader is not None
        results = list(await asyncio.gather(*(self.grader.grade(s, ctx) for s in subs)))
        usage = Usage.total(results)
        failed = [r for r in results if not isinstance(r, Verdict)]
        if failed:
            return _fail(failed[0], usage, f"{len(failed)} of {len(pairs)} comparisons failed")
        outcomes = {p: r.winner for p, r in zip(pairs, results, strict=True) if isinstance(r, Verdict)}
        rates = net_win_rates(n, outcomes)
        return Rank(order=rank_by(rates), scores=tuple(rates), usage=usage,
                    metadata={"comparisons": {f"{i}v{j}": w for (i, j), w in outcomes.items()}})



def _fail(first: Result, usage: Usage, what: str) -> GraderError:
    assert isinstance(first, GraderError)
    return first.model_copy(update={"usage": usage, "message": f"{what}; first: {first.message}"})
