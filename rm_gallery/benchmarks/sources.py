"""Where benchmark rows come from: local files (json, jsonl, parquet), directories of them, or hub ids.

A source that exists on disk is read with :mod:`rm_gallery.loaders`; one that looks like ``owner/name`` and does
not exist is loaded from the Hugging Face hub with ``datasets`` (imported only then). Both failures a user can
hit there, ``datasets`` missing or the machine offline, are one-line :class:`DataError` s.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.base import Benchmark
from rm_gallery.loaders import DataError, iter_records

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SUFFIXES = (".json", ".jsonl", ".ndjson", ".parquet")


def expand(source: str | Path) -> list[Path]:
    """A file as is; a directory as its data files, subdirectories included (RMB nests its scenarios), in path
    order; hidden files and directories are left out."""
    path = Path(source)
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(path, None, "directory holds no .json, .jsonl or .parquet files")
    return files


def is_hub_id(source: str | Path) -> bool:
    """True for ``owner/name`` strings that are not an existing local path."""
    return isinstance(source, str) and not Path(source).exists() and bool(_HUB_ID.match(source))


def read_records(source: str | Path, *, split: str | None = None) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(origin, row, record)``: origin is the file path or ``hub-id:split``, rows count from 1."""
    if is_hub_id(source):
        yield from _hub_records(str(source), split)
        return
    for path in expand(source):
        for row, record in iter_records(path):
            yield str(path), row, record


def _hub_records(hub_id: str, split: str | None) -> Iterator[tuple[str, int, Any]]:
    try:
        import datasets
    except ImportError:
        raise DataError(hub_id, None, "loading from the Hugging Face hub needs `datasets`: "
                                      "pip install 'rm_gallery[bench]' (or pass a local file with --data)") from None
    origin = f"{hub_id}:{split}" if split else hub_id
    try:
        data = datasets.load_dataset(hub_id, split=split)
    except Exception as e:  # datasets raises many unrelated types for "offline" and "no such dataset"
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise DataError(origin, None, f"cannot load from the Hugging Face hub (offline, or no such dataset/split?): "
                                      f"{first}; pass a local file with --data") from None
    if not hasattr(data, "__iter__") or isinstance(data, dict):
        raise DataError(origin, None, "names several splits; choose one with --split")
    for row, record in enumerate(data, 1):
        yield origin, row, record


def load_rows(bench: Benchmark, sources: Sequence[str | Path], *, split: str | None = None,
              limit: int | None = None) -> list[Any]:
    """Validated rows of every source, in order; ``limit`` keeps the first N rows of each group (subset)."""
    rows: list[Any] = []
    seen: Counter[str] = Counter()
    for source in sources:
        for origin, row_no, record in read_records(source, split=split):
            row = bench.parse(origin, row_no, record)
            group = bench.group(row)
            if limit is not None and seen[group] >= limit:
                continue
            seen[group] += 1
            rows.append(row)
    if not rows:
        raise DataError(", ".join(map(str, sources)), None, "holds no rows")
    return rows
