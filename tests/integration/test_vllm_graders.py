"""Every judge end to end through the runner against vLLM with the tiny model.

The tiny model is random, so where it cannot produce a grader's format on its own the request uses
vLLM's structured-output choice; the parsing, debiasing and logprob paths are the real ones.
"""

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.graders import create_grader
from rm_gallery.graders.debias import PositionDebiasedGrader
from rm_gallery.runner import GradingRunner
from rm_gallery.types import Rank, Score, Verdict

pytestmark = pytest.mark.integration


def choice(*options):
    return {"max_tokens": 160, "extra_body": {"structured_outputs": {"choice": list(options)}}}


RUBRIC_OUT = "<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval><answer>{}</answer>"


@pytest.fixture
async def judge(vllm_server):
    m = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url, api_key="EMPTY")
    yield m
    await m.aclose()


@pytest.fixture
def rows(short_rewardbench_rows):
    return short_rewardbench_rows[:6]


async def run(grader, rows):
    runner = GradingRunner({"g": grader}, concurrency=8, progress=False)
    return [r["g"] for r in await runner.arun(rows)], runner.summary


async def test_pairwise_and_variants(judge, rows):
    pref = create_grader("pairwise", model=judge, params=choice("<analysis>x</analysis><preference>A</preference>",
                                                                 "<analysis>x</analysis><preference>B</preference>"))
    results, summary = await run(PositionDebiasedGrader(pref), rows)
    assert all(isinstance(r, Verdict) for r in results) and summary.parse_failure_rate == 0
    assert all(set(r.metadata["orders"]) == {"ab", "ba"} for r in results)
    aspects = create_grader("pairwise_aspects", model=judge, params=choice(
        "<helpfulness>A</helpfulness><correctness>B</correctness><clarity>A</clarity><overall>A</overall>"))
    results, _ = await run(aspects, rows)
    assert all(r.aspects == {"helpfulness": "A", "correctness": "B", "clarity": "A"} for r in results)
    conf = create_grader("pairwise_confidence", model=judge,
                         params=choice("<preference>B</preference><confidence>0.7</confidence>"))
    results, _ = await run(conf, rows)
    assert all(r.winner == "B" and r.confidence == 0.7 for r in results)


async def test_unconstrained_random_output_is_a_parse_error_not_a_score(judge, rows):
    results, summary = await run(create_grader("pairwise", model=judge, params={"max_tokens": 8}), rows)
    assert all(r.kind == "parse_error" and r.raw is not None for r in results)
    assert summary.parse_failure_rate == 1.0


async def test_reasoning_judge(judge, rows):
    g = create_grader("reasoning", model=judge, params={"max_tokens": 24, "extra_body": {
        "structured_outputs": {"regex": r"[a-z ]{1,12}\[\[(A|B|C)\]\]"}}})
    results, _ = await run(g, rows)
    assert all(isinstance(r, Verdict) for r in results)


async def test_rubric_graders_and_listwise(judge, rows):
    g = create_grader("rubric", model=judge, params=choice(*(RUBRIC_OUT.format(i) for i in (3, 6, 9))), rollouts=2,
                      response_index=0)
    results, _ = await run(g, rows)
    assert all(isinstance(r, Score) and r.value in (3, 4.5, 6, 7.5, 9) for r in results)
    pair = create_grader("rubric_pair", model=judge, params=choice(*(RUBRIC_OUT.format(i) for i in (3, 6))))
    results, _ = await run(pair, rows)
    assert all(isinstance(r, Verdict) and {"score_a", "score_b"} <= set(r.metadata) for r in results)
    direct = create_grader("rubric_pairwise", model=judge, params=choice(RUBRIC_OUT.format("A"),
                                                                         RUBRIC_OUT.format("B")))
    results, _ = await run(direct, rows)
    assert all(isinstance(r, Verdict) and r.metadata["format_ok"] for r in results)
    from rm_gallery.graders.rubric import RubricPointwiseGrader

    scorer = RubricPointwiseGrader(judge, params=choice(*(RUBRIC_OUT.format(i) for i in (2, 5, 8))))
    lw = create_grader("listwise", scorer=scorer)
    results, _ = await run(lw, [{"id": "l", "prompt": "q", "responses": ["a", "bb", "ccc"]}])
    assert isinstance(results[0], Rank) and sorted(results[0].order) == [0, 1, 2]


async def test_win_probability_reads_real_logprobs(judge, rows):
    g = create_grader("win_probability", model=judge, constrain=True)
    results, _ = await run(g, rows)
    for r in results:
        assert isinstance(r, Verdict) and 0.0 < r.probability < 1.0
        assert 0.0 < r.metadata["p_ab"] < 1.0 and 0.0 < r.metadata["p_ba"] < 1.0
        assert r.usage.completion_tokens == 2  # exactly one generated token per order


async def test_expected_score_from_real_logprobs(judge, rows):
    g = create_grader("rubric", model=judge, score_mode="expected", response_index=0, params={
        "max_tokens": 64, "extra_body": {"structured_outputs": {"regex": r"<answer>[0-9]</answer>"}}})
    results, _ = await run(g, rows)
    assert all(isinstance(r, Score) and 0 <= r.value <= 9 for r in results)
