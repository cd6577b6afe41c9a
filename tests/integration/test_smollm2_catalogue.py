"""Every grader of the catalogue on the built-in real judge, SmolLM2-135M-Instruct, served by vLLM on CPU.

Natural output (no structured-output constraint), the catalogue's own prompts and parsers, a few short real
RewardBench pairs. A real model's answer is read or it is a parse error that keeps the raw text: never an API
error, never an exception, never a silent score. The figures per grader (parse failures, position consistency,
tokens per answer) come from ``perf/real_catalogue.py``; this test pins the behaviour, at CI size.
"""

from __future__ import annotations

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.graders import create_grader
from rm_gallery.graders.debias import PositionDebiasedGrader
from rm_gallery.graders.registry import list_graders
from rm_gallery.runner import GradingRunner

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: graders judged on a pair, in both orders (the debiasing wrapper), with a token budget for CI
PAIRWISE = {"pairwise": 256, "pairwise_aspects": 256, "pairwise_confidence": 256, "reasoning": 256,
            "rubric_pairwise": 256, "four_way": 256}
#: graders that decide by themselves how they use both responses
OWN_ORDERS = {"win_probability": None, "rubric_pair": 256, "listwise": 256}
#: graders that score one response
POINTWISE = {"rubric": 256, "relevance": 256}
NO_MODEL = {"function", "debiased"}  # a Python function; the wrapper used above


@pytest.fixture
async def smol(smollm2_server):
    m = OpenAIChatModel(smollm2_server.model_name, base_url=smollm2_server.base_url, api_key="EMPTY", timeout=600)
    yield m
    await m.aclose()


@pytest.fixture
def pairs(short_rewardbench_rows):
    return short_rewardbench_rows[:3]


def make(name: str, model, max_tokens: int | None):
    params = {} if max_tokens is None else {"params": {"max_tokens": max_tokens}}
    if name == "listwise":
        return create_grader(name, model=model, scorer=create_grader("rubric", model=model, **params))
    if name == "rubric":  # scores one response: the first of each pair
        params["response_index"] = 0
    return create_grader(name, model=model, **params)


def test_the_catalogue_is_covered():
    """Every built-in grader is in one of the lists above (other tests register their own graders in-process)."""
    builtin = {s.name for s in list_graders() if s.factory.__module__.startswith("rm_gallery.")}
    assert builtin == {*PAIRWISE, *OWN_ORDERS, *POINTWISE, *NO_MODEL}


async def test_every_grader_reads_the_real_judge_or_says_it_could_not(smol, pairs):
    graders = {n: PositionDebiasedGrader(make(n, smol, t)) for n, t in PAIRWISE.items() if n != "four_way"}
    graders |= {n: make(n, smol, t) for n, t in {**OWN_ORDERS, **POINTWISE}.items()}
    runner = GradingRunner(graders, concurrency=16, progress=False)
    results = await runner.arun(pairs)
    assert not runner.summary.failures, runner.summary.failures      # no failed request, retried or not
    for name in graders:
        for r in (row[name] for row in results):
            assert r.kind in ("verdict", "score", "rank", "parse_error"), (name, r)
            if r.kind == "parse_error":
                assert r.raw or any(o.get("raw") for o in r.metadata.get("orders", {}).values()), (name, r)
            assert r.usage.completion_tokens > 0, name


async def test_four_way_reads_the_real_judge_or_says_it_could_not(smol):
    """RewardBench 2's best-of-four on RM-Bench chat prompts: one chosen response among three rejected ones."""
    import json

    from rm_gallery.types import Message, Response, Sample
    from tests.conftest import RMBENCH, skip_or_fail

    path = RMBENCH / "chat_filtered.json"
    if not path.exists():
        skip_or_fail(f"shared data not found: {path}")
    rows = sorted(json.loads(path.read_text()), key=lambda r: len(r["prompt"]) + sum(map(len, r["rejected"])))[:2]
    samples = [Sample(id=str(r["id"]), messages=(Message(role="user", content=r["prompt"]),),
                      responses=tuple(Response(content=c) for c in [*r["rejected"], r["chosen"][0]]))
               for r in rows]
    runner = GradingRunner({"four_way": make("four_way", smol, PAIRWISE["four_way"])}, concurrency=4,
                           progress=False)
    results = [row["four_way"] for row in await runner.arun(samples)]
    assert not runner.summary.failures
    for r in results:
        assert r.kind in ("rank", "parse_error"), r
        assert r.kind == "rank" or r.raw, r
        assert r.usage.completion_tokens > 0


async def test_constrained_format_is_always_read_on_the_real_judge(smol, pairs):
    """SmolLM2 cannot hold a tag format on its own; with ``constrain=True`` every answer reads (vLLM's regex)."""
    import re

    graders = {"pairwise": create_grader("pairwise", model=smol, constrain=True, params={"max_tokens": 256}),
               "reasoning": create_grader("reasoning", model=smol, constrain=True, params={"max_tokens": 512})}
    runner = GradingRunner({k: PositionDebiasedGrader(g) for k, g in graders.items()}, concurrency=16,
                           progress=False)
    results = await runner.arun(pairs)
    assert not runner.summary.failures
    regex = {"pairwise": graders["pairwise"].output_regex, "reasoning": graders["reasoning"].output_regex(True)}
    for name in graders:
        for row in results:
            for order in row[name].metadata["orders"].values():
                assert order["kind"] == "verdict", (name, order)
                assert re.fullmatch(regex[name], order["raw"]), (name, order["raw"])


async def test_constrained_rubric_format_is_always_read_on_the_real_judge(smol, pairs):
    """PaTaRM's format forced (``constrain=True``): every rubric score and choice of SmolLM2 reads, format held."""
    import re

    from rm_gallery.graders.rubric import CHOICE_ANSWER, SCORE_ANSWER, output_regex

    graders = {"rubric": create_grader("rubric", model=smol, constrain=True, response_index=0,
                                       params={"max_tokens": 400}),
               "rubric_pairwise": PositionDebiasedGrader(create_grader("rubric_pairwise", model=smol, constrain=True,
                                                                       params={"max_tokens": 400}))}
    runner = GradingRunner(graders, concurrency=16, progress=False)
    results = await runner.arun(pairs)
    assert not runner.summary.failures
    for row in results:
        score = row["rubric"]
        assert score.kind == "score" and 0 <= score.value <= 10, score
        assert re.fullmatch(output_regex(SCORE_ANSWER), score.raw), score.raw
        for order in row["rubric_pairwise"].metadata["orders"].values():
            assert order["kind"] == "verdict" and order["winner"] in ("A", "B"), order
            assert re.fullmatch(output_regex(CHOICE_ANSWER), order["raw"]), order["raw"]


async def test_constrained_tag_and_json_formats_are_always_read_on_the_real_judge(smol, pairs):
    """``constrain=True`` on the aspects, confidence, relevance and four-way judges: every SmolLM2 answer reads."""
    import re

    def constrained(name: str):
        return create_grader(name, model=smol, constrain=True, params={"max_tokens": 320})

    from rm_gallery.types import Message, Response, Sample

    tagged = {n: PositionDebiasedGrader(constrained(n)) for n in ("pairwise_aspects", "pairwise_confidence")}
    relevance_grader = constrained("relevance")
    runner = GradingRunner({**tagged, "relevance": relevance_grader}, concurrency=16, progress=False)
    results = await runner.arun(pairs)
    assert not runner.summary.failures
    for row in results:
        for name, grader in tagged.items():
            for order in row[name].metadata["orders"].values():
                assert order["kind"] == "verdict", (name, order)
                assert re.fullmatch(grader.grader.output_regex, order["raw"]), (name, order["raw"])
        relevance = row["relevance"]
        assert relevance.kind == "verdict", relevance
        assert relevance.metadata["score_a"] in range(1, 6) and relevance.metadata["score_b"] in range(1, 6)
        for raw in relevance.raw.split("\n---\n"):
            assert re.fullmatch(relevance_grader.output_regex, raw), raw
    four = constrained("four_way")
    a, b = pairs[:2]
    sample = Sample(id="four", messages=(Message(role="user", content=a["prompt"]),),
                    responses=tuple(Response(content=c) for c in (a["rejected"], a["chosen"], b["rejected"],
                                                                  b["chosen"])))
    pick = (await GradingRunner({"four_way": four}, concurrency=1, progress=False).arun([sample]))[0]["four_way"]
    assert pick.kind == "rank" and re.fullmatch(four.output_regex, pick.raw), pick
