"""``rm-gallery grade --ray [ADDRESS]`` (the flags and the command) and ``rm-gallery summary RESULTS``.

Kept apart from :mod:`rm_gallery.cli` so that the shared CLI only adds the flags and hands over; Ray is imported
when a run starts, never to build the parser.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("distributed (Ray Data; extra [ray])")
    g.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="grade on Ray: a cluster address (auto, ray://host:10001) or none for a local cluster; "
                        "--out is then a directory of shards, and a malformed row becomes that row's "
                        "invalid_input result (--on-error does not apply)")
    g.add_argument("--actors", type=int, default=2, help="grading actors, each one runner (default 2)")
    g.add_argument("--shard-rows", type=int, default=1000, help="samples per shard, the unit of resume")
    g.add_argument("--jsonl", action="store_true", help="also write each shard as JSONL (beside its parquet)")
    g.add_argument("--actor-cpus", type=float, default=1.0, help="CPUs Ray reserves per actor (default 1)")


def grade_with_ray(args: argparse.Namespace) -> int:
    """Run ``grade --ray``: the same config a local run builds, graded by Ray Data actors into shards."""
    from rm_gallery.cli import EXIT_INTERRUPTED, CLIError, check_models, close_models, config_data, report_interrupt
    from rm_gallery.config import build_config
    from rm_gallery.distributed import grade_on_ray
    from rm_gallery.runner import models_of

    if args.retry_errors:
        raise CLIError("--retry-errors is for local runs; a distributed run resumes by shard (--resume)")
    if args.limit is not None:
        raise CLIError("--limit is for local runs; cut the input file instead")
    data_path = Path(args.data)
    config = config_data(args)
    runner = config.setdefault("runner", {})
    runner.setdefault("concurrency", args.concurrency)
    cache = None if args.no_cache else runner.pop("cache", args.cache)
    runner.pop("resume", None)
    runner.pop("output", None)
    graders = build_config(dict(config), source=args.config or "command line").graders

    async def check() -> None:  # fail fast when the judge does not answer at all, as a local run does
        models = {id(m): m for c in graders.values() for m in models_of(c.grader)}.values()
        try:
            await check_models(models)
        finally:
            await close_models(models)

    asyncio.run(check())
    out = Path(args.out) if args.out else Path("results") / f"{data_path.stem}.{'+'.join(graders)}.shards"
    try:
        summary = grade_on_ray(data_path if "://" not in args.data else args.data, config, out,
                               actors=args.actors, shard_rows=args.shard_rows, resume=args.resume,
                               overwrite=args.overwrite, jsonl=args.jsonl, cache=cache,
                               address=None if args.ray == "local" else args.ray,
                               num_cpus_per_actor=args.actor_cpus, progress=not args.no_progress)
    except KeyboardInterrupt:
        report_interrupt(args, f"every finished shard is in {out}")
        return EXIT_INTERRUPTED
    print(summary.table())
    print(f"results: {out}")
    if summary.samples == 0:
        raise CLIError(f"{args.data}: no samples graded: it has no records")
    return 0


def install(sub: Any) -> None:
    p = sub.add_parser("summary", help="print the summary table of a results file or a sharded results directory",
                       description="Outcomes by grader and kind, tokens and request counts of a finished run.")
    p.add_argument("results", help="a results JSONL file, or the --out directory of a distributed run")
    p.set_defaults(func=cmd_summary)


def cmd_summary(args: argparse.Namespace) -> int:
    from rm_gallery.cli import CLIError
    from rm_gallery.results_io import summarize_results

    path = Path(args.results)
    if not path.exists():
        raise CLIError(f"{path}: no such file or directory")
    print(summarize_results(path).table())
    return 0
