"""``constrain=True``: the format forced on a weak judge is one its grader's own parser always reads, exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.graders import create_grader
from rm_gallery.graders.four_way import FourWayGrader, parse_four_way
from rm_gallery.graders.pairwise import PairwiseGrader, parse_preference
from rm_gallery.graders.pairwise_variants import (
    ConfidencePairwiseGrader,
    MultiAspectPairwiseGrader,
    parse_aspects,
    parse_confidence,
)
from rm_gallery.graders.reasoning import ReasoningJudgeGrader, parse_bracket_verdict
from rm_gallery.graders.relevance import RelevanceGrader, parse_relevance
from rm_gallery.graders.rubric import CHOICE_ANSWER, SCORE_ANSWER, parse_rubric_choice, parse_rubric_score
from rm_gallery.graders.rubric import output_regex as rubric_regex

PAIRWISE = PairwiseGrader.output_regex


@settings(max_examples=300, deadline=None)
@given(st.from_regex(PAIRWISE, fullmatch=True))
def test_every_answer_the_pairwise_constraint_allows_reads_as_its_final_preference(text):
    want = re.search(r"<preference>(A|B|tie)</preference>$", text).group(1)
    assert parse_preference(text) == want


@settings(max_examples=300, deadline=None)
@given(st.booleans().flatmap(lambda tie: st.tuples(st.just(tie), st.from_regex(
    ReasoningJudgeGrader.output_regex(tie), fullmatch=True))))
def test_every_answer_the_reasoning_constraint_allows_reads_as_its_final_bracket(case):
    allow_tie, text = case
    letter = text[-3]
    assert letter in ("ABC" if allow_tie else "AB")
    want = {"A": "A", "B": "B", "C": "tie"}[letter]
    assert parse_bracket_verdict(text, allow_tie=allow_tie) == want


def test_constrain_sends_the_regex_and_user_params_still_win():
    g = create_grader("pairwise", model=None, constrain=True)
    assert g.judge.params["extra_body"] == {"structured_outputs": {"regex": PAIRWISE}}
    assert "extra_body" not in create_grader("pairwise", model=None).judge.params       # off by default
    r = create_grader("reasoning", model=None, constrain=True, allow_tie=False, params={"max_tokens": 64})
    assert r.judge.params["extra_body"]["structured_outputs"]["regex"].endswith(r"\[\[(A|B)\]\]")
    assert r.judge.params["max_tokens"] == 64


@settings(max_examples=200, deadline=None)
@given(st.from_regex(rubric_regex(SCORE_ANSWER), fullmatch=True))
def test_every_answer_the_rubric_constraint_allows_reads_as_its_score_with_the_format_held(text):
    """PaTaRM's format forced: four tags in order, 1-3 generated rubrics, a whole score 0-10 that the parser reads."""
    parsed = parse_rubric_score(text)
    assert parsed.score == float(re.search(r"<answer>(\d+)</answer>$", text).group(1))
    assert parsed.format_ok and 1 <= len(parsed.generated_rubrics) <= 3


@settings(max_examples=200, deadline=None)
@given(st.from_regex(rubric_regex(CHOICE_ANSWER), fullmatch=True))
def test_every_answer_the_rubric_pairwise_constraint_allows_reads_as_its_choice(text):
    parsed = parse_rubric_choice(text)
    assert parsed.winner == text[-10] and parsed.format_ok


def test_rubric_graders_take_constrain():
    for name, answer in (("rubric", SCORE_ANSWER), ("rubric_pairwise", CHOICE_ANSWER)):
        forced = create_grader(name, model=None, constrain=True).judge.params["extra_body"]
        assert forced == {"structured_outputs": {"regex": rubric_regex(answer)}}
        assert "extra_body" not in create_grader(name, model=None).judge.params


@settings(max_examples=200, deadline=None)
@given(st.from_regex(MultiAspectPairwiseGrader.output_regex, fullmatch=True))
def test_every_answer_the_aspects_constraint_allows_reads_every_aspect_and_the_overall(text):
    tags = dict(re.findall(r"<(helpfulness|correctness|clarity|overall)>(A|B|tie)</", text))
    parsed = parse_aspects(text)
    assert parsed.overall == tags.pop("overall") and parsed.aspects == tags and not parsed.unreadable


@settings(max_examples=200, deadline=None)
@given(st.from_regex(ConfidencePairwiseGrader.output_regex, fullmatch=True))
def test_every_answer_the_confidence_constraint_allows_reads_its_preference_and_confidence(text):
    assert parse_preference(text) == re.search(r"<preference>(A|B|tie)</", text).group(1)
    assert parse_confidence(text) == float(re.search(r"<confidence>([0-9.]+)</", text).group(1))


@settings(max_examples=200, deadline=None)
@given(st.from_regex(FourWayGrader.output_regex, fullmatch=True))
def test_every_answer_the_four_way_constraint_allows_reads_as_its_final_pick(text):
    assert parse_four_way(text) == "ABCD".index(text[-3])


@settings(max_examples=300, deadline=None)
@given(st.from_regex(RelevanceGrader.output_regex, fullmatch=True))
def test_every_answer_the_relevance_constraint_allows_reads_as_its_score_and_reason(text):
    parsed = parse_relevance(text)
    assert parsed.score == int(re.search(r'"score": ([1-5])', text).group(1))
    assert parsed.reason == re.search(r'"reason": "(.*)"\n\}$', text, re.S).group(1)


@pytest.mark.parametrize("name", ["pairwise_aspects", "pairwise_confidence", "four_way", "relevance"])
def test_tag_and_json_graders_take_constrain(name):
    forced = create_grader(name, model=None, constrain=True).judge.params["extra_body"]
    assert forced == {"structured_outputs": {"regex": type(create_grader(name, model=None)).output_regex}}
    assert "extra_body" not in create_grader(name, model=None).judge.params
