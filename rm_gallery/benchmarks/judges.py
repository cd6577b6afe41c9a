"""How a registered grader is run on a benchmark: pairwise in both orders, pointwise per response, or routed.

* pairwise graders are wrapped in :class:`PositionDebiasedGrader` (``both`` orders by default, or one seeded order),
  so every per-order verdict and raw output lands in the per-sample results file;
* pointwise graders (anything with ``score_response(sample, index, ctx)``) score every response of a sample;
* :class:`RouteGrader` sends RewardBench 2 Ties samples to a ratings grader and the rest to the main judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

from rm_gallery.benchmarks.base import RATINGS_ROUTE, BenchmarkError, JudgeKind
from rm_gallery.graders.base import GradeContext, Grader
from rm_gallery.graders.debias import PositionDebiasedGrader
from rm_gallery.graders.listwise import rank_by
from rm_gallery.runner import models_of
from rm_gallery.types import GraderError, Rank, Result, Sample, Score, Usage

Orders = Literal["both", "swap", "single"]
ORDERS: tuple[Orders, ...] = ("both", "swap", "single")


def judge_kind(grader: Any) -> JudgeKind:
    """``four_way`` for the best-of-four judge, ``pointwise`` for graders that score one response, else pairwise."""
    from rm_gallery.graders.four_way import FourWayGrader

    if isinstance(grader, FourWayGrader):
        return "four_way"
    if callable(getattr(grader, "score_response", None)):
        return "pointwise"
    return "pairwise"


class ResponseScoresGrader:
    """Scores every response of a sample with a pointwise grader; keeps each score, kind and raw output.

    Returns a :class:`Rank` with all scores, or, when some responses could not be scored, a GraderError whose
    ``metadata["scores"]`` still holds the scores that were obtained (None for the others).
    """

    def __init__(self, scorer: Any, *, name: str | None = None) -> None:
        self.scorer = scorer
        self.grader = scorer  # lets the runner find the model for request counts
        self.name = name or f"{getattr(scorer, 'name', 'scorer')}[each]"

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        results = await asyncio.gather(*(self.scorer.score_response(sample, i, ctx)
                                         for i in range(len(sample.responses))))
        usage = Usage()
        for r in results:
            usage = usage + r.usage
        scores = [r.value if isinstance(r, Score) else None for r in results]
        meta = {"scores": scores, "kinds": [r.kind for r in results], "raws": [r.raw for r in results]}
        failed = [r for r in results if not isinstance(r, Score)]
        if not failed:
            values = [float(s) for s in scores if s is not None]
            return Rank(order=rank_by(values), scores=tuple(values), usage=usage, metadata=meta)
        first = failed[0]
        message = first.message if isinstance(first, GraderError) else f"unexpected {first.kind} result"
        kind = first.kind if isinstance(first, GraderError) else "internal_error"
        return GraderError(kind=kind, usage=usage, metadata=meta,
                           message=f"{len(failed)} of {len(results)} responses could not be scored; first: {message}")


class RouteGrader:
    """Sends each sample to the grader named by ``sample.metadata["route"]`` (default ``main``)."""

    def __init__(self, routes: Mapping[str, Grader], *, name: str = "judge") -> None:
        self.routes = dict(routes)
        self.name = name
        self.models = list({id(m): m for g in self.routes.values() for m in models_of(g)}.values())

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        route = sample.metadata.get("route", "main")
        return await self.routes[route].grade(sample, ctx)


def prepare_judge(grader: Any, kind: JudgeKind, *, orders: Orders = "both", seed: int = 0) -> Grader:
    """The grader as a benchmark runs it: wrapped for both orders (pairwise) or per-response scores (pointwise)."""
    if orders not in ORDERS:
        raise BenchmarkError(f"orders must be one of {', '.join(ORDERS)}, got {orders!r}")
    if kind == "pointwise":
        return ResponseScoresGrader(grader)
    if kind == "pairwise":
        if isinstance(grader, PositionDebiasedGrader):
            return grader
        if getattr(grader, "symmetric", False) and orders == "both":
            return grader  # judges both orders itself (win_probability) and records them: no second wrapper
        return PositionDebiasedGrader(grader, mode=orders, seed=seed, name=f"{grader.name}[{orders}]")
    return grader


def build_router(grader: Any, kind: JudgeKind, *, ratings: Any = None, orders: Orders = "both",
                 seed: int = 0) -> RouteGrader:
    """The single grader the runner sees: the main judge, plus a ratings route when one is available."""
    routes: dict[str, Grader] = {"main": prepare_judge(grader, kind, orders=orders, seed=seed)}
    if kind == "pointwise":
        routes[RATINGS_ROUTE] = routes["main"]
    elif ratings is not None:
        if judge_kind(ratings) != "pointwise":
            raise BenchmarkError(f"the ratings grader {getattr(ratings, 'name', ratings)!r} must score one response "
                                 "(have score_response), e.g. rubric")
        routes[RATINGS_ROUTE] = ResponseScoresGrader(ratings)
    return RouteGrader(routes)
