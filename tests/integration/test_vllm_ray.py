"""A distributed run against real vLLM (the tiny model) gives exactly what a local run of the same file gives.

Both runs send one request at a time (one actor, runner concurrency 1), so vLLM sees the same batches and its
greedy answers are reproducible; one grader is constrained to a verdict by structured output, the other answers
freely (the random model's text is mostly unreadable: parse errors, typed, and identical too).
"""

from __future__ import annotations

import json

import pytest

from rm_gallery.cli import main
from rm_gallery.results_io import read_results

pytestmark = pytest.mark.integration


def test_ray_and_local_runs_against_vllm_are_identical(tmp_path, vllm_server, ray_address, short_rewardbench_rows):
    from rm_gallery.distributed import grade_on_ray

    data = tmp_path / "rb.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in short_rewardbench_rows[:6]))
    choice = {"structured_outputs": {"choice": ["<analysis>x</analysis><preference>A</preference>",
                                                "<analysis>x</analysis><preference>B</preference>"]}}
    config = {"model": {"model": vllm_server.model_name, "base_url": vllm_server.base_url, "api_key": "EMPTY"},
              "graders": {"pref": {"grader": "pairwise", "params": {"temperature": 0, "max_tokens": 40,
                                                                    "extra_body": choice}},
                          "free": {"grader": "reasoning", "params": {"temperature": 0, "max_tokens": 24}}},
              "runner": {"concurrency": 1}}
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    assert main(["grade", str(data), "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "local.jsonl"),
                 "--no-cache", "--no-progress"]) == 0
    summary = grade_on_ray(data, config, tmp_path / "shards", actors=1, shard_rows=3, num_cpus_per_actor=0.5)

    def comparable(path):
        return {(r["index"], r["grader"]): (r["sample_id"], r["result"].model_dump(exclude={"latency_s"}))
                for r in read_results(path)}

    local, ray_run = comparable(tmp_path / "local.jsonl"), comparable(tmp_path / "shards")
    assert ray_run == local and len(local) == 12
    assert {v[1]["kind"] for k, v in local.items() if k[1] == "pref"} == {"verdict"}
    assert summary.requests == 12 and summary.samples == 6
