"""Bad input in every loader (json, jsonl, parquet) and in the CLI: one line naming file, row and field, or
skip-and-report; never a traceback, never a silent 0.

Each case is a good row followed by one malformed row. The loader must raise a :class:`DataError` whose
one-line message names the file, the row and the offending field (``on_error="raise"``), or skip exactly that
row and report it (``on_error="skip"``); the CLI must say the same in one ``error:``/``skipped:`` line.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rm_gallery.cli import main
from rm_gallery.loaders import DataError, LoadReport, iter_samples
from rm_gallery.testing.stub_server import StubServer

GOOD = {"id": "ok", "prompt": "What is 2+2?", "chosen": "4", "rejected": "5"}
MILLION = "x" * 1_000_000

#: name -> (the malformed row, the field the error must name, a phrase the message must contain)
CASES = {
    "missing_response": ({"prompt": "p", "chosen": "a"}, "rejected", "missing (accepted record shapes: "),
    "missing_query": ({"responses": ["a", "b"]}, "messages", "missing"),
    "wrong_type_response": ({"prompt": "p", "chosen": 5, "rejected": "b"}, "chosen", "got int"),
    "wrong_type_query": ({"prompt": 7, "chosen": "a", "rejected": "b"}, "prompt", "expected a non-empty list"),
    "wrong_type_label": ({**GOOD, "label": {"preferred": "C"}}, "label.preferred", "expected A, B or tie"),
    "wrong_type_strength": ({**GOOD, "label": {"preferred": "A", "preference_strength": "strong"}},
                            "label.preference_strength", "expected 0, 1 or 2"),
    "empty_response": ({"prompt": "p", "chosen": "", "rejected": "b"}, "chosen", "is empty"),
    "empty_response_list": ({"messages": "q", "responses": []}, "responses", "non-empty list"),
    "empty_message_content": ({"messages": [{"role": "user", "content": " "}], "responses": ["a"]},
                              "messages[0].content", "is empty"),
    "metadata_invalid_json": ({"input": "q", "output": [{"content": "a"}, {"content": "b"}], "metadata": "{bad"},
                              "metadata", "not valid JSON"),
    "metadata_wrong_type": ({**GOOD, "metadata": "[1, 2]"}, "metadata", "expected an object"),
    "million_char_label": ({**GOOD, "label": MILLION}, "label.preferred", "1000002 characters"),
    "lone_surrogate": ({**GOOD, "rejected": "bad \ud800 text"}, "rejected", "not valid Unicode"),
    "unknown_role": ({"messages": [{"role": "judge", "content": "hi"}], "responses": ["a"]}, "messages[0].role",
                     "unknown role"),
}
#: Rows whose bytes are broken; only the text formats can hold them. name -> (bytes, field or None, phrase)
RAW_CASES = {
    "non_utf8": (b'{"prompt": "caf\xe9 \xff", "chosen": "a", "rejected": "b"}', "prompt", "not valid UTF-8"),
    "not_json": (b'{"prompt": "p", "chosen": ', None, "not valid JSON"),
    "deep_nesting": (b"[" * 100_000, None, "nested too deeply"),
    "huge_number": (b'{"prompt": "p", "chosen": "a", "rejected": "b", "label": ' + b"9" * 5000 + b"}", None,
                    "not usable JSON"),
    "not_an_object": (b'["p", "a", "b"]', "<row>", "expected a JSON object"),
}


def write_rows(path: Path, rows: list[dict]) -> int:
    """Write rows in the file's format; returns the row number of the last (malformed) row as written."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8", errors="surrogatepass")
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows), encoding="utf-8", errors="surrogatepass")
    else:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        def table(rows: list[dict]):  # every key a column, null where a row lacks it
            keys = list(dict.fromkeys(k for r in rows for k in r))
            return pa.table({k: [r.get(k) for r in rows] for k in keys})

        try:
            t = table(rows)
        except (pa.ArrowException, TypeError, ValueError):  # parquet columns have one type: the bad row alone
            rows = rows[-1:]
            t = table(rows)
        pq.write_table(t, path)
    return len(rows)


def write_raw(path: Path, bad: bytes) -> int:
    good = json.dumps(GOOD).encode()
    path.write_bytes(good + b"\n" + bad + b"\n" if path.suffix == ".jsonl" else b"[" + good + b",\n" + bad + b"]")
    return 2


def check_error_line(message: str, path: Path, row: int | None, field: str | None, phrase: str) -> None:
    assert "\n" not in message and len(message) < 500, message
    assert message.startswith(f"{path}, row {row}: " if row is not None else f"{path}: "), message
    if field is not None:
        assert f"field '{field}'" in message, message
    assert phrase in message, message


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_loaders_name_file_row_and_field_or_skip(tmp_path, fmt, case):
    bad, field, phrase = CASES[case]
    if fmt == "parquet" and case == "lone_surrogate":
        pytest.skip("parquet strings are UTF-8 by construction")
    path = tmp_path / f"data.{fmt}"
    row = write_rows(path, [GOOD, bad])
    with pytest.raises(DataError) as e:
        list(iter_samples(path))
    check_error_line(str(e.value), path, row, field, phrase)
    assert (e.value.path, e.value.row, e.value.field) == (str(path), row, field)
    report = LoadReport()
    samples = list(iter_samples(path, on_error="skip", report=report))
    assert len(samples) == row - 1 == report.rows and len(report.skipped) == 1
    assert report.skipped[0] == str(e.value)


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_broken_bytes_are_named_or_skipped(tmp_path, fmt, case):
    bad, field, phrase = RAW_CASES[case]
    path = tmp_path / f"data.{fmt}"
    row = write_raw(path, bad)
    with pytest.raises(DataError) as e:
        list(iter_samples(path))
    file_level = fmt == "json" and case in ("not_json", "deep_nesting", "huge_number")  # no list to index
    check_error_line(str(e.value), path, None if file_level else row, None if file_level else field, phrase)
    if not file_level:
        report = LoadReport()
        assert [s.id for s in iter_samples(path, on_error="skip", report=report)] == ["ok"]
        assert report.skipped == [str(e.value)]


def test_non_parquet_bytes_and_a_damaged_page(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    fake = tmp_path / "fake.parquet"
    fake.write_text("not parquet at all")
    with pytest.raises(DataError) as e:
        list(iter_samples(fake))
    check_error_line(str(e.value), fake, None, None, "is not a readable parquet file")
    path = tmp_path / "damaged.parquet"
    rows = [{**GOOD, "id": str(i), "chosen": f"answer {i} " * 20} for i in range(5000)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=1000, compression="NONE")
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = b"\xff" * 2000  # scribble over a page in the middle of the file
    path.write_bytes(bytes(data))
    with pytest.raises(DataError) as e:
        list(iter_samples(path))
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{path}, row ")
    assert e.value.row is not None and 1 < e.value.row <= 5000


def test_million_character_response_is_kept_whole(tmp_path):
    for fmt in ("jsonl", "json", "parquet"):
        path = tmp_path / f"big.{fmt}"
        write_rows(path, [GOOD, {**GOOD, "id": "big", "chosen": MILLION}])
        samples = list(iter_samples(path))
        assert len(samples[1].responses[0].content) == 1_000_000, fmt


# -- the CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server():
    with StubServer(record=True) as srv:
        yield srv


def grade(path: Path, server: StubServer, *extra: str) -> int:
    return main(["grade", str(path), "--grader", "pairwise", "--model", "stub-judge", "--base-url",
                 server.base_url, "--out", str(path.parent / "out.jsonl"), "--overwrite", "--no-cache",
                 "--no-progress", *extra])


@pytest.mark.parametrize("fmt", ["jsonl", "json", "parquet"])
@pytest.mark.parametrize("case", ["missing_response", "wrong_type_response", "empty_response",
                                  "metadata_invalid_json", "million_char_label", "non_utf8"])
def test_cli_one_error_line_or_skip_and_report(tmp_path, capsys, server, fmt, case):
    path = tmp_path / f"data.{fmt}"
    if case in RAW_CASES:
        if fmt == "parquet":
            pytest.skip("parquet strings are UTF-8 by construction")
        bad, field, phrase = RAW_CASES[case]
        row = write_raw(path, bad)
    else:
        bad, field, phrase = CASES[case]
        row = write_rows(path, [GOOD, bad])
    assert grade(path, server) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("error: ")
    check_error_line(err[len("error: "):], path, row, field, phrase)

    code = grade(path, server, "--on-error", "skip")
    captured = capsys.readouterr()
    skipped = [x for x in captured.err.splitlines() if x.startswith("skipped: ")]
    assert len(skipped) == 1 and "Traceback" not in captured.err
    check_error_line(skipped[0][len("skipped: "):], path, row, field, phrase)
    if row == 2:  # the good row was graded
        summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
        assert summary["skipped_rows"] == [skipped[0][len("skipped: "):]]
        assert code == 0 and summary["samples"] == 1 and summary["outcomes"]["pairwise"] == {"verdict": 1}
    else:  # parquet could hold only the bad row: nothing to grade is an error (before any request), not a silent 0
        assert code == 2 and "no samples graded: all 1 rows were malformed and skipped" in captured.err


@pytest.mark.parametrize("content", ["", "[]", None])
def test_cli_empty_input_is_not_a_silent_zero(tmp_path, capsys, server, content):
    path = tmp_path / ("data.jsonl" if content is not None else "data.parquet")
    if content is None:
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa.table({"prompt": pa.array([], pa.string())}), path)
    else:
        path = path.with_suffix(".json") if content else path
        path.write_text(content)
    assert grade(path, server) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {path}: no samples graded: it has no records"


def test_cli_grades_a_million_character_response_whole(tmp_path, capsys, server):
    path = tmp_path / "big.jsonl"
    write_rows(path, [{**GOOD, "chosen": MILLION}])
    server.requests.clear()
    assert grade(path, server) == 0
    assert "samples 1" in capsys.readouterr().out
    assert MILLION in server.requests[-1]["messages"][-1]["content"]
    line = json.loads((tmp_path / "out.jsonl").read_text())
    assert line["result"]["kind"] == "verdict"


def test_cli_unreachable_endpoint_is_one_line_in_a_real_process(tmp_path):
    """In a real process too (where unclosed-session warnings would show), an unreachable judge is one line."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "data.jsonl"
    write_rows(path, [GOOD])
    p = subprocess.run([sys.executable, "-m", "rm_gallery.cli", "grade", str(path), "--grader", "pairwise", "--model",
                        "m", "--base-url", f"http://127.0.0.1:{port}/v1", "--out", str(tmp_path / "o.jsonl"),
                        "--no-cache"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 3
    assert p.stderr.count("\n") == 1 and p.stderr.startswith(f"error: cannot reach http://127.0.0.1:{port}/v1"), \
        p.stderr
