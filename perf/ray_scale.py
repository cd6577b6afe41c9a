"""Distributed grading on Ray: judgments/s with 1, 2 and 4 actors next to one process, and what Ray costs.

Four stub replicas (``perf/stub_proc.py``, each in its own process) answer after L (default 50 ms). One grader
(pairwise), one judgment per sample. Each Ray actor runs a GradingRunner at concurrency C (default 32) and drives
its share of the replicas (1 actor: all four; 2: two each; 4: one each), so the ideal is A*C/L judgments/s for A
actors. Next to it, the single-process runner against the same four replicas at concurrency C and 4C.

Figures (median [min..max] of the repeats; the runs alternate):

* judgments/s end to end (``grade_on_ray`` call to return: actor start, reading, grading, part files);
* judgments/s inside the actors (samples over the longest time one actor spent in its batches);
* actors start s: from the call to an actor's first batch (median over actors): the fixed cost of a run;
* Ray ms/judgment: the time actors spent between their batches (scheduling, moving blocks, handing results
  back), summed over actors, per judgment — Ray Data's cost once running (writing a part is inside the batch);
* peak memory (VmHWM) per actor, from the statistics each actor stores with its parts.

The local Ray cluster is ``ray.init(num_cpus=2)`` with 0.5 CPU reserved per actor. Writes perf/results/ray_scale.json.
Usage: python perf/ray_scale.py [--n 6000] [--repeats 2] [--latency 0.05] [--concurrency 32] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import StubReplica, fmt, stats, table, write_json

ACTORS = (1, 2, 4)


def write_data(path: Path, n: int) -> Path:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"s{i}", "prompt": f"question {i}: which answer is better?",
                                "chosen": "a" * 200, "rejected": "b" * 200}) + "\n")
    return path


def config(urls: list[str], concurrency: int) -> dict[str, Any]:
    return {"model": {"model": "stub-judge", "base_url": urls, "api_key": "EMPTY", "timeout": 30},
            "graders": {"pref": {"grader": "pairwise"}}, "runner": {"concurrency": concurrency}}


def ray_run(data: Path, urls: list[str], actors: int, concurrency: int, shard_rows: int, n: int) -> dict[str, Any]:
    from rm_gallery.distributed import grade_on_ray
    from rm_gallery.distributed.shards import list_parts

    with tempfile.TemporaryDirectory() as out:
        t0, start = time.perf_counter(), time.time()
        summary = grade_on_ray(data, config(urls, concurrency), out, actors=actors, shard_rows=shard_rows,
                               num_cpus_per_actor=0.5)
        wall = time.perf_counter() - t0
        parts = [(p.stats, p.path.stat().st_mtime) for p in list_parts(out)]
    assert summary.outcomes == {"pref": {"verdict": n}}, summary.outcomes
    busy: dict[int, float] = {}
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    peak: dict[int, float] = {}
    for st, written in parts:  # a part is written when its batch ends; the batch began wall_s before
        slot = st.get("slot", 0)
        busy[slot] = busy.get(slot, 0.0) + float(st["wall_s"])
        first[slot] = min(first.get(slot, written), written - float(st["wall_s"]))
        last[slot] = max(last.get(slot, written), written)
        peak[slot] = max(peak.get(slot, 0.0), float(st.get("peak_rss_mb") or 0.0))
    between = sum(last[s] - first[s] - busy[s] for s in busy)  # actor time between its batches
    return {"per_s": n / wall, "in_actor_per_s": n / max(busy.values()), "overhead_ms": between / n * 1000,
            "startup_s": statistics.median(first[s] - start for s in first), "peak_mb": max(peak.values()),
            "wall": wall}


async def local_run(samples: list[Any], urls: list[str], concurrency: int) -> float:
    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.graders.pairwise import PairwiseGrader
    from rm_gallery.runner import GradingRunner

    model = OpenAIChatModel("stub-judge", base_url=urls, api_key="EMPTY", timeout=30)
    runner = GradingRunner({"pref": PairwiseGrader(model)}, concurrency=concurrency, progress=False)
    t0 = time.perf_counter()
    results = [r.results["pref"] async for r in runner.astream(samples)]
    wall = time.perf_counter() - t0
    await model.aclose()
    bad = [r for r in results if r.kind != "verdict"]
    assert not bad, f"{len(bad)} results are not verdicts, e.g. {bad[0]}"
    return len(samples) / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=6000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=32, help="runner concurrency per actor")
    ap.add_argument("--shard-rows", type=int, default=250)
    ap.add_argument("--quick", action="store_true", help="N=2000, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.n, args.repeats = 2000, 1
    import ray

    from rm_gallery.loaders import load_samples

    n, c, lat = args.n, args.concurrency, args.latency
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    runs: dict[str, list[dict[str, Any]]] = {str(a): [] for a in ACTORS}
    local: dict[str, list[float]] = {f"local C={c}": [], f"local C={4 * c}": []}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        urls = [stack.enter_context(StubReplica(lat)).url for _ in range(4)]
        data = write_data(Path(tmp) / "data.jsonl", n)
        samples = load_samples(data)
        ray_run(data, urls, 1, c, args.shard_rows, n)  # warm-up: worker processes, imports
        for rep in range(args.repeats):
            for a in ACTORS if rep % 2 == 0 else ACTORS[::-1]:
                runs[str(a)].append(ray_run(data, urls, a, c, args.shard_rows, n))
            for k, conc in ((f"local C={c}", c), (f"local C={4 * c}", 4 * c)):
                local[k].append(asyncio.run(local_run(samples, urls, conc)))
    ray.shutdown()

    report: dict[str, Any] = {"n": n, "repeats": args.repeats, "latency_s": lat, "concurrency_per_actor": c,
                              "shard_rows": args.shard_rows, "endpoints": 4, "ray_num_cpus": 2,
                              "cpu_per_actor": 0.5, "ray": {}, "local": {}}
    rows = [["run", "judgments/s", "inside actors /s", "ideal /s", "actors start s", "Ray ms/judgment",
             "peak MB/actor"]]
    for a in ACTORS:
        r = runs[str(a)]
        fig = {k: stats([x[k] for x in r])
               for k in ("per_s", "in_actor_per_s", "overhead_ms", "startup_s", "peak_mb", "wall")}
        fig["ideal_per_s"] = a * c / lat
        report["ray"][str(a)] = fig
        rows.append([f"Ray, {a} actor{'s' if a > 1 else ''}", fmt(fig["per_s"], ".0f"),
                     fmt(fig["in_actor_per_s"], ".0f"), f"{a * c / lat:.0f}", fmt(fig["startup_s"], ".1f"),
                     fmt(fig["overhead_ms"], ".3f"), fmt(fig["peak_mb"], ".0f")])
    for k, v in local.items():
        conc = int(k.split("=")[1])
        report["local"][k] = {"per_s": stats(v), "ideal_per_s": conc / lat}
        rows.append([f"one process, {k.split()[1]}", fmt(stats(v), ".0f"), "-", f"{conc / lat:.0f}", "-", "-",
                     "-"])
    print(f"Ray scale: 4 stub replicas with {lat * 1000:.0f} ms latency, N={n} judgments, runner concurrency {c} per "
          f"actor, ray.init(num_cpus=2), median [min..max] of {args.repeats} alternating runs")
    print(table(rows))
    print(f"\nwritten: {write_json('ray_scale', report)}")


if __name__ == "__main__":
    main()
