"""Read sample files (JSON, JSONL, parquet) lazily, with errors that name the file, row and field.

``iter_records`` streams raw dicts; ``iter_samples`` turns them into Samples; ``check_samples`` validates a whole
file without keeping it. JSONL and parquet are read incrementally, so memory does not grow with the file. With
``on_error="skip"`` malformed rows are reported (``LoadReport.skipped``) instead of stopping the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rm_gallery.records import LONE_SURROGATE, RecordError, sample_from_record
from rm_gallery.types import Sample

FORMATS = ("json", "jsonl", "parquet")


class DataError(ValueError):
    """A one-line, actionable description of bad input: ``file, row N, field 'x': what is wrong``."""

    def __init__(self, path: str | Path, row: int | None, message: str, field: str | None = None) -> None:
        where = str(path) + (f", row {row}" if row is not None else "")
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.field = str(path), row, field

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (distributed runs ship unreadable rows to workers)
        return _restore_data_error, (str(self), self.path, self.row, self.field)


def _restore_data_error(text: str, path: str, row: int | None, field: str | None) -> DataError:
    err = DataError.__new__(DataError)
    ValueError.__init__(err, text)
    err.path, err.row, err.field = path, row, field
    return err


@dataclass
class LoadReport:
    """Rows read and rows skipped (with the reason), for skip-and-report mode."""

    rows: int = 0
    skipped: list[str] = field(default_factory=list)


def detect_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for fmt in ("jsonl", "parquet", "json"):
        if f".{fmt}" in suffixes or (fmt == "jsonl" and ".ndjson" in suffixes):
            return fmt
    raise DataError(path, None, f"unknown file type {path.suffix!r} (expected .json, .jsonl or .parquet)")


def iter_records(path: str | Path, *, fmt: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(row_number, record)``; rows are numbered from 1 as a person counts lines."""
    for row, rec in _iter_rows(Path(path), fmt):
        if isinstance(rec, DataError):
            raise rec
        yield row, rec


def _iter_rows(path: Path, fmt: str | None) -> Iterator[tuple[int, Any]]:
    """Rows of any format; a row that cannot be decoded is yielded as a DataError (the caller decides)."""
    if not path.exists():
        raise DataError(path, None, "no such file")
    if path.is_dir():
        raise DataError(path, None, "is a directory, not a data file")
    fmt = fmt or detect_format(path)
    if fmt == "jsonl":
        yield from _iter_jsonl(path)
    elif fmt == "json":
        yield from _iter_json(path)
    elif fmt == "parquet":
        yield from _iter_parquet(path)
    else:
        raise DataError(path, None, f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def _json_problem(e: ValueError | RecursionError, *, line: bool) -> str:
    """One line saying why text is not usable JSON (syntax, absurd nesting, a number too long to read)."""
    if isinstance(e, json.JSONDecodeError):
        return f"is not valid JSON ({e.msg} at {f'line {e.lineno}, ' if line else ''}column {e.colno})"
    if isinstance(e, RecursionError):
        return "is not usable JSON (nested too deeply)"
    return f"is not usable JSON ({' '.join(str(e).split())[:200]})"


def _bad_bytes_field(value: Any, where: str = "") -> str | None:
    """The first field of a record decoded with ``surrogateescape`` that holds undecodable bytes."""
    if isinstance(value, str):
        return where or "<row>" if LONE_SURROGATE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            name = f"{where}.{k}" if where else str(k)
            found = _bad_bytes_field(k, name) or _bad_bytes_field(v, name)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _bad_bytes_field(v, f"{where}[{i}]")
            if found:
                return found
    return None


def _iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with open(path, "rb") as f:
        for row, line in enumerate(f, 1):
            if line.strip():
                yield row, decode_jsonl_line(path, row, line)


def decode_jsonl_line(path: str | Path, row: int, line: bytes) -> Any:
    """One JSONL line as a record, or the DataError saying why it is not one (bad UTF-8 names its field)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        message = f"is not valid UTF-8 (byte {e.start})"
        try:  # name the field that holds the bad bytes, when the line is JSON otherwise
            field = _bad_bytes_field(json.loads(line.decode("utf-8", "surrogateescape")))
        except (ValueError, RecursionError):
            field = None
        return DataError(path, row, message + (f" in field '{field}'" if field else ""), field=field)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        return DataError(path, row, _json_problem(e, line=False))


def _iter_json(path: Path) -> Iterator[tuple[int, Any]]:
    raw = path.read_bytes()
    try:
        text, bad_bytes = raw.decode("utf-8"), None
    except UnicodeDecodeError as e:  # decode anyway, then report (or skip) only the rows holding the bad bytes
        text, bad_bytes = raw.decode("utf-8", "surrogateescape"), e.start
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        problem = _json_problem(e, line=True)
        if bad_bytes is not None:
            problem = f"is not valid UTF-8 (byte {bad_bytes}) and {problem}"
        raise DataError(path, None, problem) from None
    if isinstance(data, dict):
        for key in ("data", "samples", "rows", "examples"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            raise DataError(path, None, "is a JSON object; expected a list of records (or {'data': [...]})")
    if not isinstance(data, list):
        raise DataError(path, None, f"expected a JSON list of records, got {type(data).__name__}")
    for row, rec in enumerate(data, 1):
        field = _bad_bytes_field(rec) if bad_bytes is not None else None
        if field is not None:
            yield row, DataError(path, row, f"is not valid UTF-8 in field '{field}'", field=field)
        else:
            yield row, rec


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(path, None, "reading parquet needs pyarrow: pip install 'rm_gallery[bench]'") from None
    # pyarrow's own errors derive from ArrowException, some also from OSError/ValueError; the rest are I/O
    unreadable = (pa.ArrowException, OSError, ValueError)
    try:
        pf = pq.ParquetFile(path)
    except unreadable as e:
        raise DataError(path, None, f"is not a readable parquet file ({_one_line(e)})") from None
    row = 0
    batches = pf.iter_batches(batch_size=1024)
    while True:
        try:
            batch = next(batches, None)
            recs = batch.to_pylist() if batch is not None else []
        except unreadable as e:  # a damaged page: name the first row that could not be read
            raise DataError(path, row + 1, f"cannot be read from the parquet file ({_one_line(e)})") from None
        if batch is None:
            return
        for rec in recs:
            row += 1
            yield row, rec


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def iter_samples(path: str | Path, *, fmt: str | None = None, on_error: Literal["raise", "skip"] = "raise",
                 report: LoadReport | None = None, limit: int | None = None) -> Iterator[Sample]:
    """Yield Samples from a data file; a malformed row raises :class:`DataError` (or is skipped and reported)."""
    report = report if report is not None else LoadReport()
    for row, rec in _iter_rows(Path(path), fmt):
        if limit is not None and report.rows >= limit:
            return
        sample = record_to_sample(path, row, rec)
        if isinstance(sample, DataError):
            if on_error == "raise":
                raise sample from None
            report.skipped.append(str(sample))
            continue
        report.rows += 1
        yield sample


def check_samples(path: str | Path, *, fmt: str | None = None, on_error: Literal["raise", "skip"] = "raise",
                  limit: int | None = None) -> LoadReport:
    """Validate every row a run would read, keeping no Sample: memory stays flat, the first bad row raises
    (or every bad row is reported with ``on_error="skip"``). Lets a run fail on its data before any request."""
    report = LoadReport()
    for _ in iter_samples(path, fmt=fmt, on_error=on_error, report=report, limit=limit):
        pass
    return report


def record_to_sample(path: str | Path, row: int, rec: Any) -> Sample | DataError:
    """The Sample of file row ``row`` (id ``row-N`` when the record has none), or the DataError naming its field."""
    if isinstance(rec, DataError):
        return rec
    try:
        return sample_from_record(rec, default_id=f"row-{row}")
    except RecordError as e:
        return DataError(path, row, str(e), field=e.field)


def load_samples(path: str | Path, **kwargs: Any) -> list[Sample]:
    """All Samples of a file in a list (convenient for small files; prefer :func:`iter_samples` for big ones)."""
    return list(iter_samples(path, **kwargs))
