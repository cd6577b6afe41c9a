"""Ctrl-C: the CLI finishes writing, prints one clear message with the exact resume command, exits 130, and that
command completes the set. SIGINT at any moment (even during start-up) never prints a traceback.
"""

from __future__ import annotations

import json
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rm_gallery.testing.replies import parity_records, parity_reply, parity_winner
from rm_gallery.testing.stub_server import StubServer


@pytest.fixture
def server():
    with StubServer(parity_reply, latency=0.02) as srv:
        yield srv


def write_data(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in parity_records(n)))
    return path


def grade_args(data: Path, out: Path, url: str) -> list[str]:
    return ["grade", str(data), "--grader", "pairwise", "--grader", "reasoning", "--model", "stub-judge",
            "--base-url", url, "--out", str(out), "--cache", str(out.parent / "cache.sqlite"), "--concurrency", "8",
            "--no-progress"]


def start_cli(args: list[str]) -> subprocess.Popen:
    """The CLI as a user's shell starts it: SIGINT at its default even when this test runs in a background job
    (a non-interactive shell starts those with SIGINT ignored, and Python then never raises KeyboardInterrupt)."""
    return subprocess.Popen([sys.executable, "-m", "rm_gallery.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_ctrl_c_mid_run_finishes_writing_and_prints_how_to_resume(tmp_path, server):
    n = 800
    data, out = write_data(tmp_path / "data.jsonl", n), tmp_path / "out.jsonl"
    proc = start_cli(grade_args(data, out, server.base_url))
    while line_count(out) < 150 and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 2, stderr  # one message: what is saved, and the command that resumes
    assert lines[0].startswith("interrupted; ") and f"every finished result is in {out}" in lines[0]
    assert lines[1].startswith("resume with: rm-gallery grade ") and lines[1].endswith(" --resume")
    data_bytes = out.read_bytes()
    assert data_bytes.endswith(b"\n")  # finished writing: no partial line
    done = [json.loads(x) for x in data_bytes.splitlines()]
    assert 150 <= len(done) < 2 * n

    server.latency = 0.0
    before = server.counts["requests"]
    resume = shlex.split(lines[1][len("resume with: "):])
    assert resume[0] == "rm-gallery"
    p = subprocess.run([sys.executable, "-m", "rm_gallery.cli", *resume[1:]], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"resumed {len(done)}" in p.stdout
    final = [json.loads(x) for x in out.read_text().splitlines()]
    keys = [(x["index"], x["grader"]) for x in final]
    assert len(keys) == len(set(keys)) == 2 * n
    assert all(x["result"]["winner"] == parity_winner(x["index"]) for x in final)
    # in-flight work at Ctrl-C was abandoned, not lost: the resume asks for each remaining pair at most once
    assert server.counts["requests"] - before <= 2 * n - len(done)


def _import_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import rm_gallery.cli"], check=True)
    return time.perf_counter() - started


def test_ctrl_c_at_any_moment_is_never_a_traceback(tmp_path, server):
    data = write_data(tmp_path / "data.jsonl", 300)
    rng = random.Random(7)
    outcomes = []
    # The first moments (the interpreter starting and importing the package, before cli.py runs a line) are
    # Python's own: a Ctrl-C there gets its default traceback. Measure that window here, on this (maybe busy)
    # machine, and aim past it.
    boot = max(_import_seconds() for _ in range(3))
    for i in range(6):
        out = tmp_path / f"out{i}.jsonl"
        proc = start_cli(grade_args(data, out, server.base_url))
        time.sleep(rng.uniform(1.5 * boot, 1.5 * boot + 1.0))  # start-up, endpoint check, or mid-grading
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        assert "Traceback" not in stderr, stderr
        if proc.returncode == 0:  # finished before the signal arrived
            outcomes.append("finished")
            continue
        assert proc.returncode == 130, stderr
        lines = [x for x in stderr.splitlines() if x.strip()]
        assert lines[0].startswith("interrupted"), stderr
        assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("resume with: ")), stderr
        assert not out.exists() or out.read_bytes().endswith(b"\n") or not out.read_bytes()
        outcomes.append("resume" if "resume with:" in stderr else "early")
    assert "resume" in outcomes and "early" in outcomes, outcomes
