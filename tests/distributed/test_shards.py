"""Shard plans, part files and reading a sharded output back (no Ray needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rm_gallery.distributed.ray_job import Slots, endpoint_share, spread_endpoints
from rm_gallery.distributed.shards import (
    InputFile,
    finished_shards,
    iter_sharded_records,
    plan_shards,
    read_shard,
    remove_parts,
    result_row,
    write_part,
)
from rm_gallery.loaders import DataError
from rm_gallery.types import GraderError, Verdict


def test_importing_the_package_and_building_the_cli_stay_light():
    code = ("import sys, rm_gallery, rm_gallery.distributed, rm_gallery.distributed.shards, rm_gallery.cli\n"
            "rm_gallery.cli.build_parser()\n"
            "print(sorted(m for m in ('ray', 'pyarrow', 'pandas', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
def test_shards_cover_every_row_once_as_the_local_loader_reads_it(tmp_path, fmt):
    recs = [{"id": f"s{i}", "prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(23)]
    path = tmp_path / f"d.{fmt}"
    if fmt == "jsonl":  # blank lines and a broken line: row numbers and errors must match the loader's
        lines = [json.dumps(r) for r in recs]
        lines[4:4] = ["", "   "]
        lines[9:9] = ["{broken"]
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "json":
        path.write_text(json.dumps(recs))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(recs), path, row_group_size=5)
    source = InputFile.resolve(path)
    shards, records = plan_shards(source, 4)
    got = [x for s in shards for x in read_shard(source, s, records)]  # JSON: the driver's records
    want = list(iter_records_or_errors(path))
    assert [i for i, _, _ in got] == list(range(len(want)))
    assert [(row, str(r) if isinstance(r, DataError) else r) for _, row, r in got] == \
           [(row, str(r) if isinstance(r, DataError) else r) for row, r in want]
    assert sum(s.count for s in shards) == len(want) and all(s.count <= 4 for s in shards)


def iter_records_or_errors(path):
    from rm_gallery.loaders import _iter_rows

    return _iter_rows(path, None)


def test_a_damaged_parquet_shard_becomes_error_rows_not_a_failure(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": str(i), "chosen": "a", "rejected": "b"} for i in range(8)]),
                   path, row_group_size=4)
    source = InputFile.resolve(path)
    shards, _ = plan_shards(source, 4)
    data = bytearray(path.read_bytes())
    data[10:200] = b"\0" * 190  # the first row group's pages
    path.write_bytes(bytes(data))
    rows = read_shard(source, shards[0])
    assert len(rows) == 4 and all(isinstance(r, DataError) and "cannot be read" in str(r) for _, _, r in rows)
    assert [row for _, row, _ in rows] == [1, 2, 3, 4]


def test_parts_mark_finished_shards_and_read_back_in_order(tmp_path):
    import pyarrow as pa

    from rm_gallery.distributed.ray_job import _result_schema

    source_shards, _ = plan_shards(InputFile.resolve(_jsonl(tmp_path, 6)), 3)
    verdict, error = Verdict(winner="A"), GraderError(kind="timeout", message="slow")
    rows = [result_row(1, 3, "s3", "g", verdict, aggregate=False), result_row(1, 4, "s4", "g", error, aggregate=False)]
    write_part(tmp_path / "out", 1, 3, pa.Table.from_pylist(rows, schema=_result_schema()), {"samples": 2})
    assert finished_shards(tmp_path / "out", source_shards) == set()  # 2 of its 3 samples: not finished
    rows0 = [result_row(0, i, f"s{i}", "g", verdict, aggregate=False) for i in range(3)]
    write_part(tmp_path / "out", 0, 0, pa.Table.from_pylist(rows0, schema=_result_schema()), {"samples": 3})
    assert finished_shards(tmp_path / "out", source_shards) == {0}
    (tmp_path / "out" / "manifest.json").write_text('{"format": "rm_gallery.sharded/1"}')
    recs = list(iter_sharded_records(tmp_path / "out"))
    assert [r["index"] for r in recs] == [0, 1, 2, 3, 4] and recs[4]["result"] == error
    assert remove_parts(tmp_path / "out", {1}) == 1 and finished_shards(tmp_path / "out", source_shards) == {0}


def _jsonl(tmp_path, n):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": str(i), "chosen": "a", "rejected": "b"}) + "\n" for i in range(n)))
    return path


def test_endpoints_are_spread_over_actor_slots():
    urls = [f"http://r{i}/v1" for i in range(4)]
    assert [endpoint_share(urls, s, 4) for s in range(4)] == [[u] for u in urls]
    assert [endpoint_share(urls, s, 2) for s in range(2)] == [urls[0::2], urls[1::2]]
    assert [endpoint_share(urls[:2], s, 4) for s in range(4)] == [[urls[0]], [urls[1]], [urls[0]], [urls[1]]]
    cfg = {"model": {"model": "m", "base_url": urls}, "graders": {"g": {"grader": "pairwise", "model": {
        "model": "n", "base_url": "http://one/v1"}}}}
    spread = spread_endpoints(cfg, 1, 2)
    assert spread["model"]["prefer_endpoints"] == urls[1::2] and "prefer_endpoints" not in cfg["model"]
    assert "prefer_endpoints" not in spread["graders"]["g"]["model"]  # one endpoint: nothing to spread


def test_a_restarted_actor_gets_its_slot_back():
    slots = Slots(2)
    assert [slots.claim("a"), slots.claim("b"), slots.claim("a"), slots.claim("c")] == [0, 1, 0, 0]


def test_a_uri_is_read_through_pyarrow_filesystems(tmp_path):
    path = _jsonl(tmp_path, 7)
    source = InputFile.resolve(f"file://{path}")
    assert source.fmt == "jsonl" and source.fingerprint() == InputFile.resolve(path).fingerprint()
    shards, _ = plan_shards(source, 3)
    rows = [x for s in shards for x in read_shard(source, s)]
    assert [(i, row, r["prompt"]) for i, row, r in rows] == [(i, i + 1, str(i)) for i in range(7)]
