"""Run one benchmark end to end: grade with the runner (streamed, resumable), score, and write the report.

The results directory holds ``samples.jsonl`` (every judge output, raw text included, written as it completes),
``summary.json``, ``report.md``, the PNG plots and ``run.json`` (the settings that decide what was asked).
Re-running with ``resume=True`` grades only what is missing, and refuses a directory written with other settings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.base import RATINGS_ROUTE, Benchmark, BenchmarkError, ErrorConvention, Unit
from rm_gallery.benchmarks.evaluate import evaluate
from rm_gallery.benchmarks.judges import Orders, build_router, judge_kind
from rm_gallery.benchmarks.outcomes import error_value
from rm_gallery.benchmarks.report import RUN_FILE, SAMPLES_FILE, write_report
from rm_gallery.cache import ResponseCache
from rm_gallery.runner import GradingRunner


def check_resumable(out: Path, settings: dict[str, Any], *, resume: bool) -> None:
    """Record what decides the questions asked (benchmark, grader, orders, seed); refuse to resume other ones."""
    path = out / RUN_FILE
    if resume and path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in settings.items() if before.get(k) != v]
        if changed:
            raise BenchmarkError(f"{out} holds a run with other settings ({'; '.join(changed)}); resuming would mix "
                                 "them: use another --out, or --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def bench_meta(units: Sequence[Unit], results: Sequence[Any], run: dict[str, Any]) -> dict[str, Any] | None:
    """The judge meta-evaluation section (:mod:`rm_gallery.metaeval`) over the units' pairs; None if none."""
    from rm_gallery.metaeval.pairs import pairs_from
    from rm_gallery.metaeval.summary import meta_summary

    samples = [(s, u.stratum) for u in units for s in u.samples]
    pairs = pairs_from([s for s, _ in samples], results, [stratum for _, stratum in samples])
    return meta_summary(pairs, run=run) if pairs else None


def _needs_ratings(unit: Unit) -> bool:
    return any(s.metadata.get("route") == RATINGS_ROUTE for s in unit.samples)


def plan_units(bench: Benchmark, rows: Sequence[Any], grader: Any, *, ratings_grader: Any = None,
               seed: int = 0) -> tuple[list[Unit], list[str]]:
    """The units to grade with this grader, and a note for any that cannot be graded without a ratings grader."""
    kind = judge_kind(grader)
    if kind not in bench.kinds:
        raise BenchmarkError(f"{bench.title} cannot use {getattr(grader, 'name', grader)!r} (a {kind} grader); it "
                             f"needs a {' or '.join(bench.kinds)} grader")
    units = bench.units(rows, kind, seed=seed)
    notes = []
    if kind != "pointwise" and ratings_grader is None:
        skipped = [u for u in units if _needs_ratings(u)]
        if skipped:
            units = [u for u in units if not _needs_ratings(u)]
            strata = sorted({u.stratum for u in skipped})
            notes.append(f"{len(skipped)} {'/'.join(strata)} prompts not scored: they need ratings from a pointwise "
                         "grader (pass --ratings-grader rubric)")
    if not units:
        raise BenchmarkError(f"nothing to grade for {bench.title}: {' '.join(notes) or 'no rows'}")
    return units, notes


async def run_benchmark(bench: Benchmark, rows: Sequence[Any], grader: Any, *, out_dir: str | Path,
                        ratings_grader: Any = None, orders: Orders = "both", seed: int = 0,
                        error_credit: ErrorConvention = "chance", n_boot: int = 1000, concurrency: int = 64,
                        cache: str | Path | ResponseCache | None = None, resume: bool = False,
                        progress: bool | None = None, plots: bool = True,
                        info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Grade ``rows`` with ``grader``, score them as the official protocol does, and write the report.

    ``info`` (grader name, model, data) is recorded in the summary.
    """
    error_value(error_credit, 2)  # fail before grading on an unknown convention
    kind = judge_kind(grader)
    units, notes = plan_units(bench, rows, grader, ratings_grader=ratings_grader, seed=seed)
    router = build_router(grader, kind, ratings=ratings_grader, orders=orders, seed=seed)
    out = Path(out_dir)
    check_resumable(out, {"benchmark": bench.name, "kind": kind, "orders": orders if kind == "pairwise" else None,
                          "seed": seed, "grader": (info or {}).get("grader", getattr(grader, "name", None)),
                          "model": (info or {}).get("model")}, resume=resume)
    runner = GradingRunner({"judge": router}, concurrency=concurrency, cache=cache, output=out / SAMPLES_FILE,
                           resume=resume, progress=progress, seed=seed)
    samples = [s for u in units for s in u.samples]
    results = []
    async for done in runner.astream(samples):
        results.append(done["judge"])
    summary = evaluate(bench, units, results, kind=kind, convention=error_credit, n_boot=n_boot, seed=seed)
    summary["notes"] = notes + summary["notes"]
    summary = {
        "benchmark": bench.name, "title": bench.title, **dict(info or {}), "kind": kind,
        "conventions": {
            "error_credit": error_credit if bench.error_options else "official counter",
            "error_value": error_value(error_credit, bench.error_options) if bench.error_options else 0.0,
            "tie_verdict": "counts as an error", "score_ties": bench.score_ties,
            "orders": orders if kind == "pairwise" else None, "seed": seed,
            "bootstrap_resamples": n_boot, "ci_level": 0.95,
        },
        **summary,
        "run": runner.summary.to_dict(),
    }
    summary["meta"] = bench_meta(units, results, summary["run"])
    write_report(out, summary, plots=plots)
    return summary
