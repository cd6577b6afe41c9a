"""The results file: one JSON line per (sample, grader) as it completes, and the index that makes resume work.

Every line is written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a crash (even SIGKILL)
leaves at most one partial last line, which :func:`scan_results` detects and trims. Lines look like::

    {"index": 7, "sample_id": "rb-7", "grader": "pairwise", "result": {"kind": "verdict", ...}}

Aggregates use the same shape with ``"aggregate": true``. The file is append-only: when a resumed run grades a
pair again (``retry_errors``: its stored result was an api_error or a timeout), the later line supersedes the
earlier one, for resume and for :func:`read_results` alike.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_gallery.types import Result, result_from_json

try:
    import orjson

    _dumps = orjson.dumps
    _loads = orjson.loads
except ImportError:  # pragma: no cover

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False).encode()

    _loads = json.loads

log = logging.getLogger(__name__)


class ResultsFileError(ValueError):
    """The results file cannot be resumed from (damaged in the middle, or written for other input)."""


@dataclass
class ResumeIndex:
    """Where each finished (sample index, grader) pair sits in the results file, by byte offset.

    Offsets (not results) are kept, so resuming a 100k-sample run costs a few MB; a finished result is
    read back only when it is needed (for an aggregate or to hand back to the caller).
    """

    path: Path
    offsets: dict[str, dict[int, int]] = field(default_factory=dict)
    sample_ids: dict[int, str] = field(default_factory=dict)
    trimmed_bytes: int = 0
    #: (grader, index) pairs dropped from ``offsets`` to be graded again (``retry_errors``).
    retrying: int = 0

    def done(self, grader: str, index: int) -> bool:
        by = self.offsets.get(grader)
        return by is not None and index in by

    def __len__(self) -> int:
        return sum(len(v) for v in self.offsets.values())

    def load(self, grader: str, index: int) -> Result:
        with open(self.path, "rb") as f:
            f.seek(self.offsets[grader][index])
            return result_from_json(_loads(f.readline())["result"])


#: Result kinds a resumed run grades again with ``retry_errors``: the server's fault, not the sample's.
TRANSIENT_KINDS = frozenset({"api_error", "timeout"})


def scan_results(path: str | Path, *, retry_errors: bool = False) -> ResumeIndex:
    """Index an existing results file; trim a partial last line left by a crash (with a warning).

    With ``retry_errors``, pairs whose latest result is an api_error or a timeout are left out of the index
    (so they are graded again), and so are the aggregates of their samples (recomputed from the new results).
    """
    path = Path(path)
    index = ResumeIndex(path)
    if not path.exists():
        return index
    size = path.stat().st_size
    offset = 0
    transient: set[tuple[str, int]] = set()
    aggregates: set[str] = set()
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            start, offset = offset, offset + len(line)
            if not line.strip():
                continue
            try:
                rec = _loads(line)
                key_idx, grader = int(rec["index"]), str(rec["grader"])
                kind = rec["result"]["kind"]
                complete = line.endswith(b"\n")
            except (ValueError, KeyError, TypeError):
                complete = False
            if not complete:
                if offset == size:  # a half-written last line: the crash case
                    index.trimmed_bytes = size - start
                    break
                raise ResultsFileError(f"{path} line {lineno} is not a valid result record; "
                                       "fix or delete that line, or start over without resume")
            prev = index.sample_ids.setdefault(key_idx, str(rec["sample_id"]))
            if prev != str(rec["sample_id"]):
                raise ResultsFileError(
                    f"{path} line {lineno}: row {key_idx} was sample {prev!r} but is now {rec['sample_id']!r}; "
                    "the input changed since this file was written, so it cannot be resumed")
            index.offsets.setdefault(grader, {})[key_idx] = start  # a later line supersedes an earlier one
            if rec.get("aggregate"):
                aggregates.add(grader)
            elif retry_errors:
                (transient.add if kind in TRANSIENT_KINDS else transient.discard)((grader, key_idx))
    if transient:
        for grader, key_idx in transient:
            del index.offsets[grader][key_idx]
        stale = {key_idx for _, key_idx in transient}
        for grader in aggregates:
            for key_idx in stale & index.offsets.get(grader, {}).keys():
                del index.offsets[grader][key_idx]
        index.retrying = len(transient)
    if index.trimmed_bytes:
        log.warning("%s ended with a partial line (%d bytes, from an interrupted run); removed it",
                    path, index.trimmed_bytes)
        with open(path, "r+b") as f:
            f.truncate(size - index.trimmed_bytes)
    return index


class ResultsWriter:
    """Appends result lines with one ``os.write`` each: no user-space buffer to lose in a crash."""

    def __init__(self, path: str | Path, *, append: bool) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if append else os.O_TRUNC)
        self._fd: int | None = os.open(self.path, flags, 0o644)
        self.lines = 0

    def write(self, index: int, sample_id: str, grader: str, result: Result, *, aggregate: bool = False) -> None:
        assert self._fd is not None, "writer is closed"
        data = result_line(index, sample_id, grader, result, aggregate=aggregate)
        written = os.write(self._fd, data)
        while written < len(data):  # regular files write whole buffers; this loop is for the odd filesystem
            written += os.write(self._fd, data[written:])
        self.lines += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def result_line(index: int, sample_id: str, grader: str, result: Result, *, aggregate: bool = False) -> bytes:
    """One line of a results file (sharded runs write the same lines in their JSONL parts)."""
    head = _dumps({"index": index, "sample_id": sample_id, "grader": grader})[:-1]
    agg = b',"aggregate":true' if aggregate else b""
    return head + agg + b',"result":' + result.model_dump_json().encode() + b"}\n"


def _key(line: bytes) -> tuple[int, str]:
    """(index, grader) of a result line, decoding only the short head that :class:`ResultsWriter` puts before
    ``"result"`` (a quote inside a JSON string is escaped, so the marker cannot occur earlier); whole line otherwise."""
    cut = line.find(b',"result":')
    rec = _loads(line[:cut] + b"}") if cut > 0 else _loads(line)
    return int(rec["index"]), str(rec["grader"])


def read_results(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield the records of a results file (``result`` parsed into a typed Result), in file order.

    A record superseded by a later line for the same (sample, grader) — a pair graded again by a resumed
    run with ``retry_errors`` — is skipped, so every pair appears once, with its latest result. ``path`` may
    also be the output directory of a distributed run (:mod:`rm_gallery.distributed`): its shards are read
    in sample order, as if they were one file.
    """
    from rm_gallery.distributed.shards import is_sharded, iter_sharded_records

    if is_sharded(path):
        yield from iter_sharded_records(path)
        return
    latest: dict[tuple[int, str], int] = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f):
            if line.strip():
                latest[_key(line)] = lineno
        f.seek(0)
        for lineno, line in enumerate(f):
            if line.strip():
                rec = _loads(line)
                if latest.get((int(rec["index"]), str(rec["grader"]))) != lineno:
                    continue
                rec["result"] = result_from_json(rec["result"])
                yield rec


def summarize_results(path: str | Path) -> Any:
    """The :class:`~rm_gallery.run_results.RunSummary` of a finished run: a results file or a sharded directory.

    Outcomes and tokens are counted from the results; request counts and wall time come from the run's own
    record (``<file>.summary.json`` beside a results file, the manifest of a sharded run).
    """
    from collections import Counter

    from rm_gallery.distributed.shards import is_sharded, sharded_summary
    from rm_gallery.run_results import RunSummary

    if is_sharded(path):
        return sharded_summary(path)
    summary = RunSummary()
    seen: set[int] = set()
    for rec in read_results(path):
        if rec.get("aggregate"):
            continue
        seen.add(rec["index"])
        summary.count(rec["grader"], rec["result"])
    summary.samples = len(seen)
    side = Path(str(path) + ".summary.json")
    if side.is_file():
        data = json.loads(side.read_text())
        summary.requests, summary.retries = data.get("requests", 0), data.get("retries", 0)
        summary.failures = dict(Counter(data.get("failures", {})))
        summary.cache_hits, summary.wall_s = data.get("cache_hits", 0), data.get("wall_s", 0.0)
    return summary
