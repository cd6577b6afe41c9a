"""What a benchmark is: how it reads rows, what it asks the judge, and how it scores the answers.

A benchmark turns validated rows into :class:`Unit` s (one scored item each: a pair, a prompt, a Ties prompt id)
holding the Samples to grade. After grading, ``outcome`` reduces a unit's results to plain numbers and
``statistic`` maps strata of outcomes to named scores. ``statistic`` is pure, so the bootstrap reuses it as is.

Score names in a statistic: ``headline``, ``section/<name>``, ``subset/<name>`` and ``metric/<name>``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from rm_gallery.types import Label, Message, Response, Sample, Winner

#: How a grader is used: pairwise verdicts, pointwise scores per response, or best-of-four picks.
JudgeKind = Literal["pairwise", "pointwise", "four_way"]
#: An unparseable (or tie) verdict earns 0, or the chance level of the question (1/options).
ErrorConvention = Literal["zero", "chance"]
#: Samples routed to the ratings grader (RewardBench 2 Ties); every other sample goes to the main judge.
RATINGS_ROUTE = "ratings"


class BenchmarkError(ValueError):
    """A benchmark cannot run as asked (wrong kind of grader, nothing to grade); one actionable line."""


@dataclass(frozen=True)
class Unit:
    """One scored item and the samples graded for it; ``stratum`` is the subset/domain it is resampled within."""

    stratum: str
    samples: tuple[Sample, ...]
    payload: Any = None


@dataclass
class Layout:
    """Structure around the numbers: section status, absent subsets, notes, and benchmark extras (matrices)."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    headline_partial: bool = False
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class Benchmark(Protocol):
    """The contract each benchmark module implements (see the module docstring).

    ``hub`` is the default source (hub id, split); a benchmark spread over several hub datasets also lists the
    others, read with the same split, in an optional ``hub_also`` tuple (see :func:`default_sources`).
    """

    name: str
    title: str
    hub: tuple[str, str | None]
    kinds: tuple[JudgeKind, ...]
    #: Options of one question (2 for a pair, 4 for best-of-four); 0 where the error convention does not apply.
    error_options: int
    #: How equal scores are counted, in words (recorded with the results).
    score_ties: str

    def parse(self, origin: str, row: int, record: Any) -> Any: ...

    def group(self, row: Any) -> str: ...

    def units(self, rows: Sequence[Any], kind: JudgeKind, *, seed: int) -> list[Unit]: ...

    def outcome(self, unit: Unit, results: Sequence[Any], kind: JudgeKind, convention: ErrorConvention) -> Any: ...

    def statistic(self, strata: Mapping[str, Sequence[Any]]) -> dict[str, float | None]: ...

    def layout(self, strata: Mapping[str, Sequence[Any]]) -> Layout: ...


BENCHMARKS: dict[str, str] = {
    "rewardbench": "rm_gallery.benchmarks.rewardbench:RewardBenchV1",
    "rewardbench2": "rm_gallery.benchmarks.rewardbench2:RewardBench2",
    "rmbench": "rm_gallery.benchmarks.rmbench:RMBench",
    "judgebench": "rm_gallery.benchmarks.judgebench:JudgeBench",
    "rmb": "rm_gallery.benchmarks.rmb:RMB",
    "pairs": "rm_gallery.benchmarks.pairs:LabelledPairs",
}


def default_sources(bench: Benchmark) -> list[str]:
    """The hub ids read when no data is given: ``hub[0]`` and any ``hub_also``."""
    return [bench.hub[0], *getattr(bench, "hub_also", ())]


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered under ``name`` (one of :data:`BENCHMARKS`)."""
    if name not in BENCHMARKS:
        raise BenchmarkError(f"unknown benchmark {name!r} (choose from {', '.join(BENCHMARKS)})")
    module, _, cls = BENCHMARKS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def make_sample(sample_id: str, prompt: str, responses: Sequence[str], *, label: Winner | None = None,
                **metadata: Any) -> Sample:
    """A Sample from plain benchmark fields (rows were validated, so no record parsing is needed)."""
    return Sample(id=sample_id, messages=(Message(role="user", content=prompt),),
                  responses=tuple(Response(content=r) for r in responses),
                  label=Label(preferred=label) if label else None, metadata=metadata)


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, or None for no values (never NaN, which JSON cannot hold)."""
    return sum(values) / len(values) if values else None
