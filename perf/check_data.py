"""What `rm-gallery grade` pays to validate a whole data file before it contacts the judge.

``check_samples`` reads every row once (the same parsing the run then repeats) and keeps nothing. This script
writes N preference pairs (about 1 KB each) as JSONL, times the check (median of repeats), and reads resident
memory before and after: rows/s, the time a million rows would take, and the RSS growth (which must stay flat:
nothing is kept). The machine is shared, so read the rows/s as noisy.

Usage: python perf/check_data.py [--rows 200000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import stats, table, write_json


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_rows(path: Path, n: int) -> None:
    text = "word " * 90
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "prompt": f"Question {i}: {text}", "chosen": f"Good {text}",
                                "rejected": f"Bad {text}", "subset": "perf"}) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="50k rows, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeats = 50_000, 2

    from rm_gallery.loaders import check_samples

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.jsonl"
        write_rows(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        check_samples(path, limit=1000)  # warm-up: imports, pydantic schemas
        before = rss_mb()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            report = check_samples(path)
            times.append(time.perf_counter() - t0)
            assert report.rows == args.rows and not report.skipped
        growth = rss_mb() - before
    s = stats(times)
    per_s = args.rows / s["median"]
    print(table([["rows", "file MB", "check s (median [min..max])", "rows/s", "1M rows, s", "RSS growth MB"],
                 [str(args.rows), f"{size_mb:.0f}", f"{s['median']:.2f} [{s['min']:.2f}..{s['max']:.2f}]",
                  f"{per_s:,.0f}", f"{1e6 / per_s:.0f}", f"{growth:.1f}"]]))
    write_json("check_data", {"rows": args.rows, "file_mb": size_mb, "seconds": s, "rows_per_s": per_s,
                           "million_rows_s": 1e6 / per_s, "rss_growth_mb": growth})


if __name__ == "__main__":
    main()
