"""GradingRunner: run several graders over a stream of samples, concurrently, in bounded memory.

Shape of a run::

    samples ──producer──▶ job queue ──C workers──▶ grader.grade(sample, ctx) ──▶ results file (as completed)
                 │                                        │
                 └── slot per sample (in input order) ◀───┘──▶ yielded in input order, then freed

* A fixed pool of ``concurrency`` worker coroutines pulls (sample, grader) jobs; no task per job is
  created up front, and at most ``window`` samples are in flight, so memory is O(concurrency).
* Results are handed back in input order; each is appended to the results file the moment it completes.
* ``resume=True`` skips (sample, grader) pairs the results file already holds.
* This is the single place where an exception becomes a typed :class:`GraderError`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_gallery.aggregate import Aggregator
from rm_gallery.cache import ResponseCache
from rm_gallery.client.errors import ModelError
from rm_gallery.graders.base import GradeContext, Grader, InvalidSample
from rm_gallery.loaders import DataError
from rm_gallery.prompts import TemplateError
from rm_gallery.records import RecordError
from rm_gallery.results_io import ResultsFileError, ResultsWriter, ResumeIndex, scan_results
from rm_gallery.run_results import RunResults, RunSummary, SampleResult
from rm_gallery.sync import run_sync
from rm_gallery.types import GraderError, Result, Sample

DEFAULT_CACHE = Path("~/.cache/rm_gallery/responses.sqlite")


@dataclass
class GraderConfig:
    """A grader plus how to feed it: an optional ``mapper`` (record/sample -> record/sample) and a weight."""

    grader: Grader
    mapper: Callable[[Any], Any] | Mapping[str, str] | None = None
    weight: float = 1.0

    @classmethod
    def create(cls, value: GraderConfig | Grader | tuple[Any, ...] | Mapping[str, Any]) -> GraderConfig:
        if isinstance(value, GraderConfig):
            return value
        if isinstance(value, tuple):
            return cls(*value)
        if isinstance(value, Mapping):
            return cls(**value)
        return cls(grader=value)


class _Slot:
    """One sample in flight: the raw item, its Sample (or why it has none), results so far, a done future."""

    __slots__ = ("done", "error", "index", "raw", "remaining", "results", "sample", "sample_id")

    def __init__(self, index: int, raw: Any, remaining: int, done: asyncio.Future[None]) -> None:
        self.index = index
        self.raw = raw
        self.remaining = remaining
        self.done = done
        self.results: dict[str, Result] = {}
        self.error: RecordError | DataError | None = None
        if isinstance(raw, Sample):
            self.sample: Sample | None = raw
        elif isinstance(raw, DataError):  # a row the loader could not read: every grader reports it
            self.sample, self.error = None, raw
        else:
            try:
                self.sample = Sample.from_record(raw, default_id=str(index))
            except RecordError as e:
                self.sample, self.error = None, e
        self.sample_id = self.sample.id if self.sample is not None else _guess_id(raw, index)


def _error_result(exc: BaseException) -> GraderError:
    """The isolation boundary: map any exception from a grader to a typed error."""
    if isinstance(exc, ModelError):
        return GraderError(kind=exc.kind, message=str(exc))  # type: ignore[arg-type]
    if isinstance(exc, (InvalidSample, TemplateError, RecordError)):
        return GraderError(kind="invalid_input", message=str(exc))
    return GraderError(kind="internal_error", message=f"{type(exc).__name__}: {exc}")


def _map_record(mapper: Mapping[str, str], record: Mapping[str, Any]) -> dict[str, Any]:
    """OpenJudge-style dict mapper: ``{target_field: "dotted.path.in.record"}``."""
    out: dict[str, Any] = {}
    for target, path in mapper.items():
        value: Any = record
        for part in path.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        out[target] = value
    return out


class GradingRunner:
    """Runs named graders over samples with bounded concurrency, streaming, caching and resume.

    Args:
        grader_configs: ``{name: grader | GraderConfig}`` (a list of graders uses their own names).
        concurrency: grading jobs in flight at once (``max_concurrency`` is accepted as an alias).
        aggregators: ``{name: aggregator}`` combining each sample's results (see :mod:`rm_gallery.aggregate`).
        cache: path of the SQLite response cache, a :class:`ResponseCache`, or None/False for no cache.
        output: JSONL file every result is appended to as it completes.
        resume: skip (sample, grader) pairs already in ``output``; without it ``output`` is overwritten.
        retry_errors: with ``resume``, grade again the pairs whose stored result is an api_error or a timeout
            (e.g. after a server outage); the new line supersedes the old one.
        progress: show a progress bar (default: when stderr is a terminal).
        window: samples in flight at most (default ``4 * concurrency``), which bounds memory.
    """

    def __init__(
        self,
        grader_configs: Mapping[str, Grader | GraderConfig | Any] | Sequence[Grader] | None = None,
        *,
        concurrency: int = 64,
        max_concurrency: int | None = None,
        aggregators: Mapping[str, Aggregator] | None = None,
        cache: str | Path | ResponseCache | bool | None = None,
        output: str | Path | None = None,
        resume: bool = False,
        retry_errors: bool = False,
        progress: bool | None = None,
        show_progress: bool | None = None,
        window: int | None = None,
        seed: int = 0,
    ) -> None:
        if grader_configs is None:
            raise ValueError("GradingRunner needs at least one grader")
        if not isinstance(grader_configs, Mapping):
            grader_configs = {g.name: g for g in grader_configs}
        if not grader_configs:
            raise ValueError("GradingRunner needs at least one grader")
        self.configs = {name: GraderConfig.create(cfg) for name, cfg in grader_configs.items()}
        self.concurrency = max(1, int(max_concurrency or concurrency))
        self.aggregators = dict(aggregators or {})
        clash = set(self.aggregators) & set(self.configs)
        if clash:
            raise ValueError(f"aggregator and grader names must differ: {sorted(clash)}")
        if isinstance(cache, (str, Path)):
            cache = ResponseCache(cache)
        elif cache is True:
            cache = ResponseCache(DEFAULT_CACHE)
        self.cache: ResponseCache | None = cache if isinstance(cache, ResponseCache) else None
        self.output = Path(output) if output is not None else None
        self.resume = resume
        self.retry_errors = retry_errors
        self.progress = progress if progress is not None else show_progress
        self.window = window or max(64, 4 * self.concurrency)
        self.ctx = GradeContext(self.cache, seed=seed)
        self.summary = RunSummary()

    # -- public API ---------------------------------------------------------------------------------

    async def arun(self, samples: Iterable[Any] | AsyncIterable[Any]) -> RunResults:
        """Grade every sample; results in input order. Holds all results: use :meth:`astream` for huge runs."""
        out = RunResults()
        async for r in self.astream(samples):
            out.append(r)
        return out

    def run(self, samples: Iterable[Any]) -> RunResults:
        """Synchronous convenience for scripts; inside a running event loop use ``await runner.arun(...)``."""
        return run_sync(self.arun(samples), what="GradingRunner.run()", instead="await runner.arun(samples)")

    async def astream(self, samples: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[SampleResult]:
        """Yield one :class:`SampleResult` per sample, in input order, as soon as it and its predecessors finish.

        To stop early, close the stream (``async with contextlib.aclosing(runner.astream(xs)) as s``):
        closing cancels the in-flight work at once; a plain ``break`` leaves it running until the
        generator is garbage-collected.
        """
        self.summary = summary = RunSummary()
        start = time.perf_counter()
        resume = (scan_results(self.output, retry_errors=self.retry_errors) if (self.output and self.resume)
                  else ResumeIndex(Path("-")))
        summary.resumed = len(resume)
        summary.retried = resume.retrying
        writer = ResultsWriter(self.output, append=self.resume) if self.output else None
        loop = asyncio.get_running_loop()
        jobs: asyncio.Queue[tuple[_Slot, str] | None] = asyncio.Queue(maxsize=self.concurrency)
        order: asyncio.Queue[_Slot | None] = asyncio.Queue()
        window = asyncio.Semaphore(self.window)
        names = list(self.configs)
        total = len(samples) if isinstance(samples, Sized) else None
        bar = self._progress_bar(total)
        requests_before = self._client_counts()

        async def produce() -> None:
            index = 0
            async for item in _aiter(samples):
                await window.acquire()
                slot = _Slot(index, item, len(names), loop.create_future())
                previous = resume.sample_ids.get(index)
                if previous is not None and previous != slot.sample_id:
                    raise ResultsFileError(
                        f"{self.output}: row {index} holds sample {previous!r} but the input now has "
                        f"{slot.sample_id!r}; the input changed since that file was written, so it cannot be resumed")
                for name in names:
                    if resume.done(name, index):
                        slot.results[name] = resume.load(name, index)
                        slot.remaining -= 1
                if slot.remaining == 0:
                    slot.done.set_result(None)
                order.put_nowait(slot)
                for name in names:
                    if name not in slot.results:
                        await jobs.put((slot, name))
                index += 1
            for _ in range(self.concurrency):
                await jobs.put(None)
            order.put_nowait(None)

        async def work() -> None:
            while True:
                job = await jobs.get()
                if job is None:
                    return
                slot, name = job
                result = await self._grade(name, slot)
                self._finish(slot, name, result, writer, summary)

        producer = asyncio.ensure_future(produce())
        workers = [asyncio.ensure_future(work()) for _ in range(self.concurrency)]
        try:
            while True:
                slot = await _next(order, producer)
                if slot is None:
                    break
                await slot.done
                window.release()
                result = self._complete(slot, resume, writer, summary)
                if bar is not None:
                    bar.update(1)
                yield result
            await asyncio.gather(producer, *workers)
        finally:
            for t in (producer, *workers):
                t.cancel()
            await asyncio.gather(producer, *workers, return_exceptions=True)
            if writer is not None:
                writer.close()
            if self.cache is not None:
                self.cache.flush()
            if bar is not None:
                bar.close()
            summary.wall_s = time.perf_counter() - start
            requests, retries, failures = self._client_counts()
            summary.requests, summary.retries = requests - requests_before[0], retries - requests_before[1]
            summary.failures = {k: v - requests_before[2].get(k, 0) for k, v in failures.items()
                                if v > requests_before[2].get(k, 0)}
            summary.cache_hits = self.cache.hits if self.cache is not None else 0

    # -- internals ----------------------------------------------------------------------------------

    async def _grade(self, name: str, slot: _Slot) -> Result:
        cfg = self.configs[name]
        t0 = time.perf_counter()
        try:
            if cfg.mapper is not None:
                sample = self._apply_mapper(cfg.mapper, slot.raw, slot.index)
            elif slot.sample is None:
                assert slot.error is not None
                where = "" if isinstance(slot.error, DataError) else f"row {slot.index}: "  # it names file and row
                return GraderError(kind="invalid_input", message=f"{where}{slot.error}")
            else:
                sample = slot.sample
            result = await cfg.grader.grade(sample, self.ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the runner is the one isolation boundary (see module docstring)
            result = _error_result(exc)
        if result.latency_s is None:
            result = result.model_copy(update={"latency_s": round(time.perf_counter() - t0, 6)})
        return result

    @staticmethod
    def _apply_mapper(mapper: Callable[[Any], Any] | Mapping[str, str], raw: Any, index: int) -> Sample:
        """Apply a grader's mapper to the raw input item (a record or a Sample), then make it a Sample."""
        if isinstance(mapper, Mapping):
            source = raw.model_dump() if isinstance(raw, Sample) else raw
            try:
                mapped: Any = _map_record(mapper, source)
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise RecordError(str(e).strip("'\""), "not found by the grader's mapper") from None
        else:
            mapped = mapper(raw)
        return mapped if isinstance(mapped, Sample) else Sample.from_record(mapped, default_id=str(index))

    def _finish(self, slot: _Slot, name: str, result: Result, writer: ResultsWriter | None,
                summary: RunSummary) -> None:
        slot.results[name] = result
        summary.count(name, result)
        if writer is not None:
            writer.write(slot.index, slot.sample_id, name, result)
        slot.remaining -= 1
        if slot.remaining == 0 and not slot.done.done():
            slot.done.set_result(None)

    def _complete(self, slot: _Slot, resume: ResumeIndex, writer: ResultsWriter | None,
                  summary: RunSummary) -> SampleResult:
        summary.samples += 1
        aggregates: dict[str, Result] = {}
        for name, agg in self.aggregators.items():
            if resume.done(name, slot.index):
                aggregates[name] = resume.load(name, slot.index)
                continue
            try:
                aggregates[name] = agg(slot.results)
            except Exception as exc:  # an aggregator bug must not end the run either
                aggregates[name] = _error_result(exc)
            if writer is not None:
                writer.write(slot.index, slot.sample_id, name, aggregates[name], aggregate=True)
        return SampleResult(slot.index, slot.sample_id, slot.results, aggregates)

    def _client_counts(self) -> tuple[int, int, Counter[str]]:
        """Requests, retries and failed attempts by kind so far, over every client the graders use."""
        models = {id(m): m for cfg in self.configs.values() for m in models_of(cfg.grader)}
        stats = [s for s in (getattr(m, "stats", None) for m in models.values()) if s is not None]
        failures: Counter[str] = Counter()
        for s in stats:
            failures.update(s.failures)
        return sum(s.requests for s in stats), sum(s.retries for s in stats), failures

    def _progress_bar(self, total: int | None) -> Any:
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        if not show:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="sample", desc="grading", mininterval=0.25, smoothing=0.05)


def models_of(grader: Any) -> list[Any]:
    """Model clients a grader uses (for request/retry counts); graders expose them via ``judge`` or ``models``."""
    found = list(getattr(grader, "models", ()) or ())
    judge = getattr(grader, "judge", None)
    if judge is not None and getattr(judge, "model", None) is not None:
        found.append(judge.model)
    inner = getattr(grader, "grader", None)
    if inner is not None and inner is not grader:
        found.extend(models_of(inner))
    return found


def _guess_id(item: Any, index: int) -> str:
    if isinstance(item, DataError) and item.row is not None:
        return f"row-{item.row}"  # the id the loader gives a row without one
    if isinstance(item, Mapping):
        for key in ("id", "unique_id", "sample_id", "pair_id"):
            if item.get(key) is not None:
                return str(item[key])
    return str(index)


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for x in items:
            yield x
    else:
        for x in items:
            yield x


async def _next(order: asyncio.Queue[_Slot | None], producer: asyncio.Future[None]) -> _Slot | None:
    """The next slot in input order; re-raises a producer failure instead of waiting forever."""
    if not order.empty():
        return order.get_nowait()
    getter = asyncio.ensure_future(order.get())
    await asyncio.wait({getter, producer}, return_when=asyncio.FIRST_COMPLETED)
    if getter.done():
        return getter.result()
    getter.cancel()
    producer.result()  # raises the producer's exception, if any
    return order.get_nowait() if not order.empty() else None


__all__ = ["GraderConfig", "GradingRunner", "RunResults", "RunSummary", "SampleResult"]
