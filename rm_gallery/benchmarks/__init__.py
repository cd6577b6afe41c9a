"""Benchmarks with their official scoring: RewardBench v1/v2, RM-Bench, JudgeBench, RMB.

One benchmark run, end to end::

    rows ──schemas──▶ units (what to grade) ──GradingRunner──▶ results ──scorer──▶ numbers ──▶ report dir
                                                  │                       │
                                       samples.jsonl (raw outputs)   bootstrap CIs, position and error stats

| module          | what it holds                                                                 |
|-----------------|-------------------------------------------------------------------------------|
| sources         | rows from local json/jsonl/parquet files, directories or Hugging Face hub ids  |
| schemas         | validated row types; a bad row is a DataError naming file, row and field       |
| judges          | how a grader is run per benchmark: both orders, per-response scores, routing    |
| outcomes        | per-judgment decisions read back from results, and the error convention        |
| four_way        | the RewardBench 2 best-of-four judge ([[A]]..[[D]]) and its parser             |
| rewardbench     | RewardBench v1: sections, official example-count weights, prior sets           |
| rmbench         | RM-Bench: 3x3 style matrix, hard / normal / easy, domains                      |
| rewardbench2    | RewardBench 2: best-of-four or ratings, headline over subsets                  |
| ties            | RewardBench 2 Ties: the official weighted formula                              |
| judgebench      | JudgeBench: both-order counter accounting                                      |
| rmb             | RMB: pairwise and best-of-N sets, four pooled sections, 49 scenarios each      |
| stats, position | seeded stratified bootstrap; position-consistency statistics                   |
| evaluate, run   | results -> summary; the whole run (grading, scoring, report)                   |
| report, plots   | JSON summary, markdown table, PNG plots                                        |
| cli             | ``rm-gallery bench {rewardbench,rewardbench2,rmbench,judgebench,rmb}``         |

Heavy dependencies (``datasets``, ``matplotlib``, ``pyarrow``) are imported inside the functions that use them.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BENCHMARKS": "rm_gallery.benchmarks.base",
    "get_benchmark": "rm_gallery.benchmarks.base",
    "load_rows": "rm_gallery.benchmarks.sources",
    "run_benchmark": "rm_gallery.benchmarks.run",
    "evaluate": "rm_gallery.benchmarks.evaluate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:  # lazy, so `rm-gallery --help` does not import the benchmark stack
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rm_gallery.benchmarks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
