"""``rm-gallery meta-eval`` (how far to trust a judge) and ``rm-gallery compare`` (is judge A better than B?).

Installed into the main CLI through ``SUBCOMMAND_MODULES``; everything heavy is imported inside the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
    report_interrupt,
)


def install(sub: Any) -> None:
    p = sub.add_parser("meta-eval", help="how far to trust a judge: position, length and style bias, agreement, "
                                         "calibration and cost",
                       description="Meta-evaluate a judge from a finished run (an `rm-gallery bench` directory, a "
                                   "`grade` results file, a meta-eval directory), or grade a labelled DATA file in "
                                   "both orders first (with --grader and --model). Writes meta.md, meta.json and "
                                   "reliability.png.")
    p.add_argument("source", help="run directory, results .jsonl, or a data file (json, jsonl, parquet) to grade")
    p.add_argument("--grader", help="results file: whose results to read; data file: the registered grader to run")
    p.add_argument("--grader-arg", action="append", help="grader keyword argument KEY=VALUE (JSON value)")
    p.add_argument("--param", action="append", help="sampling parameter KEY=VALUE (JSON value)")
    p.add_argument("--template", help="path of a .j2 template overriding the grader's own")
    p.add_argument("--data", action="append", help="the data the run graded, if it moved since (repeatable for a "
                                                   "benchmark directory)")
    p.add_argument("--out", help="report directory (default: the run directory; <file>.meta beside a results file; "
                                 "results/meta/<data>.<grader> when grading)")
    p.add_argument("--orders", choices=("both", "swap", "single"), default="both",
                   help="when grading: both orders (default), one seeded order, or as given")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="when grading: the first N samples only")
    p.add_argument("--resume", action="store_true", help="when grading: continue an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true", help="when grading: replace the results in --out")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--cache", default=os.environ.get("RM_GALLERY_CACHE", "~/.cache/rm_gallery/responses.sqlite"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--bins", type=int, default=10, help="reliability bins over [0, 1] (default 10)")
    p.add_argument("--length-margin", type=int, default=30,
                   help="characters by which lengths must differ to count as longer (default 30)")
    p.add_argument("--score-temperature", type=float, default=1.0,
                   help="T of the logistic map of pointwise score gaps to P(A wins) (default 1 score point)")
    p.add_argument("--price-in", type=float, help="price per 1M prompt tokens (adds money to the cost section)")
    p.add_argument("--price-out", type=float, help="price per 1M completion tokens")
    p.add_argument("--no-plots", action="store_true", help="skip reliability.png (no matplotlib needed)")
    add_model_arguments(p)
    p.set_defaults(func=cmd_meta_eval, ratings_grader=None, ratings_grader_arg=None)

    c = sub.add_parser("compare", help="is judge A better than judge B on the same samples? (paired bootstrap CI, "
                                       "McNemar's exact test, Holm across subsets)",
                       description="Compare two finished runs (bench directories, meta-eval directories or grade "
                                   "results files) judgment by judgment, aligned by sample id and order. Writes "
                                   "compare.md, compare.json and compare.png.")
    c.add_argument("run_a")
    c.add_argument("run_b")
    c.add_argument("--data-a", action="append", help="data of run A, if it moved since the run")
    c.add_argument("--data-b", action="append", help="data of run B, if it moved since the run")
    c.add_argument("--grader-a", help="which grader's results in results file A")
    c.add_argument("--grader-b", help="which grader's results in results file B")
    c.add_argument("--unit", choices=("judgment", "pair"), default="judgment",
                   help="compare judgments (sample, order), or pairs right in every order")
    c.add_argument("--intersect", action="store_true",
                   help="compare on the judgments both runs hold instead of stopping when they differ")
    c.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the 95%% CI (0: none)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", help="report directory (default: results/compare/<A>_vs_<B>)")
    c.add_argument("--no-plots", action="store_true")
    c.set_defaults(func=cmd_compare)


def _is_results_file(path: Path) -> bool:
    """A ``grade`` results file: JSON lines whose first record has index, grader and result."""
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        return False
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError:
                    return False
                return isinstance(rec, dict) and {"index", "grader", "result"} <= rec.keys()
    return False


async def _grade_data(args: argparse.Namespace, data: Path, out: Path, cache_path: Path | None) -> dict[str, Any]:
    """Grade every sample of ``data`` as a benchmark would (both orders by default) into ``out/samples.jsonl``."""
    from rm_gallery.benchmarks.cli import _graders
    from rm_gallery.benchmarks.judges import judge_kind, prepare_judge
    from rm_gallery.benchmarks.report import SAMPLES_FILE
    from rm_gallery.benchmarks.run import check_resumable
    from rm_gallery.cache import ResponseCache
    from rm_gallery.loaders import iter_samples
    from rm_gallery.metaeval.runs import JUDGE
    from rm_gallery.runner import GradingRunner, models_of

    grader, _ = _graders(args)
    kind = judge_kind(grader)
    if kind == "four_way":
        raise CLIError(f"{args.grader} is a best-of-four judge: meta-eval needs a pairwise or pointwise grader")
    check_resumable(out, {"data": str(data), "kind": kind, "orders": args.orders if kind == "pairwise" else None,
                          "seed": args.seed, "grader": args.grader, "model": args.model, "limit": args.limit},
                    resume=args.resume)
    judge = prepare_judge(grader, kind, orders=args.orders, seed=args.seed)
    models = {id(m): m for m in models_of(grader)}
    cache = ResponseCache(cache_path) if cache_path is not None else None
    runner = GradingRunner({JUDGE: judge}, concurrency=args.concurrency, cache=cache, output=out / SAMPLES_FILE,
                           resume=args.resume, progress=False if args.no_progress else None, seed=args.seed)
    try:
        await check_models(models.values())
        async for _ in runner.astream(iter_samples(data, on_error="skip", limit=args.limit)):
            pass
    except (KeyboardInterrupt, asyncio.CancelledError):
        report_interrupt(args, f"every finished judgment is in {out / SAMPLES_FILE}")
        raise
    finally:
        await close_models(models.values())
        if cache is not None:
            cache.close()
    return runner.summary.to_dict()


def _meta_eval(args: argparse.Namespace) -> int:
    from rm_gallery.benchmarks.report import SAMPLES_FILE
    from rm_gallery.metaeval.plots import write_meta_plots
    from rm_gallery.metaeval.report import META_FILE, META_REPORT, meta_report
    from rm_gallery.metaeval.runs import load_run
    from rm_gallery.metaeval.summary import meta_summary

    source = Path(args.source)
    if not source.exists():
        raise CLIError(f"{source}: no such file or directory")
    grading = source.is_file() and not _is_results_file(source)
    session = None
    if grading:
        from rm_gallery.graders.registry import get_spec
        from rm_gallery.loaders import detect_format

        detect_format(source)
        if not args.grader or not args.model:
            raise CLIError(f"{source} is a data file: pass --grader NAME and --model NAME (and --base-url URL) to "
                           "grade it, or give a finished run instead")
        get_spec(args.grader)  # an unknown name fails before anything is graded
        out = Path(args.out or Path("results") / "meta" / f"{source.stem}.{args.grader}")
        done = out / SAMPLES_FILE
        if done.exists() and done.stat().st_size and not (args.resume or args.overwrite):
            raise CLIError(f"{done} already exists: pass --resume to continue it or --overwrite to replace it")
        cache_path = None if args.no_cache else Path(args.cache).expanduser()
        session = asyncio.run(_grade_data(args, source, out, cache_path))
        run = load_run(out)
        run.run = session
        run.info["grader"], run.info["model"] = args.grader, args.model
    else:
        out = Path(args.out) if args.out else source if source.is_dir() else Path(f"{source}.meta")
        run = load_run(source, data=args.data, grader=args.grader)
    meta = meta_summary(run.pairs, run=run.run, bins=args.bins, length_margin=args.length_margin,
                        temperature=args.score_temperature, price_in=args.price_in, price_out=args.price_out)
    meta["notes"] = run.notes + meta["notes"]
    out.mkdir(parents=True, exist_ok=True)
    files = [] if args.no_plots else write_meta_plots(out, meta)
    (out / META_REPORT).write_text(meta_report(meta, run.info), encoding="utf-8")
    (out / META_FILE).write_text(json.dumps({**meta, "info": run.info, "run": run.run}, indent=2) + "\n",
                                 encoding="utf-8")
    print(headline(meta))
    print(f"report: {out / META_REPORT}" + (f" (plot: {files[0]})" if files else ""))
    return 0


def headline(meta: dict[str, Any]) -> str:
    """The few numbers worth a terminal line."""
    from rm_gallery.benchmarks.report import pct
    from rm_gallery.metaeval.report import num

    parts = [f"{meta['pairs']} pairs, {meta['judgments']} judgments"]
    pos = meta["position"]
    if pos:
        parts.append(f"first shown picked {pct(pos['first_shown_rate'])}%, consistency {pct(pos['consistency'])}%")
    length = meta["length"]
    parts.append(f"prefers longer {pct(length['prefer_rate'])}% (labels {pct(length['label_rate'])}%)")
    a = meta["agreement"]
    parts.append(f"kappa {num(a['kappa'])}, coverage {pct(a['coverage'])}%")
    for kind, s in meta["calibration"].items():
        parts.append(f"{kind} ECE {num(s['ece'])}, Brier {num(s['brier'])}")
    return "; ".join(parts)


def cmd_meta_eval(args: argparse.Namespace) -> int:
    from rm_gallery.benchmarks.base import BenchmarkError
    from rm_gallery.metaeval.runs import MetaEvalError

    try:
        return _meta_eval(args)
    except (MetaEvalError, BenchmarkError) as e:
        raise CLIError(str(e)) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not getattr(args, "interrupt_reported", False):
            print("\ninterrupted before grading started", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_compare(args: argparse.Namespace) -> int:
    from rm_gallery.benchmarks.base import BenchmarkError
    from rm_gallery.metaeval.compare import UNITS, compare_runs
    from rm_gallery.metaeval.plots import COMPARE_PLOT, compare_plot
    from rm_gallery.metaeval.report import COMPARE_FILE, COMPARE_REPORT, compare_report
    from rm_gallery.metaeval.runs import MetaEvalError, load_run

    assert args.unit in UNITS
    try:
        a = load_run(args.run_a, data=args.data_a, grader=args.grader_a)
        b = load_run(args.run_b, data=args.data_b, grader=args.grader_b)
        result = compare_runs(a, b, unit=args.unit, intersect=args.intersect, n_boot=args.bootstrap, seed=args.seed)
        out = Path(args.out or Path("results") / "compare" / f"{a.name}_vs_{b.name}")
        out.mkdir(parents=True, exist_ok=True)
        report = compare_report(result)
        (out / COMPARE_REPORT).write_text(report, encoding="utf-8")
        (out / COMPARE_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if not args.no_plots:
            compare_plot(result, out / COMPARE_PLOT)
    except (MetaEvalError, BenchmarkError) as e:
        raise CLIError(str(e)) from None
    print(report)
    print(f"report: {out / COMPARE_REPORT}")
    return 0
