"""Sharded results: the plan that cuts an input file into shards, the part files, the manifest, reading them back.

A distributed run writes under its output directory::

    manifest.json                              the input (and its fingerprint), graders, shard plan; when the run
                                               is complete, its summary
    parts/shard-000042.0000042000.parquet      results of shard 42 from sample index 42000 on: one row per
                                               (sample, grader) and per (sample, aggregator)
    parts/shard-000042.0000042000.jsonl        the same records as a local results file (with ``jsonl=True``)

A part file is written under a temporary name and renamed into place, so it is whole or absent; a shard is
finished when its parts hold all its samples. A worker that dies mid-batch leaves nothing; the batch graded again
writes the same name, so nothing is ever counted twice. Needs only pyarrow (no Ray): results and summaries of a
sharded run are read anywhere.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_gallery.loaders import DataError, detect_format
from rm_gallery.types import Result, result_from_json

FORMAT = "rm_gallery.sharded/1"
MANIFEST = "manifest.json"
PARTS = "parts"
_PART = re.compile(r"^shard-(\d+)\.(\d+)\.parquet$")
#: Key of the run statistics a worker stores in each parquet part's metadata.
PART_STATS = b"rm_gallery"
RESULT_COLUMNS = ("shard", "index", "sample_id", "grader", "aggregate", "kind", "result", "prompt_tokens",
                  "completion_tokens")


@dataclass(frozen=True)
class Shard:
    """A run of consecutive samples: ``count`` samples from index ``first_index`` (file row ``first_row``).

    ``start``/``end`` locate it in the file: a byte range for JSONL, a record range for JSON and parquet.
    """

    id: int
    first_index: int
    first_row: int
    count: int
    start: int
    end: int


# -- input --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputFile:
    """A data file on any filesystem pyarrow knows (local paths, ``file://``, ``s3://``, ``gs://``, ``hdfs://``)."""

    uri: str
    fmt: str

    @classmethod
    def resolve(cls, uri: str | Path, fmt: str | None = None) -> InputFile:
        text = str(uri)
        if "://" not in text:
            path = Path(text).expanduser()
            if not path.exists():
                raise DataError(text, None, "no such file")
            if path.is_dir():
                raise DataError(text, None, "is a directory, not a data file")
            text = str(path.resolve())
        return cls(text, fmt or detect_format(Path(text.split("://", 1)[-1])))

    def filesystem(self) -> tuple[Any, str]:
        from pyarrow import fs

        if "://" in self.uri:
            return fs.FileSystem.from_uri(self.uri)
        return fs.LocalFileSystem(), self.uri

    def fingerprint(self) -> dict[str, Any]:
        """Size and a hash of the first and last MiB: enough to notice a different file, cheap on a huge one."""
        filesystem, path = self.filesystem()
        size = filesystem.get_file_info(path).size
        h = hashlib.sha256()
        with filesystem.open_input_file(path) as f:
            h.update(f.read(1 << 20))
            if size > 1 << 20:
                f.seek(max(1 << 20, size - (1 << 20)))
                h.update(f.read())
        return {"size": size, "sha256_head_tail": h.hexdigest()}


def plan_shards(source: InputFile, shard_rows: int) -> tuple[list[Shard], list[Any] | None]:
    """Cut the input into shards of ``shard_rows`` samples; JSON (one document) also returns its records."""
    if shard_rows < 1:
        raise ValueError("shard_rows must be at least 1")
    if source.fmt == "jsonl":
        return _plan_jsonl(source, shard_rows), None
    if source.fmt == "parquet":
        return _plan_rows(_parquet_rows(source), shard_rows), None
    if "://" in source.uri:
        raise DataError(source.uri, None, "a .json document is read whole on the driver: use a local path, or "
                                          "JSONL/parquet for remote input")
    from rm_gallery.loaders import _iter_json

    records = [rec for _, rec in _iter_json(Path(source.uri))]
    return _plan_rows(len(records), shard_rows), records


def _plan_rows(n: int, shard_rows: int) -> list[Shard]:
    return [Shard(i, start, start + 1, min(shard_rows, n - start), start, min(start + shard_rows, n))
            for i, start in enumerate(range(0, n, shard_rows))]


def _parquet_rows(source: InputFile) -> int:
    import pyarrow.parquet as pq

    filesystem, path = source.filesystem()
    try:
        with filesystem.open_input_file(path) as f:
            return pq.ParquetFile(f).metadata.num_rows
    except (OSError, ValueError) as e:
        raise DataError(source.uri, None, f"is not a readable parquet file ({' '.join(str(e).split())[:300]})") \
            from None


def iter_lines(f: Any, chunk: int = 1 << 22) -> Iterator[bytes]:
    """The lines of a binary stream (each with its ``\\n``), read in large chunks."""
    rest = b""
    while True:
        data = f.read(chunk)
        if not data:
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


def _plan_jsonl(source: InputFile, shard_rows: int) -> list[Shard]:
    """One pass over the file: byte ranges of every ``shard_rows`` non-blank lines, and where each starts."""
    filesystem, path = source.filesystem()
    shards: list[Shard] = []
    offset = row = index = count = 0
    first_index = first_row = start = 0
    with filesystem.open_input_stream(path) as f:
        for line in iter_lines(f):
            row += 1
            if line.strip():
                if count == 0:
                    first_index, first_row, start = index, row, offset
                count += 1
                index += 1
            offset += len(line)
            if count == shard_rows:
                shards.append(Shard(len(shards), first_index, first_row, count, start, offset))
                count = 0
    if count:
        shards.append(Shard(len(shards), first_index, first_row, count, start, offset))
    return shards


def read_shard(source: InputFile, shard: Shard, records: list[Any] | None = None) -> list[tuple[int, int, Any]]:
    """``(index, row, record | DataError)`` for every sample of a shard, exactly as the local loaders see them."""
    if records is not None:
        return [(shard.first_index + i, shard.first_row + i, rec)
                for i, rec in enumerate(records[shard.start:shard.end])]
    if source.fmt == "jsonl":
        from rm_gallery.loaders import decode_jsonl_line

        filesystem, path = source.filesystem()
        with filesystem.open_input_file(path) as f:
            f.seek(shard.start)
            data = f.read(shard.end - shard.start)
        out = []
        index, row = shard.first_index, shard.first_row
        for line in data.split(b"\n"):
            if line.strip():
                out.append((index, row, decode_jsonl_line(source.uri, row, line)))
                index += 1
            row += 1
        return out[:shard.count]
    return _read_parquet_shard(source, shard)


def _read_parquet_shard(source: InputFile, shard: Shard) -> list[tuple[int, int, Any]]:
    """The shard's rows from the row groups that hold them; a damaged page makes its rows errors, not a failure."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    filesystem, path = source.filesystem()
    try:
        with filesystem.open_input_file(path) as f:
            pf = pq.ParquetFile(f)
            groups, first, pos = [], None, 0
            for g in range(pf.metadata.num_row_groups):
                n = pf.metadata.row_group(g).num_rows
                if pos < shard.end and pos + n > shard.start:
                    groups.append(g)
                    first = pos if first is None else first
                pos += n
            table = pf.read_row_groups(groups) if groups else None
        recs = table.slice(shard.start - (first or 0), shard.count).to_pylist() if table is not None else []
    except (pa.ArrowException, OSError, ValueError) as e:
        why = f"cannot be read from the parquet file ({' '.join(str(e).split())[:300]})"
        recs = [DataError(source.uri, shard.first_row + i, why) for i in range(shard.count)]
    return [(shard.first_index + i, shard.first_row + i, rec) for i, rec in enumerate(recs)]


# -- manifest -----------------------------------------------------------------------------------------


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def new_manifest(source: InputFile, shards: list[Shard], *, graders: list[str], aggregators: list[str],
                 shard_rows: int, jsonl: bool, config: dict[str, Any]) -> dict[str, Any]:
    return {"format": FORMAT, "input": {"uri": source.uri, "format": source.fmt, **source.fingerprint()},
            "graders": graders, "aggregators": aggregators, "config_sha256": config_digest(config),
            "shard_rows": shard_rows, "jsonl": jsonl, "samples": sum(s.count for s in shards),
            "shards": [[s.id, s.first_index, s.first_row, s.count, s.start, s.end] for s in shards],
            "status": "running"}


def config_digest(config: dict[str, Any]) -> str:
    """A hash of the config (graders, model, parameters): the manifest keeps it, never the config (it may hold keys)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(out: str | Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(out, None, f"not a sharded results directory (no {MANIFEST})") from None
    except (OSError, ValueError) as e:
        raise DataError(path, None, f"is not a readable manifest ({e})") from None
    if data.get("format") != FORMAT:
        raise DataError(path, None, f"has format {data.get('format')!r}, expected {FORMAT!r}")
    return data


def manifest_shards(manifest: dict[str, Any]) -> list[Shard]:
    return [Shard(*s) for s in manifest["shards"]]


def is_sharded(path: str | Path) -> bool:
    """Whether ``path`` is the output directory of a distributed run."""
    return (Path(path) / MANIFEST).is_file()


# -- parts ----------------------------------------------------------------------------------------------


def part_name(shard: int, first_index: int) -> str:
    return f"shard-{shard:06d}.{first_index:010d}.parquet"


@dataclass(frozen=True)
class Part:
    path: Path
    shard: int
    first_index: int
    stats: dict[str, Any]


def list_parts(out: str | Path) -> list[Part]:
    """The finished part files, in shard order, with the statistics their writers stored."""
    import pyarrow.parquet as pq

    folder = Path(out) / PARTS
    parts = []
    for p in sorted(folder.glob("shard-*.parquet")) if folder.is_dir() else ():
        m = _PART.match(p.name)
        if m is None:
            continue
        meta = pq.read_metadata(p).metadata or {}
        parts.append(Part(p, int(m.group(1)), int(m.group(2)), json.loads(meta.get(PART_STATS, b"{}"))))
    return parts


def finished_shards(out: str | Path, shards: list[Shard]) -> set[int]:
    """Ids of the shards whose parts hold every one of their samples."""
    held: dict[int, int] = {}
    for part in list_parts(out):
        held[part.shard] = held.get(part.shard, 0) + int(part.stats.get("samples", 0))
    return {s.id for s in shards if held.get(s.id, 0) >= s.count}


def remove_parts(out: str | Path, shard_ids: set[int]) -> int:
    """Delete the parts (and JSONL twins) of unfinished shards before they are graded again; how many."""
    removed = 0
    folder = Path(out) / PARTS
    for p in folder.glob("shard-*") if folder.is_dir() else ():
        m = re.match(r"^\.?shard-(\d+)\.", p.name)
        if m is not None and int(m.group(1)) in shard_ids:
            p.unlink(missing_ok=True)
            removed += 1
    for p in folder.glob(".shard-*") if folder.is_dir() else ():  # temporaries of a killed writer
        p.unlink(missing_ok=True)
    return removed


def write_part(out: str | Path, shard: int, first_index: int, table: Any, stats: dict[str, Any], *,
               jsonl_lines: list[bytes] | None = None) -> Path:
    """Write one part atomically (temporary name, then rename): the JSONL twin first, the parquet file last."""
    import pyarrow.parquet as pq

    folder = Path(out) / PARTS
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / part_name(shard, first_index)
    tag = f"{os.getpid()}-{os.urandom(4).hex()}"
    if jsonl_lines is not None:
        twin = final.with_suffix(".jsonl")
        tmp = folder / f".{twin.name}.{tag}"
        tmp.write_bytes(b"".join(jsonl_lines))
        os.replace(tmp, twin)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), PART_STATS: json.dumps(stats)})
    tmp = folder / f".{final.name}.{tag}"
    pq.write_table(table, tmp)
    os.replace(tmp, final)
    return final


def iter_sharded_records(out: str | Path) -> Iterator[dict[str, Any]]:
    """The records of a sharded run in sample order, shaped like :func:`~rm_gallery.results_io.read_results`'s."""
    import pyarrow.parquet as pq

    for part in list_parts(out):
        table = pq.read_table(part.path, columns=["index", "sample_id", "grader", "aggregate", "result"])
        for row in table.to_pylist():
            rec: dict[str, Any] = {"index": row["index"], "sample_id": row["sample_id"], "grader": row["grader"]}
            if row["aggregate"]:
                rec["aggregate"] = True
            rec["result"] = result_from_json(row["result"])
            yield rec


def sharded_summary(out: str | Path) -> Any:
    """The :class:`~rm_gallery.run_results.RunSummary` of a sharded run, from its parts (and its manifest's wall)."""
    from collections import Counter

    import pyarrow.parquet as pq

    from rm_gallery.run_results import RunSummary

    summary = RunSummary()
    failures: Counter[str] = Counter()
    for part in list_parts(out):
        st = part.stats
        summary.samples += int(st.get("samples", 0))
        summary.requests += int(st.get("requests", 0))
        summary.retries += int(st.get("retries", 0))
        summary.cache_hits += int(st.get("cache_hits", 0))
        failures.update(st.get("failures", {}))
        t = pq.read_table(part.path, columns=["grader", "aggregate", "kind", "prompt_tokens", "completion_tokens"])
        for grader, aggregate, kind, pt, ct in zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True):
            if aggregate:
                continue
            summary.outcomes.setdefault(grader, Counter())[kind] += 1
            summary.prompt_tokens += pt
            summary.completion_tokens += ct
    summary.failures = dict(failures)
    try:
        summary.wall_s = float(read_manifest(out).get("wall_s", 0.0))
    except DataError:
        pass
    return summary


def result_row(shard: int, index: int, sample_id: str, grader: str, result: Result, *, aggregate: bool) -> dict:
    """One row of a part: the typed result as its JSON, plus the columns a summary reads without parsing it."""
    return {"shard": shard, "index": index, "sample_id": sample_id, "grader": grader, "aggregate": aggregate,
            "kind": result.kind, "result": result.model_dump_json(), "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens}


__all__ = ["FORMAT", "InputFile", "Part", "Shard", "finished_shards", "is_sharded", "iter_sharded_records",
           "list_parts", "plan_shards", "read_manifest", "read_shard", "sharded_summary", "write_part"]
