"""Real benchmark numbers: RewardBench (the shared subsets) and RM-Bench (the 4 shared domains) on SmolLM2.

Serves the built-in real judge (SmolLM2-135M-Instruct, ``rm-gallery build-model smollm2``) with vLLM on CPU and
runs ``rm-gallery bench``'s code path for each grader: ``pairwise``, ``reasoning``, ``win_probability`` and
``rubric`` (pointwise: each response scored once). Official scoring, both orders for pairwise graders, seeded
bootstrap 95% CIs, the error convention recorded (``chance``: a tie or unreadable verdict earns 0.5 of a pair).

Sizes are limited so the whole run fits a couple of hours on 2 CPU cores, and said so in every table:
``--limit`` rows per RewardBench subset and per RM-Bench domain (RM-Bench's 9 style pairs per prompt, both
orders). ``win_probability`` is symmetric by itself (one request per order, P(A wins) averaged over both): the
benchmark scores that verdict and reads its per-order answers for the position statistics.

Prints one table per benchmark and writes ``perf/results/real_benchmarks.json``; every run's report.md,
samples.jsonl and plots stay under ``--out``. Wall time per 1,000 verdicts = the run's wall time over its
verdicts (an order of a pair, or one response scored), at the stated concurrency.

A row ``NAME+constrain`` runs the grader with ``constrain=True`` (its answer format forced by vLLM's structured
outputs), and ``--max-tokens`` caps every generative answer; tables say both.

Usage: python perf/real_benchmarks.py [--limit 20] [--graders pairwise,reasoning,win_probability,rubric]
       [--max-tokens N] [--quick] [--name real_benchmarks]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
T = TypeVar("T")
GRADERS = ("pairwise", "reasoning", "win_probability", "rubric")


def sources() -> dict[str, list[str]]:
    return {"rewardbench": [str(SHARED / "rewardbench" / "rewardbench_llmbar_hep.jsonl")],
            "rmbench": [str(SHARED / "rm-bench")]}


def grader_spec(row: str) -> tuple[str, dict[str, Any]]:
    """A table row's grader and arguments: ``pairwise`` as catalogued, ``pairwise+constrain`` with the
    ``constrain=True`` option (the answer format forced by vLLM's structured outputs)."""
    name, _, option = row.partition("+")
    if option not in ("", "constrain"):
        raise ValueError(f"unknown grader option {option!r} in {row!r}; use NAME or NAME+constrain")
    return name, ({"constrain": True} if option else {})


def with_cap(grader: str, kwargs: dict[str, Any], max_tokens: int | None, model: Any) -> dict[str, Any]:
    """The grader's arguments with its answers capped at ``max_tokens`` (``rubric_pair`` passes ``params`` on to its
    scorer; ``listwise`` gets a capped scorer);
    ``win_probability`` answers one token anyway."""
    from rm_gallery.graders.registry import create_grader

    if max_tokens is None or grader == "win_probability":
        return kwargs
    cap = {"max_tokens": max_tokens}
    if grader == "listwise":
        return {**kwargs, "scorer": create_grader("rubric", model=model, params=cap)}
    return {**kwargs, "params": cap}


async def run_one(bench_name: str, row: str, model: Any, limit: int, out: Path, concurrency: int,
                  seed: int, *, max_tokens: int | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """One benchmark x one grader row (see :func:`grader_spec`) through ``rm-gallery bench``'s code path."""
    from rm_gallery.benchmarks.base import get_benchmark
    from rm_gallery.benchmarks.run import run_benchmark
    from rm_gallery.benchmarks.sources import load_rows
    from rm_gallery.graders.registry import create_grader

    grader_name, kwargs = grader_spec(row)
    kwargs = with_cap(grader_name, kwargs, max_tokens, model)
    bench = get_benchmark(bench_name)
    rows = load_rows(bench, sources()[bench_name], limit=limit)
    grader = create_grader(grader_name, model=model, **kwargs)
    started = time.perf_counter()
    summary = await run_benchmark(bench, rows, grader, out_dir=out / f"{bench_name}-{row.replace('+', '-')}", seed=seed,
                                  concurrency=concurrency, progress=False, n_boot=n_boot,
                                  info={"grader": row, "model": "smollm2-135m-instruct", "limit": limit,
                                        "max_tokens": max_tokens})
    wall = time.perf_counter() - started
    verdicts = summary["errors"]["judgments"]
    run = summary["run"]
    h = summary["headline"]
    return {"benchmark": bench_name, "grader": row, "max_tokens_cap": max_tokens, "rows": len(rows),
            "verdicts": verdicts,
            "headline": h["value"], "ci": h["ci"], "partial": h["partial"],
            "sections": {k: v["value"] for k, v in summary["sections"].items() if v.get("value") is not None},
            "parse_failure_rate": summary["errors"]["parse_failure_rate"],
            "failure_rate": summary["errors"]["failure_rate"],
            "position": summary.get("position"), "wall_seconds": round(wall, 1),
            "seconds_per_1000_verdicts": round(1000 * wall / verdicts, 1) if verdicts else None,
            "tokens_per_verdict": {"prompt": round(run["prompt_tokens"] / verdicts, 1) if verdicts else None,
                                   "completion": round(run["completion_tokens"] / verdicts, 1) if verdicts else None},
            "run_dir": str(out / f"{bench_name}-{row.replace('+', '-')}"),
            "report": str(out / f"{bench_name}-{row.replace('+', '-')}" / "report.md")}


def on_smollm2(run_all: Callable[[str, str], Awaitable[T]], base_url: str | None) -> tuple[T, float | None]:
    """``run_all(base_url, served_name)`` against a running SmolLM2 server, or one started (and stopped) for it;
    returns its result and the server's start-up seconds (None for a running server)."""
    from rm_gallery.local.models import BUILTIN, resolve_model
    from rm_gallery.local.vllm_server import VLLMServer

    if base_url:
        return asyncio.run(run_all(base_url, BUILTIN["smollm2"].served_name)), None
    with VLLMServer(resolve_model("smollm2"), served_model_name=BUILTIN["smollm2"].served_name, dtype="float32",
                    max_model_len=4096) as server:
        return asyncio.run(run_all(server.base_url, server.model_name)), server.startup_seconds


def table(results: list[dict[str, Any]], bench: str, limit: int, max_tokens: int | None = None) -> str:
    rows = [r for r in results if r["benchmark"] == bench]
    capped = f", answers capped at {max_tokens} tokens" if max_tokens else ""
    lines = [f"{bench} (SmolLM2-135M-Instruct, at most {limit} rows per subset/domain{capped})", "",
             "| grader | rows | verdicts | headline [95% CI] | parse failures | position consistency | "
             "s per 1,000 verdicts |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ci = f" [{100 * r['ci'][0]:.1f}, {100 * r['ci'][1]:.1f}]" if r["ci"] else ""
        head = "n/a" if r["headline"] is None else f"{100 * r['headline']:.1f}{ci}"
        cons = (r.get("position") or {}).get("consistency")
        lines.append(f"| {r['grader']} | {r['rows']} | {r['verdicts']} | {head}{' (partial)' if r['partial'] else ''}"
                     f" | {100 * r['parse_failure_rate']:.1f}% | {'n/a' if cons is None else f'{100 * cons:.0f}%'} | "
                     f"{r['seconds_per_1000_verdicts']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=20, help="rows per RewardBench subset / RM-Bench domain")
    p.add_argument("--graders", default=",".join(GRADERS))
    p.add_argument("--benchmarks", default="rewardbench,rmbench")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cap every generative grader's answer (default: each grader's own max_tokens)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one)")
    p.add_argument("--base-url", default=None, help="a running SmolLM2 server (default: start one)")
    p.add_argument("--quick", action="store_true", help="--limit 2")
    p.add_argument("--name", default="real_benchmarks", help="results file name (perf/results/NAME.json)")
    args = p.parse_args()
    limit = 2 if args.quick else args.limit
    out = args.out or Path(tempfile.mkdtemp(prefix="rm_gallery_real_bench_"))

    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.local.models import BUILTIN

    async def run_all(base_url: str, name: str) -> list[dict[str, Any]]:
        model = OpenAIChatModel(name, base_url=base_url, timeout=600)
        results = []
        try:
            for bench in args.benchmarks.split(","):
                for grader in args.graders.split(","):
                    r = await run_one(bench, grader, model, limit, out, args.concurrency, args.seed,
                                      max_tokens=args.max_tokens)
                    print(f"{bench} {grader}: {r['headline']} {r['ci']} in {r['wall_seconds']}s", flush=True)
                    results.append(r)
        finally:
            await model.aclose()
        return results

    started = time.perf_counter()
    results, startup = on_smollm2(run_all, args.base_url)
    tables = [table(results, bench, limit, args.max_tokens) for bench in args.benchmarks.split(",")]
    print("\n\n".join(tables))
    path = write_json(args.name, {"model": BUILTIN["smollm2"].description, "limit": limit,
                                          "concurrency": args.concurrency, "max_tokens": args.max_tokens,
                                          "server_startup_seconds": startup,
                                          "wall_seconds": round(time.perf_counter() - started, 1),
                                          "results": results, "tables": tables, "out": str(out)})
    print(f"figures: {path}; runs: {out}")


if __name__ == "__main__":
    main()
