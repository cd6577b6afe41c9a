"""score_mode="expected" on real vLLM with the tiny model, whose tokenizer writes one token per digit.

vLLM returns logprobs after the structured-output mask (tokens outside the grammar come back at -9999), so a
judge constrained to one answer string puts all its mass on that string: the expectation must then be that
number, whole. Reading the first digit only gave 1 for "10" and 7 for "7.5".
"""

import math

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.graders import create_grader
from rm_gallery.graders.score_distribution import CONTINUE_PARAMS
from rm_gallery.runner import GradingRunner
from rm_gallery.types import Sample, Score

pytestmark = pytest.mark.integration

RUBRIC_OUT = "<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval><answer>{}</answer>"


class Recording:
    """The served model, keeping every request and completion the grader makes."""

    def __init__(self, model):
        self.model, self.calls = model, []

    @property
    def cache_identity(self):
        return self.model.cache_identity

    async def complete(self, messages, **params):
        out = await self.model.complete(messages, **params)
        self.calls.append((messages, params, out))
        return out


@pytest.fixture
async def judge(vllm_server):
    m = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url, api_key="EMPTY")
    yield m
    await m.aclose()


def constrained(*answers):
    return {"max_tokens": 80, "top_logprobs": 20,
            "extra_body": {"structured_outputs": {"choice": [RUBRIC_OUT.format(a) for a in answers]}}}


@pytest.mark.parametrize("answer", ["10", "7.5", "0", "9"])
async def test_a_certain_multi_token_score_reads_whole(judge, short_rewardbench_rows, answer):
    g = create_grader("rubric", model=judge, score_mode="expected", response_index=0, params=constrained(answer))
    results = await GradingRunner({"g": g}, concurrency=4, progress=False).arun(short_rewardbench_rows[:3])
    for row in results:
        r = row["g"]
        assert isinstance(r, Score) and r.value == pytest.approx(float(answer), abs=1e-6), r
        assert r.metadata["expected_exact"] and r.metadata["format_ok"]


def after_one(top):
    """Split P(next | "1") from a reply's top logprobs: (P(10), P(a number above 10)); the rest ends at 1."""
    p10 = outside = 0.0
    for t, lp in top:
        q = math.exp(lp)
        if t == "0":
            p10 += q
        elif t[:1].isdigit():
            outside += q            # 11..19 and longer: beyond the 0-10 scale
        elif t[:1] == ".":
            assert t.strip(".") == "", f"decimal token {t!r}: extend this oracle"   # "1." still reads 1
    return p10, outside


async def test_an_unchosen_one_is_split_by_a_continuation(judge, short_rewardbench_rows):
    """Constrained to 9, 1 or 10: when the judge writes 9, the masked alternative "1" is 1 or 10, and one
    continuation after "<answer>1" says which; the value is the hand-computed expectation from the replies."""
    branches = []
    for seed, row in enumerate(short_rewardbench_rows[:8]):   # sampled (seeded): the tiny judge favours "1"
        rec = Recording(judge)
        g = create_grader("rubric", model=rec, score_mode="expected", response_index=0,
                          params={**constrained("9", "1", "10"), "temperature": 1.0, "seed": seed})
        r = await g.grade(Sample.from_record(row))
        assert isinstance(r, Score) and r.metadata["expected_exact"]
        first = rec.calls[0][2].choices[0].logprobs
        k = next(i for i, t in enumerate(first) if t.token.strip()[:1].isdigit())
        p = {t: math.exp(lp) for t, lp in first[k].top if lp > -100}   # the mask leaves only 9 and 1
        assert set(p) <= {"9", "1"} and sum(p.values()) == pytest.approx(1.0)
        branches.append(first[k].token)
        if first[k].token == "9" and "1" in p:
            (messages, params, follow), = rec.calls[1:]
            assert messages[-1] == {"role": "assistant", "content": "".join(t.token for t in first[:k]) + "1"}
            assert params["max_tokens"] == 1 and params["extra_body"]["continue_final_message"] is True
            p10, outside = after_one(follow.choices[0].logprobs[0].top)
            used = rec.calls[0][2].usage.completion_tokens + follow.usage.completion_tokens
            assert r.usage.completion_tokens == used
        elif first[k].token == "9":
            assert len(rec.calls) == 1
            p10 = outside = 0.0
        else:  # the judge wrote 1: the path itself tells 1 from 10 (under the mask: "0" or the closing tag)
            assert len(rec.calls) == 1
            p10, outside = after_one(first[k + 1].top)
        p1 = p.get("1", 0.0)
        expected = (9 * p.get("9", 0.0) + p1 * (10 * p10 + 1 * (1 - p10 - outside))) / (1 - p1 * outside)
        assert r.value == pytest.approx(expected, rel=1e-6)
    assert {"1", "9"} <= set(branches), f"both branches must be exercised: {branches}"


async def test_a_continuation_sees_exactly_what_the_generation_saw(judge):
    """The premise of the follow-up: continuing the judge's own text gives the same next-token logprobs as
    the generation had at that position (unconstrained, so the text is tokenized as generated)."""
    messages = [{"role": "user", "content": "Score this answer from 0 to 10: the sky is green."}]
    gen = await judge.complete(messages, max_tokens=6, temperature=0.0, logprobs=True, top_logprobs=20)
    toks = gen.choices[0].logprobs
    for j in (1, 4):
        prefix = "".join(t.token for t in toks[:j])
        follow = await judge.complete([*messages, {"role": "assistant", "content": prefix}], **CONTINUE_PARAMS)
        seen, again = dict(toks[j].top), dict(follow.choices[0].logprobs[0].top)
        assert seen.keys() == again.keys()
        assert all(abs(seen[t] - again[t]) < 1e-4 for t in seen), (prefix, seen, again)
