"""The model client's transports side by side: requests/s and client CPU ms per request, zero-latency stub, C=64.

``OpenAIChatModel.complete`` (retries, pool, response parsing included) with each transport — ``http11`` (the
default for http://, responses parsed by llhttp via httptools), ``aiohttp``, ``openai`` (the official SDK over
httpx) — and a bare aiohttp POST loop as the floor, alternating in one run against one stub server in its own
process. ``http11 (hand parser)`` is the same transport as of ``--baseline`` (default: the last commit whose
``http11.py`` parsed responses by hand), loaded from git, so the parser swap is measured side by side.

Writes perf/results/transports.json. Usage: python perf/transports.py [--n 10000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuWall, fmt, stats, stub_process, table, write_json
from engine_throughput import bare_aiohttp

TRANSPORTS = ("http11", "aiohttp", "openai")
HAND = "http11 (hand parser)"
HTTP11 = "rm_gallery/client/http11.py"
MESSAGES = [{"role": "system", "content": "You are a judge."},
            {"role": "user", "content": "Which response is better, A or B? Answer with <preference>A</preference>."}]


def hand_parser_module(rev: str | None) -> tuple[Any, str]:
    """``http11.py`` as of ``rev`` (default: the newest commit where it does not use httptools), imported."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout

    if rev is None:
        rev = next(h for h in git("log", "--format=%H", "--", HTTP11).split()
                   if "httptools" not in git("show", f"{h}:{HTTP11}"))
    path = Path(tempfile.mkdtemp()) / "http11_hand.py"
    path.write_text(git("show", f"{rev}:{HTTP11}"))
    spec = importlib.util.spec_from_file_location("rm_gallery.client._http11_hand", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module, rev[:10]


async def client(url: str, transport: str, n: int, concurrency: int, hand: Any = None) -> CpuWall:
    from rm_gallery.client import OpenAIChatModel

    model = OpenAIChatModel("stub-judge", base_url=url, api_key="EMPTY",
                            transport="http11" if transport == HAND else transport)
    if transport == HAND:
        model._transport = hand.HTTP11Transport("EMPTY")
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
    p.add_argument("--baseline", help="git revision of the hand-parsing http11.py (default: found in git log)")
    args = p.parse_args()
    n, repeats = (2_000, 1) if args.quick else (args.n, args.repeats)
    hand, rev = hand_parser_module(args.baseline)
    names = ("bare aiohttp POST", "http11", HAND, *TRANSPORTS[1:])
    rate: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    with stub_process(0.0) as url:
        for _ in range(repeats):
            for name in names:
                run = (bare_aiohttp(url, n, args.concurrency) if name == names[0]
                       else client(url, name, n, args.concurrency, hand))
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
    # the parser swap, paired: the ratio of each repeat's two runs (they ran back to back), then the median
    pairs = stats([a / b for a, b in zip(cpu["http11"], cpu[HAND], strict=True)])
    print(f"transports: zero-latency stub, C={args.concurrency}, N={n}, {repeats} alternating repeats "
          "(median [min..max])")
    print(table(rows))
    print(f"\nhttp11 CPU per request, llhttp (httptools) vs hand parser at {rev}: {fmt(pairs, '.2f')}x "
          "(paired per repeat; target <= 1.3x)")
    path = write_json("transports", {"n": n, "concurrency": args.concurrency, "repeats": repeats,
                                     "clients": figures, "hand_parser_rev": rev,
                                     "httptools_vs_hand_cpu_ratio": pairs})
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
