"""The model client's transports side by side: requests/s and client CPU ms per request, zero-latency stub, C=64.

``OpenAIChatModel.complete`` (retries, pool, response parsing included) with each transport — ``http11`` (the
default for http://), ``aiohttp``, ``openai`` (the official SDK over httpx) — and a bare aiohttp POST loop as the
floor, alternating in one run against one stub server in its own process.

Writes perf/results/transports.json. Usage: python perf/transports.py [--n 10000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuWall, fmt, stats, stub_process, table, write_json
from engine_throughput import bare_aiohttp

TRANSPORTS = ("http11", "aiohttp", "openai")
MESSAGES = [{"role": "system", "content": "You are a judge."},
            {"role": "user", "content": "Which response is better, A or B? Answer with <preference>A</preference>."}]


async def client(url: str, transport: str, n: int, concurrency: int) -> CpuWall:
    from rm_gallery.client import OpenAIChatModel

    model = OpenAIChatModel("stub-judge", base_url=url, api_key="EMPTY", transport=transport)
    remaining = n
    texts = 0

    async def worker() -> None:
        nonlocal remaining, texts
        while remaining > 0:
            remaining -= 1
            completion = await model.complete(MESSAGES, max_tokens=16, temperature=0)
            texts += bool(completion.text)

    await model.complete(MESSAGES)  # connect outside the timed block, as the bare loop's session does
    with CpuWall() as cw:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    await model.aclose()
    assert texts == n, f"{transport}: {texts} of {n} answers"
    return cw


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="N=2000, one repeat")
    args = p.parse_args()
    n, repeats = (2_000, 1) if args.quick else (args.n, args.repeats)
    names = ("bare aiohttp POST", *TRANSPORTS)
    rate: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    with stub_process(0.0) as url:
        for _ in range(repeats):
            for name in names:
                run = (bare_aiohttp(url, n, args.concurrency) if name == names[0]
                       else client(url, name, n, args.concurrency))
                cw = asyncio.run(run)
                rate[name].append(n / cw.wall)
                cpu[name].append(cw.cpu / n * 1000)
    figures = {name: {"per_s": stats(rate[name]), "cpu_ms": stats(cpu[name])} for name in names}
    floor = figures[names[0]]["cpu_ms"]["median"]
    rows = [["client", "requests/s", "CPU ms/request", "CPU vs bare"]]
    for name in names:
        f = figures[name]
        rows.append([name if name == names[0] else f"OpenAIChatModel({name})", fmt(f["per_s"], ".0f"),
                     fmt(f["cpu_ms"], ".3f"), f"{f['cpu_ms']['median'] / floor:.2f}x"])
    print(f"transports: zero-latency stub, C={args.concurrency}, N={n}, {repeats} alternating repeats "
          "(median [min..max])")
    print(table(rows))
    path = write_json("transports", {"n": n, "concurrency": args.concurrency, "repeats": repeats,
                                     "clients": figures})
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
