"""Loaders and schemas: the real shared files, parquet, hub ids (offline), and one-line errors naming row and field."""

import json
import sys
import types
from collections import Counter

import pytest

from rm_gallery.benchmarks import get_benchmark, load_rows
from rm_gallery.benchmarks.schemas import rmbench_domain
from rm_gallery.loaders import DataError

from .conftest import judgebench_records, rb2_records, write_jsonl


def test_rewardbench_shared_file_has_the_official_subset_counts(rewardbench_file):
    rows = load_rows(get_benchmark("rewardbench"), [rewardbench_file])
    counts = Counter(r.subset for r in rows)
    assert len(rows) == 1403 and counts["llmbar-adver-neighbor"] == 134 and counts["hep-rust"] == 164
    limited = load_rows(get_benchmark("rewardbench"), [rewardbench_file], limit=3)
    assert len(limited) == 33 and Counter(r.subset for r in limited) == dict.fromkeys(counts, 3)


def test_rmbench_directory_pools_the_two_safety_files(rmbench_dir):
    rows = load_rows(get_benchmark("rmbench"), [rmbench_dir])
    assert Counter(r.domain for r in rows) == {"chat": 129, "code": 228, "safety": 284 + 157}
    assert all(len(r.chosen) == len(r.rejected) == 3 for r in rows)
    assert rmbench_domain("total_dataset.json", "math/12") == "math"
    assert rmbench_domain("x/safety-refuse_filtered.json", "12") == "safety"


def test_parquet_and_json_sources(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    records = judgebench_records()
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "jb.parquet")
    (tmp_path / "rb2.json").write_text(json.dumps(rb2_records()))
    jb = load_rows(get_benchmark("judgebench"), [tmp_path / "jb.parquet"])
    assert [r.label for r in jb] == [r["label"] for r in records]
    rb2 = load_rows(get_benchmark("rewardbench2"), [tmp_path / "rb2.json"])
    assert Counter(r.subset for r in rb2)["Ties"] == 4 and rb2[-1].chosen[2] == "GOOD 5 (8)"


@pytest.mark.parametrize("bench, record, field, message", [
    ("rewardbench", {"prompt": "p", "chosen": ["x"], "rejected": "y", "subset": "s"}, "chosen", "expected a string"),
    ("rewardbench", {"prompt": "p", "chosen": "x", "rejected": "y"}, "subset", "missing"),
    ("rmbench", {"id": "chat/1", "prompt": "p", "chosen": ["a", "b"], "rejected": ["a", "b", "c"]}, "chosen",
     "expected exactly 3 responses, got 2"),
    ("rmbench", {"id": 5, "prompt": "p", "chosen": ["a"] * 3, "rejected": ["b"] * 3}, "id", "cannot tell"),
    ("rewardbench2", {"id": "7", "subset": "Ties", "prompt": "p", "chosen": ["a"], "rejected": ["b"]}, "id",
     "ref:<prompt id>"),
    ("rewardbench2", {"id": "1", "subset": "Math", "prompt": "p", "chosen": ["a"], "rejected": ["b", "c"]},
     "rejected", "at least 3"),
    ("rewardbench2", {"id": "1", "subset": "Math", "prompt": "p", "chosen": ["a"], "rejected": ["b", " ", "c"]},
     "rejected[1]", "is empty"),
    ("judgebench", {"pair_id": "p", "source": "s", "question": "q", "response_A": "a", "response_B": "b",
                    "label": "A=B"}, "label", "'A>B' or 'B>A'"),
])
def test_malformed_row_is_one_line_naming_file_row_and_field(tmp_path, bench, record, field, message):
    good = {"rewardbench": {"prompt": "p", "chosen": "x", "rejected": "y", "subset": "s"},
            "rmbench": {"id": "chat/0", "prompt": "p", "chosen": ["a"] * 3, "rejected": ["b"] * 3},
            "rewardbench2": rb2_records()[0], "judgebench": judgebench_records()[0]}[bench]
    path = write_jsonl(tmp_path / "data.jsonl", [good, good, record])
    with pytest.raises(DataError) as info:
        load_rows(get_benchmark(bench), [path])
    err = info.value
    assert (err.path, err.row, err.field) == (str(path), 3, field)
    assert str(err).startswith(f"{path}, row 3: field '{field}': ") and message in str(err)
    assert "\n" not in str(err)


def test_empty_sources_and_directories(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="holds no rows"):
        load_rows(get_benchmark("judgebench"), [tmp_path / "empty.jsonl"])
    (tmp_path / "dir").mkdir()
    with pytest.raises(DataError, match="no .json, .jsonl or .parquet"):
        load_rows(get_benchmark("judgebench"), [tmp_path / "dir"])
    with pytest.raises(DataError, match="no such file"):
        load_rows(get_benchmark("judgebench"), [tmp_path / "missing.jsonl"])


def test_hub_id_without_datasets_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(DataError) as info:
        load_rows(get_benchmark("judgebench"), ["ScalerLab/JudgeBench"], split="gpt")
    assert "pip install 'rm_gallery[bench]'" in str(info.value) and "\n" not in str(info.value)


def test_hub_id_offline_is_one_clear_line(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'allenai/reward-bench' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    with pytest.raises(DataError) as info:
        load_rows(get_benchmark("rewardbench"), ["allenai/reward-bench"], split="filtered")
    msg = str(info.value)
    assert msg.startswith("allenai/reward-bench:filtered: cannot load from the Hugging Face hub (offline")
    assert "Couldn't reach" in msg and "--data" in msg and "\n" not in msg


def test_hub_rows_are_validated_like_files(monkeypatch):
    captured = {}

    def fake(name, split=None):
        captured.update(name=name, split=split)
        return judgebench_records()[:3]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=fake))
    rows = load_rows(get_benchmark("judgebench"), ["ScalerLab/JudgeBench"], split="claude")
    assert captured == {"name": "ScalerLab/JudgeBench", "split": "claude"} and len(rows) == 3


def test_directories_are_read_recursively_in_path_order_without_hidden_files(tmp_path):
    from rm_gallery.benchmarks.sources import expand

    records = judgebench_records()
    write_jsonl(tmp_path / "b.jsonl", records[:2])
    (tmp_path / "a" / "deep").mkdir(parents=True)
    write_jsonl(tmp_path / "a" / "deep" / "x.jsonl", records[2:4])
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "junk.json").write_text("not json")
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    assert [p.relative_to(tmp_path).as_posix() for p in expand(tmp_path)] == ["a/deep/x.jsonl", "b.jsonl"]
    rows = load_rows(get_benchmark("judgebench"), [tmp_path])
    assert [r.pair_id for r in rows] == ["p2", "p3", "p0", "p1"]
