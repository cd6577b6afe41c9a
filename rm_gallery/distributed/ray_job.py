"""Grade a data file on a Ray cluster with Ray Data, one shard at a time, resumable by shard.

Shape of a run::

    driver: plan shards ─▶ ray.data.read_datasource(one read task per unfinished shard)
                               │  rows (index, file row, record) — read exactly as the local loaders read them
                               ▼
            map_batches(ShardWorker, compute=ActorPoolStrategy(size=N), batch = one shard)
                │ each actor: one GradingRunner (own client, own cache file), runs the async runner over
                │ the shard, writes the shard's part file atomically, returns one row per (sample, grader)
                ▼
    driver: counts rows as shards finish; at the end the manifest gets the run summary

Why a datasource of our own rather than ``ray.data.read_json``: Arrow's JSON reader infers one schema for all rows
(chat records are heterogeneous: a response is a string in one row and an object in the next) and one malformed
line fails the whole job; here every row is decoded by the loader a local run uses, so a bad row becomes that
row's ``invalid_input`` result with the same message, and global row numbers (sample ids, indices) match a local
run. Ray does the rest: scheduling read tasks near the data, the actor pool, backpressure, and fault tolerance —
an actor that dies is restarted (``max_restarts=-1``) and its batch submitted again (``max_task_retries=-1``, both
Ray Data's defaults for actor pools). The part it would have written is written by the retry under the same name.

Endpoints: every ``base_url`` list in the config is spread over the actors (``prefer_endpoints``), so N actors can
drive N vLLM replicas; each keeps the others as failover and the full list as its cache identity, so cache keys
are the ones a local run uses.
"""

from __future__ import annotations

import copy
import pickle
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_gallery.distributed.shards import (
    InputFile,
    Shard,
    finished_shards,
    manifest_shards,
    new_manifest,
    plan_shards,
    read_manifest,
    read_shard,
    remove_parts,
    result_row,
    sharded_summary,
    write_json_atomic,
    write_part,
)
from rm_gallery.results_io import ResultsFileError

DEFAULT_SHARD_ROWS = 1000


@dataclass(frozen=True)
class RayJob:
    """What every worker needs to build its runner: plain, picklable settings (never live clients)."""

    config: dict[str, Any]
    source: InputFile
    out: str
    jsonl: bool
    cache: str | None
    slots: int


# -- endpoints and caches per actor -------------------------------------------------------------------


def endpoint_share(urls: list[str], slot: int, slots: int) -> list[str]:
    """The replicas actor ``slot`` of ``slots`` drives: a disjoint share when there are enough, else one each."""
    if len(urls) >= slots:
        return urls[slot::slots]
    return [urls[slot % len(urls)]]


def spread_endpoints(config: Mapping[str, Any], slot: int, slots: int) -> dict[str, Any]:
    """The config with ``prefer_endpoints`` set on every model that lists several base_urls."""
    config = copy.deepcopy(dict(config))
    models = [config.get("model")] + [g.get("model") for g in (config.get("graders") or {}).values()
                                      if isinstance(g, dict)]
    for spec in models:
        if isinstance(spec, dict) and isinstance(spec.get("base_url"), list) and len(spec["base_url"]) > 1:
            spec["prefer_endpoints"] = endpoint_share(spec["base_url"], slot, slots)
    return config


def slot_cache(cache: str, slot: int) -> Path:
    """Actor ``slot``'s own response cache beside ``cache`` (SQLite allows one writer per file)."""
    path = Path(cache).expanduser()
    return path.with_name(f"{path.stem}.ray-{slot}{path.suffix}")


class Slots:
    """Hands each actor a slot number, by actor id: a restarted actor (same id) gets its slot back."""

    def __init__(self, slots: int) -> None:
        self.load = [0] * slots
        self.by_actor: dict[str, int] = {}

    def claim(self, actor_id: str) -> int:
        if actor_id not in self.by_actor:
            slot = min(range(len(self.load)), key=lambda i: (self.load[i], i))
            self.load[slot] += 1
            self.by_actor[actor_id] = slot
        return self.by_actor[actor_id]


# -- reading ------------------------------------------------------------------------------------------


def shard_datasource(source: InputFile, shards: list[Shard], records: list[Any] | None) -> Any:
    """A Ray Data datasource with one read task per shard; each yields one block (the shard) of encoded rows."""
    import pyarrow as pa
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    def read(shard: Shard, own: list[Any] | None) -> list[Any]:
        rows = read_shard(source, shard, own)
        return [pa.table({"shard": [shard.id] * len(rows), "index": [r[0] for r in rows],
                          "row": [r[1] for r in rows],
                          "record": pa.array([pickle.dumps(r[2]) for r in rows], pa.binary())})]

    class ShardSource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                           data_context: Any = None) -> list[ReadTask]:
            tasks = []
            for shard in shards:
                own = records[shard.start:shard.end] if records is not None else None
                local = Shard(shard.id, shard.first_index, shard.first_row, shard.count, 0, shard.count)
                meta = BlockMetadata(num_rows=shard.count, size_bytes=None, exec_stats=None,
                                     input_files=(source.uri,))
                tasks.append(ReadTask(lambda s=(local if own is not None else shard), o=own: read(s, o), meta))
            return tasks

        def get_name(self) -> str:
            return "ReadShards"

    return ShardSource()


# -- the worker ---------------------------------------------------------------------------------------


class ShardWorker:
    """The callable class Ray Data runs on each actor: one GradingRunner, graded shard by shard.

    ``__call__`` is a coroutine, so Ray Data runs it on one event loop per actor that lives as long as the actor:
    the client's pooled connections and the runner's cache outlast each batch.
    """

    def __init__(self, job: RayJob, slots: Any = None) -> None:
        import ray

        from rm_gallery.config import build_config
        from rm_gallery.runner import GradingRunner, models_of

        self.job = job
        self.slot = ray.get(slots.claim.remote(ray.get_runtime_context().get_actor_id())) if slots else 0
        cfg = build_config(spread_endpoints(job.config, self.slot, job.slots), source="ray job config")
        runner = {k: v for k, v in cfg.runner.items() if k in ("concurrency", "max_concurrency", "window", "seed")}
        cache = slot_cache(job.cache, self.slot) if job.cache else None
        self.runner = GradingRunner(cfg.graders, aggregators=cfg.aggregators, cache=cache, progress=False, **runner)
        self.models = list({id(m): m for c in cfg.graders.values() for m in models_of(c.grader)}.values())

    def _counters(self) -> tuple[int, int, dict[str, int], int]:
        requests = sum(m.stats.requests for m in self.models if hasattr(m, "stats"))
        retries = sum(m.stats.retries for m in self.models if hasattr(m, "stats"))
        failures: dict[str, int] = {}
        for m in self.models:
            for k, v in getattr(getattr(m, "stats", None), "failures", {}).items():
                failures[k] = failures.get(k, 0) + v
        hits = self.runner.cache.hits if self.runner.cache is not None else 0
        return requests, retries, failures, hits

    async def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from rm_gallery.loaders import record_to_sample
        from rm_gallery.results_io import result_line

        t0 = time.perf_counter()
        before = self._counters()
        shards, indices = batch.column("shard").to_pylist(), batch.column("index").to_pylist()
        items = [record_to_sample(self.job.source.uri, row, pickle.loads(rec))
                 for row, rec in zip(batch.column("row").to_pylist(), batch.column("record").to_pylist(),
                                     strict=True)]
        by_shard: dict[int, list[dict[str, Any]]] = {}
        lines: dict[int, list[bytes]] = {}
        samples: dict[int, int] = {}
        first: dict[int, int] = {}
        async for r in self.runner.astream(items):
            shard, index = shards[r.index], indices[r.index]
            first.setdefault(shard, index)
            samples[shard] = samples.get(shard, 0) + 1
            rows = by_shard.setdefault(shard, [])
            for names, aggregate in ((r.results, False), (r.aggregates, True)):
                for name, result in names.items():
                    rows.append(result_row(shard, index, r.sample_id, name, result, aggregate=aggregate))
                    if self.job.jsonl:
                        lines.setdefault(shard, []).append(result_line(index, r.sample_id, name, result,
                                                                       aggregate=aggregate))
        after = self._counters()
        stats = {"requests": after[0] - before[0], "retries": after[1] - before[1],
                 "failures": {k: v - before[2].get(k, 0) for k, v in after[2].items() if v > before[2].get(k, 0)},
                 "cache_hits": after[3] - before[3], "wall_s": round(time.perf_counter() - t0, 3), "slot": self.slot,
                 "peak_rss_mb": _peak_rss_mb()}
        if self.runner.cache is not None:
            self.runner.cache.flush()
        tables = []
        for n, (shard, rows) in enumerate(by_shard.items()):
            table = pa.Table.from_pylist(rows, schema=_result_schema())
            part_stats = {"samples": samples[shard], **(stats if n == 0 else {"slot": self.slot})}
            write_part(self.job.out, shard, first[shard], table, part_stats,
                       jsonl_lines=lines.get(shard) if self.job.jsonl else None)
            tables.append(table)
        return pa.concat_tables(tables) if tables else _result_schema().empty_table()


def _peak_rss_mb() -> float | None:
    """This process's peak resident memory (Linux ``VmHWM``), stored with each part; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _result_schema() -> Any:
    """The columns of a part (pyarrow is imported only where it is used)."""
    import pyarrow as pa

    return pa.schema([("shard", pa.int64()), ("index", pa.int64()), ("sample_id", pa.string()),
                      ("grader", pa.string()), ("aggregate", pa.bool_()), ("kind", pa.string()),
                      ("result", pa.string()), ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64())])


# -- the driver ---------------------------------------------------------------------------------------


def _config_mapping(config: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A copy of a config mapping, or the mapping a config file holds."""
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    from rm_gallery.config import read_config_file

    return read_config_file(config)


def _prepare_out(out: Path, source: InputFile, config: dict[str, Any], *, resume: bool, overwrite: bool,
                 shard_rows: int, jsonl: bool, names: tuple[list[str], list[str]]) -> tuple[dict[str, Any],
                                                                                             list[Any] | None]:
    """The manifest to run by: the previous one on resume (checked against the input and config), else a new plan."""
    from rm_gallery.distributed.shards import MANIFEST, PARTS, config_digest, is_sharded

    if is_sharded(out) and resume:
        manifest = read_manifest(out)
        if manifest["input"]["uri"] != source.uri or \
                {k: manifest["input"].get(k) for k in ("size", "sha256_head_tail")} != source.fingerprint():
            raise ResultsFileError(f"{out}: was written for {manifest['input']['uri']} as it was then; the input "
                                   f"{source.uri} differs, so the run cannot be resumed (use a new --out)")
        if manifest["config_sha256"] != config_digest(config):
            raise ResultsFileError(f"{out}: was written with other graders or settings; resume it with the same "
                                   "config, or start over with --overwrite")
        records = plan_shards(source, manifest["shard_rows"])[1] if source.fmt == "json" else None
        return manifest, records
    if out.exists() and any(out.iterdir()):
        if resume and not is_sharded(out):
            raise ResultsFileError(f"{out} is not the output of a distributed run (no manifest), so it cannot be "
                                   "resumed on Ray")
        if not overwrite:
            raise ResultsFileError(f"{out} already exists: pass --resume to continue it or --overwrite to replace it")
        if not is_sharded(out):
            raise ResultsFileError(f"{out} is not the output of a distributed run; refusing to overwrite it")
        import shutil

        shutil.rmtree(out / PARTS, ignore_errors=True)
        (out / MANIFEST).unlink()
    out.mkdir(parents=True, exist_ok=True)
    shards, records = plan_shards(source, shard_rows)
    manifest = new_manifest(source, shards, graders=names[0], aggregators=names[1], shard_rows=shard_rows,
                            jsonl=jsonl, config=config)
    write_json_atomic(out / MANIFEST, manifest)
    return manifest, records


def grade_on_ray(data: str | Path, config: Mapping[str, Any] | str | Path, out: str | Path, *, actors: int = 2,
                 shard_rows: int = DEFAULT_SHARD_ROWS, resume: bool = False, overwrite: bool = False,
                 jsonl: bool = False, cache: str | Path | None = None, address: str | None = None,
                 num_cpus_per_actor: float = 1.0, progress: bool = False) -> Any:
    """Grade ``data`` (json, jsonl, parquet; a local path or a URI pyarrow reads) on Ray; shards land in ``out``.

    Args:
        config: the config a local run takes (``model``, ``graders``, ``aggregators``, ``runner``), or its file.
        actors: grading actors (each one GradingRunner at the config's ``runner.concurrency``).
        shard_rows: samples per shard, the unit of writing and of resume.
        resume: keep the finished shards of a previous run into ``out`` and grade the rest.
        jsonl: also write each part as JSONL lines, as a local results file has them.
        cache: a response cache path; each actor uses its own file beside it (``<stem>.ray-<slot>.sqlite``).
        address: a Ray cluster to join (``"auto"``, ``ray://...``); None starts a local one unless Ray is running.

    Returns the run's :class:`~rm_gallery.run_results.RunSummary` (also stored in ``out/manifest.json``).
    """
    import ray

    from rm_gallery.config import build_config
    from rm_gallery.distributed.shards import MANIFEST

    start = time.perf_counter()
    source = InputFile.resolve(data)
    config = _config_mapping(config)
    cfg = build_config(copy.deepcopy(config), source="ray job config")  # fail fast on a bad config, on the driver
    names = (list(cfg.graders), list(cfg.aggregators))
    out = Path(out).expanduser().resolve()
    manifest, records = _prepare_out(out, source, config, resume=resume, overwrite=overwrite,
                                     shard_rows=shard_rows, jsonl=jsonl, names=names)
    shards = manifest_shards(manifest)
    done_before = finished_shards(out, shards)
    pending = [s for s in shards if s.id not in done_before]
    remove_parts(out, {s.id for s in pending})  # parts of a shard a killed run left half-done
    if pending:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress
        slots = ray.remote(num_cpus=0)(Slots).remote(actors)
        job = RayJob(config, source, str(out), manifest["jsonl"], str(cache) if cache else None, actors)
        # The reads ask for what an actor asks for, so Ray Data fuses them into the actors: no task pool that
        # would need CPUs of its own (with every CPU held by actors, unfused read tasks could never start).
        ds = ray.data.read_datasource(shard_datasource(source, pending, records), override_num_blocks=len(pending),
                                      num_cpus=num_cpus_per_actor)
        ds = ds.map_batches(ShardWorker, fn_constructor_kwargs={"job": job, "slots": slots}, batch_size=None,
                            batch_format="pyarrow", compute=ray.data.ActorPoolStrategy(size=actors),
                            num_cpus=num_cpus_per_actor)
        rows = 0
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            rows += batch.num_rows
            if progress:
                print(f"graded {rows} results", file=sys.stderr)
        ray.kill(slots)
    finished = finished_shards(out, shards)
    summary = sharded_summary(out)
    summary.wall_s = float(manifest.get("wall_s", 0.0)) + time.perf_counter() - start
    summary.resumed = sum(s.count for s in shards if s.id in done_before) * len(names[0])
    manifest.update(status="complete" if len(finished) == len(shards) else "incomplete",
                    wall_s=round(summary.wall_s, 3), summary=summary.to_dict())
    write_json_atomic(out / MANIFEST, manifest)
    return summary


__all__ = ["RayJob", "ShardWorker", "Slots", "endpoint_share", "grade_on_ray", "spread_endpoints"]
