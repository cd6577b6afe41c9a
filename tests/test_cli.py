"""The CLI: a real end-to-end grade against the stub, and one clear line for every user error."""

import json
import socket
import subprocess
import sys

import pytest

from rm_gallery.cli import main
from rm_gallery.testing.stub_server import StubServer


@pytest.fixture(scope="module")
def server():
    with StubServer() as srv:
        yield srv


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rm_gallery.cli", *args], capture_output=True, text=True,
                          timeout=120)


def test_grade_rewardbench_rows_end_to_end(tmp_path, server, rewardbench_rows):
    data = tmp_path / "rb.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rewardbench_rows[:200]))
    out = tmp_path / "out.jsonl"
    p = run_cli("grade", str(data), "--grader", "pairwise", "--model", "stub-judge", "--base-url",
                server.base_url, "--out", str(out), "--no-cache", "--param", "temperature=0.3")
    assert p.returncode == 0, p.stderr
    assert "verdict" in p.stdout and "samples 200" in p.stdout
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 200 and {x["result"]["kind"] for x in lines} == {"verdict"}
    summary = json.loads((tmp_path / "out.jsonl.summary.json").read_text())
    assert summary["outcomes"]["pairwise"]["verdict"] == 200
    # the same command again refuses to clobber, and --resume does no new work
    again = run_cli("grade", str(data), "--grader", "pairwise", "--model", "stub-judge", "--base-url",
                    server.base_url, "--out", str(out), "--no-cache")
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    before = server.counts["requests"]
    resumed = run_cli("grade", str(data), "--grader", "pairwise", "--model", "stub-judge", "--base-url",
                      server.base_url, "--out", str(out), "--no-cache", "--resume")
    assert resumed.returncode == 0 and server.counts["requests"] == before
    assert "resumed 200" in resumed.stdout


def test_graders_lists_the_registry(capsys):
    assert main(["graders"]) == 0
    out = capsys.readouterr().out
    assert "pairwise" in out and "function" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_missing_file(capsys, tmp_path):
    assert main(["grade", str(tmp_path / "nope.jsonl"), "--grader", "pairwise", "--model", "m"]) == 2
    assert "nope.jsonl: no such file" in error_line(capsys)


def test_malformed_row_names_row_and_field(capsys, tmp_path, server):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "chosen": "x", "rejected": "y"}\n{"prompt": "b", "chosen": 5, "rejected": "y"}\n')
    before = server.counts["requests"]
    code = main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url", server.base_url,
                 "--out", str(tmp_path / "o.jsonl"), "--no-cache", "--no-progress"])
    assert code == 2
    assert error_line(capsys) == \
        f"error: {data}, row 2: field 'chosen': expected a string or an object with 'content', got int"
    # the whole file is checked before the judge is asked anything: no request, no half-graded output
    assert server.counts["requests"] == before and not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("bad_row", [1, 3000])
def test_bad_data_behind_an_unreachable_judge_reports_the_data(capsys, tmp_path, bad_row):
    rows = [json.dumps({"prompt": f"q{i}", "chosen": "x", "rejected": "y"}) for i in range(3000)]
    rows[bad_row - 1] = json.dumps({"prompt": "q", "chosen": "x"})
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(rows) + "\n")
    code = main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url",
                 f"http://127.0.0.1:{_free_port()}/v1", "--out", str(tmp_path / "o.jsonl"), "--no-cache"])
    assert code == 2
    assert error_line(capsys).startswith(f"error: {data}, row {bad_row}: field 'rejected': missing")


def test_all_rows_skipped_fails_before_contacting_the_judge(capsys, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "q"}\nnot json\n')
    code = main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url",
                 f"http://127.0.0.1:{_free_port()}/v1", "--out", str(tmp_path / "o.jsonl"), "--on-error", "skip"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {data}: no samples graded: all 2 rows were malformed and skipped"
    assert [x.split(": ")[1] for x in err[:-1]] == [f"{data}, row 1", f"{data}, row 2"]


def test_skip_mode_reports_bad_rows(capsys, tmp_path, server):
    data = tmp_path / "d.jsonl"
    data.write_bytes(b'{"prompt": "a", "chosen": "x", "rejected": "y"}\n{"prompt": "\xff\xfe"}\nnot json\n')
    code = main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url", server.base_url,
                 "--out", str(tmp_path / "o.jsonl"), "--no-cache", "--no-progress", "--on-error", "skip"])
    captured = capsys.readouterr()
    assert code == 0 and "samples 1" in captured.out
    assert "skipped: " + str(data) + ", row 2: is not valid UTF-8 (byte 12)" in captured.err
    assert ", row 3: is not valid JSON" in captured.err and "Traceback" not in captured.err
    summary = json.loads((tmp_path / "o.jsonl.summary.json").read_text())
    assert len(summary["skipped_rows"]) == 2


def test_unreachable_endpoint(capsys, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "chosen": "x", "rejected": "y"}\n')
    code = main(["grade", str(data), "--grader", "pairwise", "--model", "m", "--base-url",
                 f"http://127.0.0.1:{_free_port()}/v1", "--out", str(tmp_path / "o.jsonl")])
    assert code == 3
    assert "cannot reach http://127.0.0.1" in error_line(capsys)


@pytest.mark.parametrize("args, needle", [
    (["--grader", "nope", "--model", "m"], "unknown grader 'nope'"),
    (["--model", "m"], "no grader chosen"),
    (["--grader", "pairwise"], "needs a model"),
    (["--grader", "pairwise", "--model", "m", "--param", "temperature"], "--param expects KEY=VALUE"),
    (["--grader", "pairwise", "--model", "m", "--template", "/nonexistent.j2"], "cannot read template file"),
    (["--grader", "pairwise", "--model", "m", "--retry-errors"], "use it with --resume"),
])
def test_usage_errors(capsys, tmp_path, args, needle):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "a", "chosen": "x", "rejected": "y"}\n')
    assert main(["grade", str(data), *args]) == 2
    assert needle in error_line(capsys)


def test_wrong_file_type(capsys, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,b\n")
    assert main(["grade", str(data), "--grader", "pairwise", "--model", "m"]) == 2
    assert "unknown file type '.csv'" in error_line(capsys)
