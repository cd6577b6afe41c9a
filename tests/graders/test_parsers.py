"""Every parser is pure: fuzzed for 'never raises', plus last-match, injection and tie cases."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.graders.pairwise import parse_preference
from rm_gallery.graders.pairwise_variants import parse_aspects, parse_confidence
from rm_gallery.graders.reasoning import parse_bracket_verdict, reasoning_before_verdict
from rm_gallery.graders.rubric import RubricJudgment, parse_rubric_choice, parse_rubric_score, tags_in_order
from rm_gallery.types import ParseFailure

PIECES = [*"<>/[]ABC0123456789.abcdefghijklmnopqrstuvwxyz _\n",
    "<answer>", "</answer>", "[[A]]", "[[B]]", "[[C]]", "<overall>", "</overall>", "<think>", "</think>",
    "<preference>", "</preference>", "<confidence>", "</confidence>", "<eval>", "</eval>", "Response A", "tie"]
#: Text assembled from verdict-shaped pieces, so the fuzzer reaches the parsers' interesting branches.
TAGGY = st.lists(st.sampled_from(PIECES), max_size=80).map("".join)
PARSERS = [parse_preference, parse_bracket_verdict, parse_rubric_score, parse_rubric_choice, parse_aspects,
           parse_confidence, tags_in_order, reasoning_before_verdict]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(), TAGGY))
def test_parsers_never_raise(parser, text):
    parser(text)


@pytest.mark.parametrize("parser", [parse_preference, parse_bracket_verdict, parse_rubric_score,
                                    parse_rubric_choice, parse_aspects])
@pytest.mark.parametrize("bad", [None, 3, b"[[A]]"])
def test_non_text_is_a_parse_failure(parser, bad):
    assert isinstance(parser(bad), ParseFailure)


# -- reasoning judge [[A]] / [[B]] --------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("A is wrong. [[B]]", "B"),
    ("Unlike what [[A]] would suggest, the answer is clear.\n[[B]]", "B"),  # quotes both: never defaults to A
    ("Assistant B claims [[B]] but actually... Final verdict: [[A]]", "A"),
    ("It's a draw: [[C]]", "tie"),
    ("[[ A ]]", "A"),
    ("[[a]]", "A"),
    ("[[tie]]", "tie"),
    ("Verdict: ［［Ｂ］］", "B"),
    ("[[A]]. Wait, B handles the edge case. [[B]]", "B"),  # a later verdict, in its own sentence, decides
])
def test_bracket_verdict_binds_to_the_last_token(text, want):
    assert parse_bracket_verdict(text) == want


@pytest.mark.parametrize("text, code", [
    ("Unlike what [[A]] would suggest, the answer is [[B]]", "ambiguous"),  # one sentence names both sides
    ("[[A]] or [[B]]?", "ambiguous"),
    ("So... [[B]]?", "unreadable"),
    ("Clearly [[B]].\n[[D]]", "unreadable"),
    ("[A] or [[D]]", "unreadable"),
    ("no verdict", "missing_tag"),
])
def test_bracket_verdict_failures(text, code):
    out = parse_bracket_verdict(text)
    assert isinstance(out, ParseFailure) and out.code == code, out


def test_bracket_tie_can_be_disallowed():
    # the final [[C]] is the judge's verdict and out of range: never the [[B]] before it
    out = parse_bracket_verdict("[[B]] ... [[C]]", allow_tie=False)
    assert isinstance(out, ParseFailure) and out.code == "out_of_range"
    assert isinstance(parse_bracket_verdict("[[C]]", allow_tie=False), ParseFailure)
    assert parse_bracket_verdict("[[C]] ... [[B]]", allow_tie=False) == "B"
    assert reasoning_before_verdict("B is right because x.\n[[B]]") == "B is right because x."


@settings(max_examples=200)
@given(st.text(max_size=200), st.sampled_from(["A", "B", "C"]))
def test_bracket_final_token_wins(prefix, tok):
    assert parse_bracket_verdict(prefix + f"\n[[{tok}]]") == {"A": "A", "B": "B", "C": "tie"}[tok]


# -- rubric -------------------------------------------------------------------------------------------
FULL = ("<think>needs a proof</think>\n<generate_rubrics>1. Cites the theorem\n2. Handles n=0</generate_rubrics>\n"
        "<eval>good</eval>\n<answer>7.5</answer>")


def test_rubric_score_full_format():
    j = parse_rubric_score(FULL)
    assert isinstance(j, RubricJudgment) and j.score == 7.5 and j.format_ok
    assert j.generated_rubrics == ("Cites the theorem", "Handles n=0") and j.evaluation == "good"


@pytest.mark.parametrize("text, score, fmt_ok", [
    ("<answer>8</answer>", 8.0, False),
    ("<eval>x</eval><think>y</think><generate_rubrics>z</generate_rubrics><answer>3</answer>", 3.0, False),
    ("<answer>9/10</answer>", 9.0, False),
    ("<answer>**7**</answer>", 7.0, False),
    (FULL + " <answer>2</answer>", 2.0, True),  # the final answer decides
])
def test_rubric_score_final_answer_and_format_flag(text, score, fmt_ok):
    j = parse_rubric_score(text)
    assert j.score == score and j.format_ok is fmt_ok


@pytest.mark.parametrize("text, code", [("no tags", "missing_tag"), ("<answer>great</answer>", "invalid_score"),
                                        ("<answer>-1</answer>", "invalid_score"), ("<answer>10.5</answer>",
                                                                                   "invalid_score"),
                                        # the final answer is the judge's verdict: never an earlier valid one
                                        ("<answer>Score: 6</answer> then <answer>11</answer>", "invalid_score"),
                                        (FULL + " <answer>unsure</answer>", "invalid_score"),
                                        (FULL + " then <answer>8", "unclosed_tag")])
def test_rubric_score_failures_have_codes(text, code):
    f = parse_rubric_score(text)
    assert isinstance(f, ParseFailure) and f.code == code


def test_rubric_choice():
    assert parse_rubric_choice(FULL.replace("7.5", "B")).winner == "B"
    assert parse_rubric_choice("<answer>Response A</answer>").winner == "A"
    assert parse_rubric_choice("<answer>C</answer>").code == "invalid_score"
    assert parse_rubric_choice("<answer>A</answer> ... <answer>A or B</answer>").code == "invalid_score"
    assert parse_rubric_choice("<answer>B</answer> ... <answer>not sure</answer>").code == "invalid_score"


@pytest.mark.parametrize("text", ["<answer>tie</answer>", "<answer>Tie</answer>",
                                  "<answer>A</answer> <answer>tie</answer>"])
def test_rubric_choice_has_no_tie(text):
    """PaTaRM's pairwise answer is ``A or B``: a final tie is out of range, never an earlier letter."""
    out = parse_rubric_choice(text)
    assert isinstance(out, ParseFailure) and out.code == "invalid_score"


def test_tags_in_order_is_linear_on_hostile_input():
    import time

    t0 = time.perf_counter()
    tags_in_order("<think>" * 100_000)
    parse_rubric_score("<answer>" * 100_000)
    assert time.perf_counter() - t0 < 2


# -- multi-aspect and confidence ---------------------------------------------------------------------
def test_aspects_and_overall():
    text = ("<analysis>..</analysis><helpfulness>A</helpfulness><correctness>B</correctness>"
            "<clarity>equal</clarity><overall>B</overall>")
    j = parse_aspects(text)
    assert j.overall == "B" and j.aspects == {"helpfulness": "A", "correctness": "B", "clarity": "tie"}
    assert j.unreadable == {}
    assert isinstance(parse_aspects("<helpfulness>A</helpfulness>"), ParseFailure)


def test_aspects_final_tags_decide():
    # an unreadable final <overall> is a failure, not the earlier B
    assert isinstance(parse_aspects("<overall>B</overall> hmm <overall>unsure</overall>"), ParseFailure)
    j = parse_aspects("<clarity>A</clarity><clarity>A or B</clarity><correctness>B</correctness><overall>B</overall>")
    assert j.overall == "B" and j.aspects == {"correctness": "B"}
    assert set(j.unreadable) == {"clarity", "helpfulness"} and "names A and B" in j.unreadable["clarity"]


@pytest.mark.parametrize("text, want", [
    ("<confidence>0.8</confidence>", 0.8), ("<confidence>75%</confidence>", 0.75), ("<confidence>1</confidence>", 1.0),
    ("<confidence>0</confidence>", 0.0), ("<confidence>100 %</confidence>", 1.0), ("<confidence>.3</confidence>", 0.3),
    ("<confidence>0.8%</confidence>", 0.008),  # a percentage only with "%": 0.8% is 0.008, not 0.8
    ("<confidence>**0.9**</confidence>", 0.9), ("<confidence>０.７</confidence>", 0.7),
])
def test_confidence(text, want):
    assert parse_confidence(text) == pytest.approx(want)


@pytest.mark.parametrize("text, code", [
    ("<confidence>1.5</confidence>", "invalid_confidence"),  # not 0.015: out of [0, 1] without "%"
    ("<confidence>80</confidence>", "invalid_confidence"),   # a percentage needs "%"
    ("<confidence>150%</confidence>", "invalid_confidence"),
    ("<confidence>-0.2</confidence>", "invalid_confidence"),
    ("<confidence>high</confidence>", "invalid_confidence"),
    ("<confidence>.3</confidence><confidence>2000</confidence>", "invalid_confidence"),  # the final one decides
    ("none", "missing_tag"),
    ("<confidence>0.7", "unclosed_tag"),
])
def test_confidence_failures(text, code):
    out = parse_confidence(text)
    assert isinstance(out, ParseFailure) and out.code == code
