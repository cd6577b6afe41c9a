"""Distributed grading on a local Ray cluster started by the test (``ray.init(num_cpus=2)``) against the stub.

A Ray run must give what a local run of the same file gives (results, ids, indices, cache keys), survive an
actor killed mid-run and a driver killed mid-run (resume), and turn bad rows into typed errors.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rm_gallery.distributed import grade_on_ray
from rm_gallery.distributed.shards import list_parts, read_manifest
from rm_gallery.results_io import read_results, summarize_results
from rm_gallery.testing.replies import parity_winner
from rm_gallery.testing.stub_server import StubProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judge():
    """A stub judge in its own process that answers each sample by its number (A for even, B for odd)."""
    with StubProcess("--latency", "0.02", "--responder", "rm_gallery.testing.replies:parity_reply") as stub:
        yield stub


def records(n: int) -> list[dict]:
    """Parity rows; every third has no id, so the loader's default ids (``row-N``) are exercised too."""
    out = []
    for i in range(n):
        rec = {"id": f"s{i}", "prompt": f"Q#{i}# which answer is right?", "chosen": f"x{i}", "rejected": "y"}
        if i % 3 == 0:
            del rec["id"]
        out.append(rec)
    return out


def write_jsonl(path: Path, recs: list, extra: dict[int, str] | None = None) -> Path:
    lines = []
    for i, r in enumerate(recs):
        lines.append(json.dumps(r))
        lines.extend((extra or {}).get(i, "").splitlines())
    path.write_text("\n".join(lines) + "\n")
    return path


def config(judge, concurrency: int = 4) -> dict:
    return {"model": {"model": "stub-judge", "base_url": judge.base_url, "max_retries": 2, "timeout": 30},
            "graders": {"pref": {"grader": "pairwise"}, "reason": {"grader": "reasoning"}},
            "aggregators": {"vote": {"type": "majority_vote"}},
            "runner": {"concurrency": concurrency}}


def env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rm_gallery.cli", *args]


def comparable(recs) -> dict:
    """(index, grader) -> (sample id, aggregate?, result without its timing)."""
    out = {}
    for r in recs:
        key = (r["index"], r["grader"])
        assert key not in out, f"duplicate result for {key}"
        out[key] = (r["sample_id"], bool(r.get("aggregate")), r["result"].model_dump(exclude={"latency_s"}))
    return out


def cache_keys(*paths: Path) -> set[str]:
    keys: set[str] = set()
    for p in paths:
        with sqlite3.connect(p) as db:
            keys |= {k for (k,) in db.execute("SELECT key FROM responses")}
    return keys


def test_ray_run_equals_a_local_run_results_ids_and_cache_keys(tmp_path, ray_address, judge):
    data = write_jsonl(tmp_path / "data.jsonl", records(57), extra={10: "\n\n"})  # blank lines: rows != indices
    (tmp_path / "cfg.json").write_text(json.dumps(config(judge)))
    local = subprocess.run(cli("grade", str(data), "--config", str(tmp_path / "cfg.json"), "--out",
                               str(tmp_path / "local.jsonl"), "--cache", str(tmp_path / "local" / "c.sqlite"),
                               "--no-progress"), capture_output=True, text=True, env=env(), timeout=300)
    assert local.returncode == 0, local.stderr
    ray_run = subprocess.run(cli("grade", str(data), "--config", str(tmp_path / "cfg.json"), "--ray", ray_address,
                                 "--out", str(tmp_path / "shards"), "--shard-rows", "10", "--actors", "2",
                                 "--actor-cpus", "0.5", "--jsonl", "--cache", str(tmp_path / "ray" / "c.sqlite"),
                                 "--no-progress"), capture_output=True, text=True, env=env(), timeout=600)
    assert ray_run.returncode == 0, ray_run.stderr[-3000:]

    want = comparable(read_results(tmp_path / "local.jsonl"))
    got = comparable(read_results(tmp_path / "shards"))
    assert got == want and len(got) == 57 * 3  # two graders and the vote, for every sample
    assert {v[0] for k, v in got.items() if k[0] % 3 == 0} >= {"row-1", "row-4"}  # default ids from file rows
    assert got[(12, "pref")][0] == "row-15"  # two blank lines after row 11 shift rows, not indices
    for (index, _), (_, _, result) in got.items():
        assert result["kind"] == "verdict" and result["winner"] == parity_winner(index)
    # the JSONL parts hold the same records a local results file does
    lines = [json.loads(x) for p in sorted((tmp_path / "shards" / "parts").glob("*.jsonl"))
             for x in p.read_text().splitlines()]
    assert sorted((x["index"], x["grader"]) for x in lines) == sorted(want)
    # the same requests, so the same cache keys: the actors' caches together hold exactly the local cache's keys
    ray_caches = sorted((tmp_path / "ray").glob("c.ray-*.sqlite"))
    assert len(ray_caches) == 2
    keys = cache_keys(*ray_caches)
    assert keys == cache_keys(tmp_path / "local" / "c.sqlite") and len(keys) == 114
    # the summary table reads the shards like a results file
    table = subprocess.run(cli("summary", str(tmp_path / "shards")), capture_output=True, text=True, env=env())
    assert table.returncode == 0 and "samples 57" in table.stdout and "requests 114" in table.stdout
    assert summarize_results(tmp_path / "shards").outcomes == summarize_results(tmp_path / "local.jsonl").outcomes
    manifest = read_manifest(tmp_path / "shards")
    assert manifest["status"] == "complete" and len(manifest["shards"]) == 6


def test_bad_rows_become_typed_errors_and_the_job_completes(tmp_path, ray_address, judge):
    recs = records(12)
    recs[4] = {"prompt": "Q#4# only a prompt"}  # no responses
    data = write_jsonl(tmp_path / "bad.jsonl", recs, extra={6: "this is not json", 8: '{"prompt": "\\ud800x"}'})
    summary = grade_on_ray(data, config(judge), tmp_path / "out", shard_rows=5, actors=1, num_cpus_per_actor=0.5)
    got = {(r["index"], r["grader"]): r for r in read_results(tmp_path / "out")}
    assert len({i for i, _ in got}) == 14 and summary.samples == 14
    errors = {i: r["result"] for (i, g), r in got.items() if g == "pref" and r["result"].kind != "verdict"}
    assert sorted(errors) == [4, 7, 10]
    assert all(e.kind == "invalid_input" for e in errors.values())
    assert "row 5: field 'responses': missing" in errors[4].message
    assert "row 8: is not valid JSON" in errors[7].message and got[(7, "pref")]["sample_id"] == "row-8"
    assert "row 11" in errors[10].message and "surrogate" in errors[10].message
    assert not got[(4, "vote")]["result"].ok  # the vote over a sample with no verdicts is an error, not a tie
    assert summary.outcomes["pref"]["invalid_input"] == 3 and summary.outcomes["pref"]["verdict"] == 11


def map_workers() -> list[int]:
    """Pids of Ray Data's actor processes (their titles start with ``ray::MapWorker``)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::MapWorker"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def test_sigkill_one_actor_mid_run_nothing_lost_or_duplicated(tmp_path, ray_address, judge):
    n = 300
    data = write_jsonl(tmp_path / "data.jsonl", records(n))
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_one_when_work_is_half_done() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            done = len(list((out / "parts").glob("*.parquet"))) if (out / "parts").is_dir() else 0
            workers = map_workers()
            if done >= 2 and workers:
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_when_work_is_half_done, daemon=True)
    killer.start()
    summary = grade_on_ray(data, config(judge, concurrency=2), out, shard_rows=20, actors=2, num_cpus_per_actor=0.5)
    killer.join(5)
    assert killed, "no actor was killed: the run ended before any part was written"
    recs = list(read_results(out))
    keys = [(r["index"], r["grader"]) for r in recs]
    assert len(keys) == len(set(keys)) == 3 * n  # none duplicated
    assert {i for i, _ in keys} == set(range(n))  # none lost
    assert all(r["result"].kind == "verdict" and r["result"].winner == parity_winner(r["index"]) for r in recs)
    assert summary.samples == n and len(list_parts(out)) == 15
    assert read_manifest(out)["status"] == "complete"


def test_resume_after_the_driver_is_killed(tmp_path, ray_address, judge):
    n = 300
    data = write_jsonl(tmp_path / "data.jsonl", records(n))
    (tmp_path / "cfg.json").write_text(json.dumps(config(judge, concurrency=2)))
    out = tmp_path / "out"
    args = ("grade", str(data), "--config", str(tmp_path / "cfg.json"), "--ray", ray_address, "--out", str(out),
            "--shard-rows", "20", "--actors", "2", "--actor-cpus", "0.5", "--no-cache", "--no-progress")
    driver = subprocess.Popen(cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and driver.poll() is None:
        if (out / "parts").is_dir() and len(list((out / "parts").glob("*.parquet"))) >= 3:
            break
        time.sleep(0.05)
    assert driver.poll() is None, f"the driver ended before it could be killed: {driver.stderr.read()[-2000:]}"
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    driver.stderr.close()
    before = {p.path.name: p.path.stat().st_mtime_ns for p in list_parts(out)}
    assert 3 <= len(before) < 15 and read_manifest(out)["status"] == "running"
    requests_before = judge.stats().counts["requests"]

    again = subprocess.run(cli(*args, "--resume"), capture_output=True, text=True, env=env(), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    after = {p.path.name: p.path.stat().st_mtime_ns for p in list_parts(out)}
    assert {k: after[k] for k in before} == before  # finished shards were kept, not graded again
    assert len(after) == 15
    recs = list(read_results(out))
    keys = [(r["index"], r["grader"]) for r in recs]
    assert len(keys) == len(set(keys)) == 3 * n and {i for i, _ in keys} == set(range(n))
    resumed_requests = judge.stats().counts["requests"] - requests_before
    assert resumed_requests < 2 * n  # finished shards were not asked for again (see the part files above)
    assert f"resumed {2 * 20 * len(before)}" in again.stdout
    assert read_manifest(out)["status"] == "complete"
    # a resumed run refuses another input or another config
    write_jsonl(data, records(n + 1))
    other = subprocess.run(cli(*args, "--resume"), capture_output=True, text=True, env=env(), timeout=300)
    assert other.returncode == 2 and "cannot be resumed" in other.stderr and "Traceback" not in other.stderr


def test_each_actor_drives_its_own_share_of_the_endpoints(tmp_path, ray_address, judge):
    with StubProcess("--responder", "rm_gallery.testing.replies:parity_reply") as second:
        urls = [judge.base_url, second.base_url]
        cfg = config(judge)
        cfg["model"]["base_url"] = urls
        before = [judge.stats().counts["requests"], 0]
        grade_on_ray(write_jsonl(tmp_path / "d.jsonl", records(40)), cfg, tmp_path / "out", shard_rows=5, actors=2,
                     num_cpus_per_actor=0.5)
        served = [judge.stats().counts["requests"] - before[0], second.stats().counts["requests"]]
    graded = [0, 0]
    for part in list_parts(tmp_path / "out"):
        graded[part.stats["slot"]] += part.stats["samples"]
    # slot s prefers urls[s] alone: every request of an actor went to its own replica (2 graders per sample)
    assert served == [2 * graded[0], 2 * graded[1]] and sum(graded) == 40
