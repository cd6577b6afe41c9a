"""Read a finished run back as :class:`~rm_gallery.metaeval.pairs.Pair` s: a benchmark directory, a ``grade``
results file, or a ``meta-eval`` output directory.

Results files hold per-sample results but not the samples, so the samples are rebuilt from the data the run
recorded (or ``data=`` when it moved) and matched to results by row index; every match is checked by sample id,
so data that changed since the run is an error, never a silent misalignment.

* benchmark directory (``rm-gallery bench``): ``summary.json`` names the benchmark, data, split, row limit and
  seed; the units are rebuilt with the benchmark's own ``units`` (the same samples in the same order), and each
  sample's stratum is its unit's subset/domain/category;
* ``meta-eval`` directory: ``run.json`` names the data file (and row limit); strata come from sample metadata;
* results file (``rm-gallery grade --out X.jsonl``): ``X.jsonl.summary.json`` names the data file; with several
  graders in the file, ``grader=`` picks the column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.report import RUN_FILE, SAMPLES_FILE, SUMMARY_FILE
from rm_gallery.metaeval.pairs import Pair, default_stratum, pair_from
from rm_gallery.metaeval.report import META_FILE
from rm_gallery.types import Result, Sample

#: Name under which bench and meta-eval runs store their judge's results.
JUDGE = "judge"


class MetaEvalError(ValueError):
    """A run cannot be read or compared as asked; one actionable line."""


@dataclass
class Run:
    """A finished run as pairs, with what is known about it."""

    source: Path
    pairs: list[Pair]
    info: dict[str, Any] = field(default_factory=dict)
    #: The runner's summary (wall time, outcomes graded in the session), when the run recorded it.
    run: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.source.name.removesuffix(".jsonl")


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise MetaEvalError(f"{path}: cannot read it ({e})") from None
    if not isinstance(data, dict):
        raise MetaEvalError(f"{path}: expected a JSON object")
    return data


def results_by_index(path: Path, grader: str | None) -> tuple[str, dict[int, tuple[str, Result]]]:
    """``{row index: (sample id, result)}`` of one grader (the only one, or ``grader``) in a results file."""
    from rm_gallery.results_io import read_results

    if not path.is_file():
        raise MetaEvalError(f"{path}: no such results file")
    by_grader: dict[str, dict[int, tuple[str, Result]]] = {}
    for rec in read_results(path):
        by_grader.setdefault(str(rec["grader"]), {})[int(rec["index"])] = (str(rec["sample_id"]), rec["result"])
    if not by_grader:
        raise MetaEvalError(f"{path}: holds no results")
    if grader is None:
        if len(by_grader) > 1:
            raise MetaEvalError(f"{path} holds results of {', '.join(sorted(by_grader))}: pick one with --grader")
        grader = next(iter(by_grader))
    if grader not in by_grader:
        raise MetaEvalError(f"{path} has no results of grader {grader!r} (it holds {', '.join(sorted(by_grader))})")
    return grader, by_grader[grader]


def match_pairs(source: Path, samples: Iterable[tuple[Sample, str | None]],
                results: Mapping[int, tuple[str, Result]]) -> tuple[list[Pair], list[str]]:
    """Pairs from samples (in run order, with their stratum) and results by index; checks every sample id."""
    pairs: list[Pair] = []
    seen = not_pairs = 0
    for index, (sample, stratum) in enumerate(samples):
        seen += 1
        if index not in results:
            continue
        sample_id, result = results[index]
        if sample_id != sample.id:
            raise MetaEvalError(f"{source}: result row {index} is sample {sample_id!r} but the data gives "
                                f"{sample.id!r} there; pass the data this run graded with --data")
        pair = pair_from(sample, result, stratum=stratum)
        if pair is None:
            not_pairs += 1
        else:
            pairs.append(pair)
    beyond = [i for i in results if i >= seen]
    if beyond:
        raise MetaEvalError(f"{source}: results go up to row {max(beyond)} but the data has {seen} samples; pass the "
                            "data this run graded with --data")
    notes = []
    if len(results) < seen:
        notes.append(f"{len(results)} of {seen} samples have results (an interrupted run?)")
    if not_pairs:
        notes.append(f"{not_pairs} graded samples are not pairs judged as pairs (not two responses, or one "
                     "response's score): left out")
    if not pairs:
        raise MetaEvalError(f"{source}: no judged pairs to meta-evaluate (meta-evaluation needs pairwise verdicts "
                            "or pointwise scores of both responses of two-response samples)")
    return pairs, notes


def _bench_dir(path: Path, data: list[str] | None) -> Run:
    from rm_gallery.benchmarks.base import get_benchmark
    from rm_gallery.benchmarks.sources import load_rows

    if not (path / SUMMARY_FILE).exists():
        raise MetaEvalError(f"{path}: no {SUMMARY_FILE} (an unfinished benchmark run?): finish it with "
                            "`rm-gallery bench ... --resume` first")
    summary = _json(path / SUMMARY_FILE)
    bench = get_benchmark(str(summary.get("benchmark")))
    kind = summary.get("kind")
    if kind not in ("pairwise", "pointwise"):
        raise MetaEvalError(f"{path}: a {kind} run of {bench.title} has no pairwise judgments to meta-evaluate")
    sources = data or summary.get("data")
    if not sources:
        raise MetaEvalError(f"{path}: the run did not record its data: pass it with --data")
    rows = load_rows(bench, list(sources), split=None if data else summary.get("split"), limit=summary.get("limit"))
    units = bench.units(rows, kind, seed=int(summary.get("conventions", {}).get("seed", 0)))
    _, results = results_by_index(path / SAMPLES_FILE, JUDGE)
    pairs, notes = match_pairs(path, ((s, u.stratum) for u in units for s in u.samples), results)
    info = {k: summary.get(k) for k in ("benchmark", "grader", "model", "kind")} | {"data": list(sources)}
    return Run(path, pairs, info, summary.get("run"), notes)


def _data_run(source: Path, results_path: Path, data: str | None, grader: str | None,
              settings: Mapping[str, Any], run: dict[str, Any] | None) -> Run:
    from rm_gallery.loaders import iter_samples

    data_path = data or settings.get("data")
    if not data_path:
        raise MetaEvalError(f"{source}: the run did not record its data file: pass it with --data")
    name, results = results_by_index(results_path, grader)
    samples = iter_samples(data_path, on_error="skip", limit=settings.get("limit"))
    pairs, notes = match_pairs(source, ((s, default_stratum(s)) for s in samples), results)
    info = {"grader": settings.get("grader") or name, "model": settings.get("model"), "data": str(data_path)}
    return Run(source, pairs, info, run, notes)


def load_run(path: str | Path, *, data: list[str] | None = None, grader: str | None = None) -> Run:
    """A finished run (benchmark directory, meta-eval directory or grade results file) as pairs."""
    path = Path(path)
    if path.is_dir():
        settings = _json(path / RUN_FILE) if (path / RUN_FILE).exists() else {}
        if "benchmark" in settings or (path / SUMMARY_FILE).exists():
            run = _bench_dir(path, data)
        elif settings:
            meta = _json(path / META_FILE) if (path / META_FILE).exists() else {}
            run = _data_run(path, path / SAMPLES_FILE, data[0] if data else None, JUDGE, settings, meta.get("run"))
        else:
            raise MetaEvalError(f"{path}: neither a benchmark run nor a meta-eval run directory (no {RUN_FILE})")
    elif path.is_file():
        sidecar = Path(f"{path}.summary.json")
        side = _json(sidecar) if sidecar.exists() else {}
        if not data and not side.get("data"):
            raise MetaEvalError(f"{path}: pass the data file it graded with --data ({sidecar.name} not found)")
        run = _data_run(path, path, data[0] if data else None, grader, side, side or None)
    else:
        raise MetaEvalError(f"{path}: no such file or directory")
    run.info["source"] = str(path)
    return run
