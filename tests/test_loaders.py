import json

import pytest

from rm_gallery.loaders import DataError, LoadReport, iter_samples, load_samples


def test_real_rewardbench_file_loads_every_row(rewardbench_rows):
    from tests.conftest import REWARDBENCH

    samples = load_samples(REWARDBENCH)
    assert len(samples) == len(rewardbench_rows) == 1403
    assert samples[0].label.preferred == "A" and samples[0].metadata["subset"] == rewardbench_rows[0]["subset"]


def test_json_list_and_wrapped_object(tmp_path):
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}] * 3
    (tmp_path / "a.json").write_text(json.dumps(rows))
    (tmp_path / "b.json").write_text(json.dumps({"data": rows}))
    assert len(load_samples(tmp_path / "a.json")) == len(load_samples(tmp_path / "b.json")) == 3
    (tmp_path / "c.json").write_text('{"x": 1}')
    with pytest.raises(DataError, match="expected a list of records"):
        load_samples(tmp_path / "c.json")


def test_parquet_round_trip_with_json_string_metadata(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"input": [[{"role": "user", "content": "q"}]],
                      "output": [[{"content": "a"}, {"content": "b"}]],
                      "metadata": [json.dumps({"preferred": "B", "preference_strength": 1})]})
    pq.write_table(table, tmp_path / "d.parquet")
    (s,) = load_samples(tmp_path / "d.parquet")
    assert s.label.preferred == "B" and s.id == "row-1"


def test_bad_rows_raise_or_are_skipped_and_reported(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n'
                 '{"prompt": "p", "chosen": "a"}\n'
                 '{"input": "q", "output": [{"content": "a"}], "metadata": "{bad"}\n'
                 '{"prompt": "p", "chosen": "' + "x" * 1_000_000 + '", "rejected": "b"}\n')
    with pytest.raises(DataError, match=r"d.jsonl, row 2: field 'rejected'"):
        load_samples(p)
    report = LoadReport()
    samples = list(iter_samples(p, on_error="skip", report=report))
    assert len(samples) == 2 and len(samples[1].responses[0].content) == 1_000_000
    assert [s.split(", ", 1)[1] for s in report.skipped] == [
        "row 2: field 'rejected': missing (accepted record shapes: native {messages|query|prompt, responses}, "
        "RM-Gallery {input, output}, preference pair {prompt|messages|query, chosen, rejected})",
        "row 3: field 'metadata': is a string but not valid JSON (Expecting property name enclosed in double "
        "quotes at char 1)"]
