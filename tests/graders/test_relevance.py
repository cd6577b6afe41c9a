"""The relevance judge: its parser (the last score decides), its template, and what it returns per sample shape."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.graders import RelevanceGrader, create_grader
from rm_gallery.graders.relevance import RelevanceJudgment, parse_relevance
from rm_gallery.testing.fuzz import TEXT
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.types import GraderError, ParseFailure, Rank, Sample, Score, Verdict


@pytest.mark.parametrize(("text", "expected"), [
    ('{"score": 4, "reason": "covers the key points"}', RelevanceJudgment(4, "covers the key points")),
    ('```json\n{\n  "score": 5,\n  "reason": "all of \\"it\\""\n}\n```', RelevanceJudgment(5, 'all of "it"')),
    ('{"reason": "off-topic", "score": 1}', RelevanceJudgment(1, "off-topic")),
    ('JSON:\n{"score": "3", "reason": "partial"}', RelevanceJudgment(3, "partial")),
    ('{"score": 4.0}', RelevanceJudgment(4, None)),
    ('{"score": 2, "reason": "quoted"} final: {"score": 5}', RelevanceJudgment(5, None)),  # no borrowed reason
])
def test_parser_reads_the_judges_json(text, expected):
    assert parse_relevance(text) == expected


@pytest.mark.parametrize(("text", "code"), [
    ("The response is relevant. Score: 4", "missing_score"),
    ('{"score": 4, "reason": "r"} on reflection {"score": "high"}', "invalid_score"),   # never falls back to 4
    ('{"score": 6}', "invalid_score"),
    ('{"score": 0}', "invalid_score"),
    ('{"score": 3.5}', "invalid_score"),
    ('{"score": 4/5}', "invalid_score"),
    ('{"score": 4 or 5}', "invalid_score"),
    (None, "missing_score"),
])
def test_parser_failures_are_typed(text, code):
    out = parse_relevance(text)
    assert isinstance(out, ParseFailure) and out.code == code


@settings(max_examples=400, deadline=None)
@given(TEXT, st.integers(1, 5))
def test_the_final_score_decides(prefix, score):
    assert parse_relevance(prefix + f'\n{{"score": {score}, "reason": "r"}}') == RelevanceJudgment(score, "r")
    assert isinstance(parse_relevance(prefix + '\n{"score": "unsure"}'), ParseFailure)
    assert isinstance(parse_relevance(prefix + f'\n{{"score": {score + 5}}}'), ParseFailure)


QUERY = "What are the benefits of exercise?"
GOOD = "Regular exercise improves cardiovascular health, boosts mood and energy, and lowers disease risk."
SHORT = "Exercise is good for you."


def length_judge(req):
    """Scores the response in the prompt: 5 for a long one, 2 for a short one, garbage for 'unreadable'."""
    text = req["messages"][-1]["content"]
    response = re.search(r"<response>\n(.*?)\n</response>", text, re.S).group(1)
    if response == "unreadable":
        return "I would rather not say."
    return f'{{"score": {5 if len(response) > 40 else 2}, "reason": "{len(response)} chars"}}'


@pytest.fixture
async def judge(make_model):
    async with StubServer(length_judge, record=True) as srv:
        yield RelevanceGrader(make_model(srv.base_url)), srv


def sample(*responses, **metadata):
    return Sample.from_record({"id": "s", "prompt": QUERY, "responses": list(responses), "metadata": metadata})


async def test_one_response_is_a_score_on_1_to_5(judge):
    grader, srv = judge
    result = await grader.grade(sample(GOOD))
    assert isinstance(result, Score) and (result.score, result.scale) == (5.0, (1.0, 5.0))
    assert result.reason == f"{len(GOOD)} chars"
    sent = srv.requests[-1]
    prompt = sent["messages"][-1]["content"]
    assert sent["temperature"] == 0.0 and "5: Highly relevant with comprehensive information" in prompt
    assert "<context>" not in prompt and "<reference_response>" not in prompt


async def test_two_responses_are_compared_by_their_scores(judge):
    grader, _ = judge
    result = await grader.grade(sample(SHORT, GOOD))
    assert isinstance(result, Verdict) and result.winner == "B"
    assert (result.metadata["score_a"], result.metadata["score_b"]) == (2.0, 5.0)
    assert (await grader.grade(sample(SHORT, SHORT))).winner == "tie"          # equal scores
    failed = await grader.grade(sample(GOOD, "unreadable"))
    assert isinstance(failed, GraderError) and failed.kind == "parse_error"  # never decided on one side
    ranked = await grader.grade(sample(SHORT, GOOD, "ok"))
    assert isinstance(ranked, Rank) and ranked.order == (1, 0, 2) and ranked.scores == (2.0, 5.0, 2.0)


async def test_openjudge_aevaluate_with_context_and_reference(judge):
    grader, srv = judge
    result = await grader.aevaluate(query=QUERY, response=SHORT, context="a beginner asks",
                                    reference_response="Exercise helps the heart.")
    assert result.score == 2.0 and result.reason == "25 chars"
    sent = srv.requests[-1]["messages"][-1]["content"]
    assert "<context>\na beginner asks\n</context>" in sent
    assert "<reference_response>\nExercise helps the heart.\n</reference_response>" in sent


def test_registered_and_exposed_where_the_docs_import_it():
    from rm_gallery.core.graders.common import RelevanceGrader as FromCommon
    from rm_gallery.core.graders.common.relevance import RelevanceGrader as FromModule

    assert FromCommon is FromModule is RelevanceGrader
    assert isinstance(create_grader("relevance", model=None), RelevanceGrader)
    assert RelevanceGrader.parser is parse_relevance
