"""Every grader of the catalogue on the built-in real judge (SmolLM2-135M-Instruct): does its format survive?

For each LLM grader, RewardBench's shared rows (``--limit`` per subset, both presentation orders for pairwise
graders, each response scored once for pointwise ones) go through ``rm-gallery bench``'s code path against
SmolLM2 served by vLLM on CPU, with the grader's own prompt and parser and natural (unconstrained) output.
``four_way`` needs four responses: it runs on best-of-4 samples built from RM-Bench chat (each prompt's first
chosen response among its three rejected ones, the chosen one's slot rotating so every slot holds it equally).

Per grader: the parse-failure rate (unreadable answers over answers), position consistency (both orders give
the same pair-level verdict; pairwise graders only), mean completion tokens per answer, accuracy with its CI
(context only: this model is weak), and one unreadable output for the eye. ``debiased`` is the both-orders
wrapper the pairwise rows already use; ``function`` calls no model. Writes ``perf/results/real_catalogue.json``.

Usage: python perf/real_catalogue.py [--limit 4] [--graders ...] [--base-url URL]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json
from real_benchmarks import SHARED, grader_spec, on_smollm2, run_one

#: Rows: the catalogue's graders with their defaults, and ``NAME+constrain`` for the option that forces the
#: answer format with vLLM's structured outputs (``constrain=True``).
CATALOGUE = ("pairwise", "pairwise_aspects", "pairwise_confidence", "reasoning", "rubric_pairwise", "rubric_pair",
             "win_probability", "rubric", "relevance", "listwise", "four_way", "pairwise+constrain",
             "reasoning+constrain", "rubric+constrain", "rubric_pairwise+constrain", "pairwise_aspects+constrain",
             "pairwise_confidence+constrain", "relevance+constrain", "four_way+constrain")
NOT_RUN = {"debiased": "the both-orders wrapper every pairwise row above runs through",
           "function": "a Python function: no model call"}


def best_of_four(limit: int) -> list[Any]:
    """Best-of-4 samples from RM-Bench chat: [chosen, 3 rejected] with the chosen one's slot rotating."""
    from rm_gallery.types import Message, Response, Sample

    samples = []
    rows = json.loads((SHARED / "rm-bench" / "chat_filtered.json").read_text())[:limit]
    for i, row in enumerate(rows):
        others = [Response(content=r) for r in row["rejected"][:3]]
        slot = i % 4
        responses = [*others[:slot], Response(content=row["chosen"][0]), *others[slot:]]
        samples.append(Sample(id=f"rmbench-chat/{row['id']}", messages=(Message(role="user", content=row["prompt"]),),
                              responses=tuple(responses), metadata={"best": slot}))
    return samples


async def run_four_way(model: Any, limit: int, params: dict[str, Any], **options: Any) -> dict[str, Any]:
    from rm_gallery.benchmarks.position import pick_stats
    from rm_gallery.graders.registry import create_grader
    from rm_gallery.runner import GradingRunner

    samples = best_of_four(limit)
    runner = GradingRunner({"four_way": create_grader("four_way", model=model, params=params, **options)},
                           concurrency=16, progress=False)
    started = time.perf_counter()
    results = [r["four_way"] for r in await runner.arun(samples)]
    wall = time.perf_counter() - started
    picks = [(s.metadata["best"], r.order[0] if r.kind == "rank" else None)
             for s, r in zip(samples, results, strict=True)]
    parse = sum(r.kind == "parse_error" for r in results)
    tokens = sum(r.usage.completion_tokens for r in results)
    failed = next((r.raw for r in results if r.kind == "parse_error"), None)
    return {"benchmark": "rmbench-chat best-of-4", "grader": "four_way", "rows": len(samples),
            "verdicts": len(results), "headline": sum(c == p for c, p in picks) / len(picks), "ci": None,
            "parse_failure_rate": parse / len(results), "position": {"picks": pick_stats(picks)},
            "tokens_per_verdict": {"completion": round(tokens / len(results), 1)},
            "wall_seconds": round(wall, 1), "unreadable_example": failed}


def unreadable_example(run_dir: Path) -> str | None:
    """The first unreadable answer a run kept (its raw output), for the eye."""
    from rm_gallery.results_io import read_results

    for rec in read_results(run_dir / "samples.jsonl"):
        result = rec["result"]
        for order in (result.metadata or {}).get("orders", {}).values():
            if isinstance(order, dict) and order.get("kind") == "parse_error":
                return order.get("raw")
        if result.kind == "parse_error":
            return result.raw
        for kind, raw in zip((result.metadata or {}).get("kinds", ()), (result.metadata or {}).get("raws", ()),
                             strict=False):
            if kind == "parse_error":
                return raw
    return None


def consistency(r: dict[str, Any]) -> float | None:
    pos = r.get("position") or {}
    return pos.get("consistency")


def table(results: list[dict[str, Any]], limit: int, cap: int | None) -> str:
    capped = f"; answers capped at {cap} tokens" if cap else ""
    lines = [f"Catalogue on SmolLM2-135M-Instruct (RewardBench shared subsets, {limit} rows per subset; four_way: "
             f"{limit} RM-Bench chat prompts as best-of-4{capped})", "",
             "| grader | answers | parse failures | position consistency | completion tokens per answer | "
             "accuracy |", "|---|---|---|---|---|---|"]
    for r in results:
        c, acc = consistency(r), r["headline"]
        lines.append(f"| {r['grader']} | {r['verdicts']} | {100 * r['parse_failure_rate']:.0f}% | "
                     f"{'n/a' if c is None else f'{100 * c:.0f}%'} | {r['tokens_per_verdict']['completion']} | "
                     f"{'n/a' if acc is None else f'{100 * acc:.0f}%'} |")
    lines += ["", *(f"`{k}`: not run separately ({v})." for k, v in NOT_RUN.items())]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=4, help="rows per RewardBench subset (and best-of-4 prompts)")
    p.add_argument("--graders", default=",".join(CATALOGUE))
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cap every generative grader's answer (default: each grader's own max_tokens)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one)")
    p.add_argument("--base-url", default=None, help="a running SmolLM2 server (default: start one)")
    p.add_argument("--name", default="real_catalogue", help="results file name (perf/results/NAME.json)")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rm_gallery_real_catalogue_"))

    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.local.models import BUILTIN

    failed: list[dict[str, Any]] = []

    async def run_all(base_url: str, name: str) -> list[dict[str, Any]]:
        model = OpenAIChatModel(name, base_url=base_url, timeout=600)
        results: list[dict[str, Any]] = []
        try:
            for row in args.graders.split(","):
                try:
                    name, options = grader_spec(row)
                    if name == "four_way":
                        r = await run_four_way(model, args.limit, {} if args.max_tokens is None
                                               else {"max_tokens": args.max_tokens}, **options)
                    else:
                        r = await run_one("rewardbench", row, model, args.limit, out, args.concurrency, 0,
                                          max_tokens=args.max_tokens, n_boot=200)
                        r["unreadable_example"] = unreadable_example(Path(r["run_dir"]))
                except Exception as exc:  # one row's failure must not cost the other rows' figures
                    print(f"{row}: FAILED {type(exc).__name__}: {exc}", flush=True)
                    failed.append({"grader": row, "error": f"{type(exc).__name__}: {exc}"})
                    continue
                r["grader"] = row
                r["max_tokens_cap"] = args.max_tokens
                print(f"{row}: parse failures {r['parse_failure_rate']:.2f}, consistency {consistency(r)}, "
                      f"{r['tokens_per_verdict']['completion']} tokens/answer, {r['wall_seconds']}s", flush=True)
                results.append(r)
        finally:
            await model.aclose()
        return results

    started = time.perf_counter()
    results, _ = on_smollm2(run_all, args.base_url)
    text = table(results, args.limit, args.max_tokens)
    print(text)
    path = write_json(args.name, {"model": BUILTIN["smollm2"].description, "limit": args.limit,
                                         "wall_seconds": round(time.perf_counter() - started, 1),
                                         "results": results, "failed": failed, "table": text,
                                         "out": str(out)})
    print(f"figures: {path}; runs: {out}")


if __name__ == "__main__":
    main()
