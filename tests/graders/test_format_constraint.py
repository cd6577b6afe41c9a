"""``constrain=True``: the format forced on a weak judge is one its grader's own parser always reads, exactly."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.graders import create_grader
from rm_gallery.graders.pairwise import PairwiseGrader, parse_preference
from rm_gallery.graders.reasoning import ReasoningJudgeGrader, parse_bracket_verdict

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
