"""Crash and resume through the CLI: SIGKILL at random points, resume each time, end with exactly the set an
uninterrupted run produces, and never re-request a (sample, grader) pair whose result was already on disk.

What can be asserted about requests, and why: the results file is the record of finished work (one
``os.write`` per line, so SIGKILL cannot tear a line) and ``--resume`` skips every pair it holds without
consulting the cache. So a pair is requested again only if it was *in flight* at a kill — requested, but its
result line not yet written — and there are at most ``--concurrency`` of those per kill. The response cache
is not needed for that guarantee: it commits in batches (512 rows or 1 s), so a kill loses its uncommitted
tail, and a later run that does *not* resume (``--overwrite``, a new ``--out``) requests those again;
``test_cache_loses_only_its_uncommitted_tail`` measures that loss.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rm_gallery.testing.replies import parity_records, parity_reply, parity_winner, sample_number
from rm_gallery.testing.stub_server import StubServer

GRADERS = ("pairwise", "reasoning")
CONCURRENCY = 16


def grader_tag(req: dict) -> str:
    """``"<sample>:<grader>"`` for a chat request (the reasoning template is the one that mentions [[A]])."""
    text = json.dumps(req["messages"])
    return f"{sample_number(req)}:{'reasoning' if '[[A]]' in text else 'pairwise'}"


@pytest.fixture
def server():
    with StubServer(parity_reply, latency=0.01, tag=grader_tag) as srv:
        yield srv


def write_data(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in parity_records(n)))
    return path


def grade_cmd(data: Path, out: Path, url: str, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "rm_gallery.cli", "grade", str(data), "--model", "stub-judge", "--base-url", url,
           "--out", str(out), "--concurrency", str(CONCURRENCY), "--no-progress", *extra]
    for g in GRADERS:
        cmd += ["--grader", g]
    return cmd


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def read_lines(path: Path, *, after_kill: bool = False) -> list[dict]:
    """Every line of a results file, asserting none is torn (complete JSON, newline-terminated).

    ``after_kill``: the file's contract after SIGKILL (results_io): at most the *last* line is partial (Linux may cut
    a ``write`` short at a page boundary when a fatal signal arrives), and the next ``--resume`` trims it. Every
    other line must still be complete JSON; only the complete lines are returned.
    """
    data = path.read_bytes() if path.exists() else b""
    if after_kill and data and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]  # the one torn tail allowed; an earlier torn line still fails below
    assert not data or data.endswith(b"\n"), "results file ends with a partial line"
    return [json.loads(line) for line in data.splitlines()]


def outcome_set(lines: list[dict]) -> set[tuple]:
    return {(x["index"], x["sample_id"], x["grader"], x["result"]["kind"], x["result"].get("winner"))
            for x in lines}


def wait_quiet(srv: StubServer) -> None:
    """Until the server has finished with every request the killed client sent (they keep arriving briefly)."""
    deadline = time.monotonic() + 10
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        quiet = quiet + 1 if srv.in_flight == 0 else 0
        time.sleep(0.03)


def test_sigkill_at_random_points_then_resume(tmp_path, server):
    n, kills_wanted = 800, 11
    rng = random.Random(2024)
    data = write_data(tmp_path / "data.jsonl", n)
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    cmd = grade_cmd(data, out, server.base_url, "--cache", str(cache), "--resume")
    attempts = []  # per killed attempt: lines before, lines after, pairs requested, pairs in flight at the kill
    while len(attempts) < kills_wanted:
        before_lines, first_event = line_count(out), len(server.events)
        written_before = {f"{x['index']}:{x['grader']}" for x in read_lines(out, after_kill=True)}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if rng.random() < 0.2:  # a random moment, possibly before grading has started
            time.sleep(rng.uniform(0.05, 0.8))
        else:  # a random point mid-grading
            target = before_lines + rng.randint(20, 110)
            while line_count(out) < target and proc.poll() is None:
                time.sleep(0.002)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        wait_quiet(server)
        lines = read_lines(out, after_kill=True)  # no torn line but possibly the last, even after SIGKILL
        written = {f"{x['index']}:{x['grader']}" for x in lines}
        requested = {e.tag for e in server.events[first_event:]}
        assert not requested & written_before, "a pair already on disk was requested again"
        in_flight = requested - written
        assert len(in_flight) <= CONCURRENCY
        attempts.append({"lines": (before_lines, len(lines)), "requested": len(requested),
                         "in_flight": in_flight})
    final_first_event = len(server.events)
    written_before = {f"{x['index']}:{x['grader']}" for x in read_lines(out, after_kill=True)}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not {e.tag for e in server.events[final_first_event:]} & written_before
    crash_events = list(server.events)

    # The final file is exactly what an uninterrupted run produces: same pairs, no duplicates, no torn lines.
    lines = read_lines(out)
    keys = [(x["index"], x["grader"]) for x in lines]
    assert len(keys) == len(set(keys)) == 2 * n
    ref = tmp_path / "ref.jsonl"
    clean = subprocess.run(grade_cmd(data, ref, server.base_url, "--no-cache"), capture_output=True, text=True,
                           timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert outcome_set(lines) == outcome_set(read_lines(ref))
    assert all(x["result"].get("winner") == parity_winner(x["index"]) for x in lines)

    # Requests: each pair once, plus once more for every kill that caught it in flight; nothing else.
    counts: dict[str, int] = {}
    for e in crash_events:
        counts[e.tag] = counts.get(e.tag, 0) + 1
    assert len(counts) == 2 * n
    caught = {}
    for a in attempts:
        for tag in a["in_flight"]:
            caught[tag] = caught.get(tag, 0) + 1
    for tag, c in counts.items():
        assert c <= 1 + caught.get(tag, 0), (tag, c)
    extra = len(crash_events) - 2 * n
    assert extra <= sum(len(a["in_flight"]) for a in attempts) <= kills_wanted * CONCURRENCY
    print({"samples": n, "pairs": 2 * n, "kills": len(attempts), "resumes": len(attempts),
           "requests": len(crash_events), "re_requested": extra,
           "in_flight_at_kills": [len(a["in_flight"]) for a in attempts],
           "lines_at_kills": [a["lines"][1] for a in attempts]})


def test_cache_loses_only_its_uncommitted_tail(tmp_path, server):
    """A kill loses the cache's uncommitted batch; a non-resumed re-run requests exactly the pairs it lost."""
    n = 300
    data = write_data(tmp_path / "data.jsonl", n)
    out, cache = tmp_path / "out.jsonl", tmp_path / "cache.sqlite"
    proc = subprocess.Popen(grade_cmd(data, out, server.base_url, "--cache", str(cache)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while line_count(out) < n and proc.poll() is None:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_quiet(server)
    on_disk = len(read_lines(out, after_kill=True))
    with sqlite3.connect(cache) as db:  # what survived the kill (the WAL is recovered on open)
        committed = db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert committed <= on_disk + CONCURRENCY
    first = len(server.events)
    rerun = subprocess.run(grade_cmd(data, tmp_path / "again.jsonl", server.base_url, "--cache", str(cache)),
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    requested = len(server.events) - first
    assert requested == 2 * n - committed  # every committed response was reused, nothing else was
    first = len(server.events)
    third = subprocess.run(grade_cmd(data, tmp_path / "third.jsonl", server.base_url, "--cache", str(cache)),
                           capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and len(server.events) == first  # a clean exit commits everything
    print({"results_on_disk_at_kill": on_disk, "cache_rows_committed": committed,
           "re_requested_without_resume": requested})


def grade_once(tmp_path: Path, server: StubServer, n: int = 40, *extra: str) -> tuple[Path, Path]:
    data = write_data(tmp_path / "data.jsonl", n)
    out = tmp_path / "out.jsonl"
    p = subprocess.run(grade_cmd(data, out, server.base_url, *extra), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return data, out


def test_half_written_last_line_is_trimmed_with_a_warning(tmp_path, server):
    data, out = grade_once(tmp_path, server, 40, "--no-cache")
    full = out.read_bytes()
    lines = full.splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:-3]) + lines[-3][: len(lines[-3]) // 2])  # a crash mid-line
    before = len(server.events)
    p = subprocess.run(grade_cmd(data, out, server.base_url, "--no-cache", "--resume"), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "ended with a partial line" in p.stderr and "removed it" in p.stderr and "Traceback" not in p.stderr
    assert len(server.events) - before == 3  # the torn line and the two after it, nothing else
    assert outcome_set(read_lines(out)) == outcome_set([json.loads(x) for x in full.splitlines()])


def test_corrupted_line_in_the_middle_is_one_clear_error(tmp_path, server):
    data, out = grade_once(tmp_path, server, 20, "--no-cache")
    lines = out.read_bytes().splitlines(keepends=True)
    lines[5] = b'{"index": 2, "sample_id": "s2", "gra\n'
    out.write_bytes(b"".join(lines))
    p = subprocess.run(grade_cmd(data, out, server.base_url, "--no-cache", "--resume"), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip() == (f"error: {out} line 6 is not a valid result record; fix or delete that line, "
                                "or start over without resume")


@pytest.fixture(scope="module")
def good_cache(tmp_path_factory):
    """A cache database and the results of the run that filled it (200 samples x 2 graders)."""
    tmp = tmp_path_factory.mktemp("good")
    with StubServer(parity_reply) as srv:
        data, out = grade_once(tmp, srv, 200, "--cache", str(tmp / "cache.sqlite"))
    return data, read_lines(out), (tmp / "cache.sqlite").read_bytes()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "directory"])
def test_damaged_cache_database_is_reported_and_the_run_goes_on(tmp_path, server, good_cache, damage):
    data, lines, good = good_cache
    cache = tmp_path / "cache.sqlite"
    if damage == "garbage":
        cache.write_bytes(os.urandom(len(good)))
    elif damage == "truncated":
        cache.write_bytes(good[: len(good) // 3])
    else:
        cache.mkdir()
    before = len(server.events)
    p = subprocess.run(grade_cmd(data, tmp_path / "again.jsonl", server.base_url, "--cache", str(cache)),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    warning = [x for x in p.stderr.splitlines() if "response cache" in x]
    assert len(warning) == 1, p.stderr
    if damage == "directory":
        assert "cannot be opened" in warning[0] and "continuing without the cache" in warning[0]
        assert cache.is_dir()  # a directory is not "damaged": it is left alone
    else:
        assert "is damaged" in warning[0] and "moved it to" in warning[0]
        assert list(tmp_path.glob("cache.sqlite.corrupt-*"))
    assert len(server.events) - before == 400  # every answer requested again; nothing wrong was reused
    assert outcome_set(read_lines(tmp_path / "again.jsonl")) == outcome_set(lines)
