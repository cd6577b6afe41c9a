"""The client, runner, cache, resume and CLI against the real vLLM server serving the tiny model."""

import asyncio
import contextlib
import json
import subprocess
import sys

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.graders import create_grader
from rm_gallery.results_io import read_results
from rm_gallery.runner import GradingRunner

pytestmark = pytest.mark.integration
MSGS = [{"role": "system", "content": "You are a judge."}, {"role": "user", "content": "Is A better than B?"}]
PREF_CHOICE = {"structured_outputs": {"choice": ["<preference>A</preference>", "<preference>B</preference>",
                                                 "<preference>tie</preference>"]}}


@pytest.fixture
async def client(vllm_server):
    m = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url, api_key="EMPTY")
    yield m
    await m.aclose()


@pytest.mark.parametrize("transport", ["auto", "http11", "aiohttp", "openai"])
async def test_chat_logprobs_n_seed(vllm_server, transport):
    m = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url, api_key="EMPTY", transport=transport)
    c = await m.complete(MSGS, max_tokens=5, temperature=0, logprobs=True, top_logprobs=3)
    assert c.usage.prompt_tokens > 5 and 1 <= c.usage.completion_tokens <= 5
    lps = c.choices[0].logprobs
    assert lps and all(len(t.top) == 3 and t.logprob <= 0 for t in lps)
    assert lps[0].top[0][1] == pytest.approx(lps[0].logprob, abs=1e-4)  # greedy = argmax
    a = await m.complete(MSGS, max_tokens=6, temperature=1.0, n=3, seed=11)
    b = await m.complete(MSGS, max_tokens=6, temperature=1.0, n=3, seed=11)
    assert len(a.choices) == 3 and a.texts == b.texts
    await m.aclose()


async def test_structured_choice_and_system_merge(client, vllm_server):
    c = await client.complete(MSGS, max_tokens=12, temperature=0, extra_body=PREF_CHOICE)
    assert c.text in PREF_CHOICE["structured_outputs"]["choice"]
    merged = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url, system_role="merge")
    c2 = await merged.complete(MSGS, max_tokens=3, temperature=0, logprobs=True)
    assert c2.usage.prompt_tokens < c.usage.prompt_tokens + 10  # one turn fewer of ChatML framing
    await merged.aclose()


async def test_runner_concurrency_cache_and_resume(vllm_server, client, tmp_path, short_rewardbench_rows):
    rows = short_rewardbench_rows[:40]
    grader = create_grader("pairwise", model=client, params={"max_tokens": 12, "extra_body": PREF_CHOICE})
    out = tmp_path / "r.jsonl"
    runner = GradingRunner({"pref": grader}, concurrency=16, output=out, cache=tmp_path / "c.sqlite", progress=False)
    async with contextlib.aclosing(runner.astream(rows)) as stream:
        done = 0
        async for _ in stream:
            done += 1
            if done == 15:
                break
    resumed = GradingRunner({"pref": grader}, concurrency=16, output=out, resume=True, cache=tmp_path / "c.sqlite",
                            progress=False)
    results = await resumed.arun(rows)
    assert [r.index for r in results] == list(range(40))
    assert all(r["pref"].kind == "verdict" for r in results)
    keys = [(r["index"], r["grader"]) for r in read_results(out)]
    assert len(keys) == len(set(keys)) == 40
    requests_before = client.stats.requests
    again = GradingRunner({"pref": grader}, concurrency=16, cache=tmp_path / "c.sqlite", progress=False)
    cached = await again.arun(rows)
    assert client.stats.requests == requests_before and again.summary.cache_hits == 40
    assert [r["pref"].winner for r in cached] == [r["pref"].winner for r in results]


async def test_a_sample_longer_than_the_context_is_invalid_input(vllm_server, client, tmp_path):
    """vLLM rejects the prompt (HTTP 400); the result is a typed invalid_input error, the other sample is graded."""
    rows = [{"id": "fits", "prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"},
            {"id": "huge", "prompt": "Summarise: " + "lorem ipsum dolor sit amet " * 3000, "chosen": "ok",
             "rejected": "no"}]
    grader = create_grader("pairwise", model=client, params={"max_tokens": 12, "extra_body": PREF_CHOICE})
    runner = GradingRunner({"pref": grader}, concurrency=2, progress=False)
    results = await runner.arun(rows)
    huge = results[1]["pref"]
    assert huge.kind == "invalid_input" and "HTTP 400" in huge.message and "context" in huge.message.lower()
    assert results[0]["pref"].winner in ("A", "B", "tie")
    assert runner.summary.outcomes["pref"]["invalid_input"] == 1


async def test_many_concurrent_requests(client):
    outs = await asyncio.gather(*(client.complete(MSGS, max_tokens=4, temperature=0) for _ in range(32)))
    assert len({o.text for o in outs}) == 1  # greedy: identical answers under load


def test_cli_grades_rewardbench_rows(vllm_server, tmp_path, short_rewardbench_rows):
    data = tmp_path / "rb.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in short_rewardbench_rows[:25]))
    out = tmp_path / "out.jsonl"
    p = subprocess.run([sys.executable, "-m", "rm_gallery.cli", "grade", str(data), "--grader", "pairwise",
                        "--model", vllm_server.model_name, "--base-url", vllm_server.base_url, "--out", str(out),
                        "--no-cache", "--param", "max_tokens=12", "--param", "extra_body=" + json.dumps(PREF_CHOICE)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 25 and {x["result"]["kind"] for x in lines} == {"verdict"}
    assert "samples 25" in p.stdout
