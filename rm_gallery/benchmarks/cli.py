"""``rm-gallery bench {rewardbench,rewardbench2,rmbench,judgebench,rmb,pairs}``: a benchmark run with its official
scoring.

Installed into the main CLI through ``SUBCOMMAND_MODULES``; everything heavy is imported inside the command.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from rm_gallery.cli import (
    EXIT_INTERRUPTED,
    CLIError,
    add_model_arguments,
    check_models,
    close_models,
    model_spec,
    parse_kv,
    report_interrupt,
)

SAMPLES_FILE = "samples.jsonl"  # rm_gallery.benchmarks.report.SAMPLES_FILE, repeated to keep --help light
NAMES = ("rewardbench", "rewardbench2", "rmbench", "judgebench", "rmb", "pairs")


def install(sub: Any) -> None:
    p = sub.add_parser("bench", help="run a reward-model benchmark with its official scoring, CIs and plots",
                       description="Grade a benchmark with any registered grader and score it as the official "
                                   "scripts do; writes samples.jsonl, summary.json, report.md and PNG plots to --out.")
    p.add_argument("benchmark", choices=NAMES)
    p.add_argument("--grader", required=True, help="registered grader: pairwise (e.g. pairwise, reasoning), "
                                                   "pointwise (rubric) or four_way (RewardBench 2)")
    p.add_argument("--grader-arg", action="append", help="grader keyword argument KEY=VALUE (JSON value)")
    p.add_argument("--param", action="append", help="sampling parameter KEY=VALUE (JSON value), e.g. max_tokens=512")
    p.add_argument("--template", help="path of a .j2 template overriding the grader's own")
    p.add_argument("--ratings-grader", help="pointwise grader for RewardBench 2 Ties when --grader is four_way")
    p.add_argument("--ratings-grader-arg", action="append", help="ratings grader keyword argument KEY=VALUE")
    p.add_argument("--data", action="append", help="data file or directory (json, jsonl, parquet; read recursively) "
                                                   "or a hub id; repeatable (default: the official hub dataset); "
                                                   "RMB: the repository's RMB_dataset/ directory")
    p.add_argument("--split", help="hub split (default: the official one)")
    p.add_argument("--out", help="results directory (default: results/bench/<benchmark>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in the same --out")
    p.add_argument("--overwrite", action="store_true", help="replace the results in an existing --out")
    p.add_argument("--orders", choices=("both", "swap", "single"), default="both",
                   help="pairwise presentation: both orders (default), one seeded order, or as given")
    p.add_argument("--error-credit", choices=("zero", "chance"), default="chance",
                   help="credit for an unparseable or tie verdict: 0, or chance (0.5 pairwise, 0.25 best-of-four)")
    p.add_argument("--seed", type=int, default=0, help="seeds answer positions, order coins and the bootstrap")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CIs (0: none)")
    p.add_argument("--limit", type=int, help="grade at most N rows of each subset (domain, source category)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--cache", default=os.environ.get("RM_GALLERY_CACHE", "~/.cache/rm_gallery/responses.sqlite"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (no matplotlib needed)")
    add_model_arguments(p)
    p.set_defaults(func=cmd_bench)


def _graders(args: argparse.Namespace) -> tuple[Any, Any]:
    """The main grader and the optional ratings grader, built like ``rm-gallery grade`` builds them."""
    from rm_gallery.config import build_config

    entry: dict[str, Any] = {"grader": args.grader, **parse_kv(args.grader_arg, "--grader-arg")}
    params = parse_kv(args.param, "--param")
    if params:
        entry["params"] = {**entry.get("params", {}), **params}
    if args.template:
        entry["template"] = args.template
    graders = {"judge": entry}
    if args.ratings_grader:
        ratings_args = parse_kv(args.ratings_grader_arg, "--ratings-grader-arg")
        graders["ratings"] = {"grader": args.ratings_grader, **ratings_args}
    built = build_config({"model": model_spec(args), "graders": graders}, source="command line").graders
    return built["judge"].grader, built["ratings"].grader if "ratings" in built else None


async def _bench(args: argparse.Namespace, bench: Any, rows: list[Any], info: dict[str, Any], out: Path,
                 cache_path: Path | None) -> int:
    from rm_gallery.benchmarks.report import REPORT_FILE
    from rm_gallery.benchmarks.run import run_benchmark
    from rm_gallery.cache import ResponseCache
    from rm_gallery.runner import models_of

    grader, ratings = _graders(args)
    models = {id(m): m for g in (grader, ratings) if g is not None for m in models_of(g)}
    cache = ResponseCache(cache_path) if cache_path is not None else None
    try:
        await check_models(models.values())
        summary = await run_benchmark(
            bench, rows, grader, out_dir=out, ratings_grader=ratings, orders=args.orders, seed=args.seed,
            error_credit=args.error_credit, n_boot=args.bootstrap, concurrency=args.concurrency, cache=cache,
            resume=args.resume, progress=False if args.no_progress else None, plots=not args.no_plots, info=info)
    except (KeyboardInterrupt, asyncio.CancelledError):
        report_interrupt(args, f"every finished judgment is in {out / SAMPLES_FILE}")
        raise
    finally:
        await close_models(models.values())
        if cache is not None:
            cache.close()
    h = summary["headline"]
    ci = f" [{100 * h['ci'][0]:.1f}, {100 * h['ci'][1]:.1f}]" if h["ci"] else ""
    value = "n/a" if h["value"] is None else f"{100 * h['value']:.1f}"
    print(f"{bench.title} headline: {value}{ci}{' (partial)' if h['partial'] else ''}; "
          f"parse failures {summary['errors']['parse_failure_rate']:.1%}")
    print(f"report: {out / REPORT_FILE}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Check the output directory and load the rows (sync, fails fast), then grade and report."""
    from rm_gallery.benchmarks.base import BenchmarkError, default_sources, get_benchmark
    from rm_gallery.benchmarks.sources import load_rows
    from rm_gallery.graders.registry import get_spec

    try:
        bench = get_benchmark(args.benchmark)
        for name in filter(None, (args.grader, args.ratings_grader)):
            get_spec(name)  # an unknown name fails before any data is read
        out = Path(args.out or Path("results") / "bench" / bench.name)
        done = out / SAMPLES_FILE
        if done.exists() and done.stat().st_size and not (args.resume or args.overwrite):
            raise CLIError(f"{done} already exists: pass --resume to continue it or --overwrite to replace it")
        if not args.model:
            raise CLIError("pass --model NAME (and --base-url URL for a local server)")
        if not args.data and not bench.hub[0]:
            raise CLIError(f"{bench.name} reads local files only: pass --data FILE")
        sources = args.data or default_sources(bench)
        split = args.split or (bench.hub[1] if not args.data else None)
        rows = load_rows(bench, sources, split=split, limit=args.limit)
        info = {"grader": args.grader, "model": args.model, "data": sources, "split": split, "rows": len(rows),
                "limit": args.limit}
        cache_path = None if args.no_cache else Path(args.cache).expanduser()
        return asyncio.run(_bench(args, bench, rows, info, out, cache_path))
    except BenchmarkError as e:
        raise CLIError(str(e)) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not getattr(args, "interrupt_reported", False):
            print("\ninterrupted before grading started", file=sys.stderr)
        return EXIT_INTERRUPTED
