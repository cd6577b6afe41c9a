"""What the judgments cost: tokens and wall time per 1,000 verdicts, and money when prices are given.

A verdict here is one judgment of a pair: one presentation order for a pairwise judge (a both-order run makes
two per pair), one pair (two response scores) for a pointwise judge. Failed judgments count: they were paid for.

* Tokens: the usage stored with every result, summed over all pairs (so a resumed run counts every part).
  Responses served from the response cache carry their original usage: the figures say what the judgments
  cost to produce, not what this run paid.
* Wall time: the run's wall clock divided by the judgments graded in that session (results it did not load
  from a resumed file), at the run's concurrency; unknown without the run summary.
* Money: ``price_in`` and ``price_out`` in currency units per 1M prompt and completion tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rm_gallery.metaeval.pairs import Pair


def per_thousand(total: float, count: int) -> float | None:
    return 1000.0 * total / count if count else None


def cost_section(pairs: Sequence[Pair], run: Mapping[str, Any] | None = None, *, price_in: float | None = None,
                 price_out: float | None = None) -> dict[str, Any]:
    """Token, time and (with prices) money figures per 1,000 verdicts; see the module docstring."""
    judgments = sum(len(p.verdicts) for p in pairs)
    prompt = sum(p.prompt_tokens for p in pairs)
    completion = sum(p.completion_tokens for p in pairs)
    latencies = [p.latency_s for p in pairs if p.latency_s is not None]
    out: dict[str, Any] = {
        "verdicts": judgments, "prompt_tokens": prompt, "completion_tokens": completion,
        "prompt_tokens_per_1000": per_thousand(prompt, judgments),
        "completion_tokens_per_1000": per_thousand(completion, judgments),
        "mean_latency_s": sum(latencies) / len(latencies) if latencies else None,
        "wall_s": None, "wall_s_per_1000": None, "notes": [],
    }
    if run:
        graded = sum(sum(c.values()) for c in (run.get("outcomes") or {}).values())
        per_result = judgments / len(pairs) if pairs else 0.0
        out["wall_s"] = run.get("wall_s")
        if graded and out["wall_s"] is not None:
            out["wall_s_per_1000"] = 1000.0 * out["wall_s"] / (graded * per_result)
        else:
            out["notes"].append("no judgment was graded in the recorded session (all resumed): wall time unknown")
        if run.get("cache_hits"):
            out["notes"].append(f"{run['cache_hits']} responses came from the cache: wall time is lower and token "
                                "counts are those of the original requests")
    else:
        out["notes"].append("no run summary found: wall time unknown")
    if price_in is not None or price_out is not None:
        money = (prompt * (price_in or 0.0) + completion * (price_out or 0.0)) / 1e6
        out |= {"price_in": price_in, "price_out": price_out, "money": money,
                "money_per_1000": per_thousand(money, judgments)}
    return out
