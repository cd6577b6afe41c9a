"""Expected scores over whole numbers from a digit-splitting tokenizer's logprobs, hand-computed.

Every generated path below is tokenized the way Qwen (and our tiny model) writes numbers: one token per
digit, so 10 is ``1`` ``0`` and 7.5 is ``7`` ``.`` ``5``.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rm_gallery.client.completion import TokenLogprob
from rm_gallery.graders import create_grader
from rm_gallery.graders.logprobs import expected_score
from rm_gallery.graders.score_distribution import resolve_open_prefixes, score_distribution
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.types import GraderError, ParseFailure, Sample, Score

ANSWER = TokenLogprob("<answer>", 0.0)
CLOSE = TokenLogprob("</answer>", 0.0)


def tok(generated: str, top: dict[str, float]) -> TokenLogprob:
    """A generated token with its alternatives given as probabilities."""
    return TokenLogprob(generated, math.log(top[generated]), tuple((t, math.log(p)) for t, p in top.items()))


def path(*tokens: TokenLogprob) -> tuple[TokenLogprob, ...]:
    return (TokenLogprob("<eval>", 0.0), TokenLogprob("fine", 0.0), TokenLogprob("</eval>", 0.0), *tokens)


def test_ten_is_ten_not_one():
    # P(10) = 0.9 * 0.8, P(1) = 0.9 * 0.2 (the token after "1" ends the number), P(9) = 0.1
    toks = path(ANSWER, tok("1", {"1": 0.9, "9": 0.1}), tok("0", {"0": 0.8, "</": 0.2}), CLOSE)
    assert expected_score(toks, 0, 10) == pytest.approx(10 * 0.72 + 1 * 0.18 + 9 * 0.1)  # 8.28; first digit: 1.8
    dist = score_distribution(toks, 0, 10)
    assert dist.exact and dist.probabilities() == pytest.approx({1.0: 0.18, 9.0: 0.1, 10.0: 0.72})


def test_seven_and_a_half_follows_the_decimal_point():
    # P(7.5) = 0.6 * 0.9 * 1, P(7) = 0.6 * 0.1 ("</" after "7" ends it), P(8) = 0.4
    toks = path(ANSWER, tok("7", {"7": 0.6, "8": 0.4}), tok(".", {".": 0.9, "</": 0.1}), tok("5", {"5": 1.0}), CLOSE)
    assert expected_score(toks, 0, 10) == pytest.approx(7.5 * 0.54 + 7 * 0.06 + 8 * 0.4)  # 7.67; first digit: 7.4


def test_a_number_split_across_the_anchors_token():
    # "<ans" "wer>1" "0": the first digit shares a token with the tag; its alternative "wer>9" is a 9.
    toks = (TokenLogprob("<ans", 0.0), tok("wer>1", {"wer>1": 0.5, "wer>9": 0.5}), tok("0", {"0": 1.0}), CLOSE)
    assert expected_score(toks, 0, 10) == pytest.approx(9.5)


def test_leading_space_tokens_are_formatting():
    # " 1" "0": P(10) = 0.7 * 0.9, P(1) = 0.7 * 0.1; " 9" and "9" are both 9.
    toks = path(ANSWER, tok(" 1", {" 1": 0.7, " 9": 0.2, "9": 0.1}), tok("0", {"0": 0.9, "</": 0.1}), CLOSE)
    assert expected_score(toks, 0, 10) == pytest.approx(10 * 0.63 + 1 * 0.07 + 9 * 0.3)
    # a generated space token before the number is conditioned on; a space-only alternative is not a score
    spaced = path(ANSWER, tok(" ", {" ": 0.6, "3": 0.4}), tok("8", {"8": 0.5, " 6": 0.25, "  ": 0.25}), CLOSE)
    assert expected_score(spaced, 0, 10) == pytest.approx((8 * 0.5 + 6 * 0.25) / 0.75)


def test_out_of_range_mass_is_dropped_and_renormalised():
    # "11" (0.7 * 0.3) and the single token "12" (0.1) lie outside 0-10; "-" starts no number.
    toks = path(ANSWER, tok("1", {"1": 0.7, "7": 0.2, "12": 0.1, "-": 0.05}),
                tok("0", {"0": 0.5, "1": 0.3, "</": 0.2}), CLOSE)
    dist = score_distribution(toks, 0, 10)
    assert dist.outside == pytest.approx(0.21 + 0.1)
    assert dist.expected() == pytest.approx((10 * 0.35 + 1 * 0.14 + 7 * 0.2) / 0.69)
    fifteen = path(ANSWER, tok("1", {"1": 1.0}), tok("5", {"5": 1.0}), CLOSE)
    out = expected_score(fifteen, 0, 10)
    assert isinstance(out, ParseFailure) and out.code == "invalid_score"


def test_no_score_position_is_a_parse_failure():
    assert expected_score(path(TokenLogprob("no tag", 0.0)), 0, 10).code == "missing_tag"
    worded = path(ANSWER, tok("great", {"great": 0.5, "7": 0.5}), CLOSE, TokenLogprob(" 9", 0.0))
    assert expected_score(worded, 0, 10).code == "invalid_score"   # the 9 after </answer> is not the score
    assert expected_score(path(ANSWER), 0, 10).code == "invalid_score"


def test_an_unchosen_one_could_be_one_or_ten():
    # The judge wrote 9; "1" (0.3) began either 1 or 10, which this generation never computed.
    toks = path(ANSWER, tok("9", {"9": 0.7, "1": 0.3}), CLOSE)
    dist = score_distribution(toks, 0, 10)
    assert not dist.exact and dist.bounds() == pytest.approx((0.3 * 1 + 6.3, 0.3 * 10 + 6.3))
    out = expected_score(toks, 0, 10)
    assert isinstance(out, ParseFailure) and out.code == "ambiguous_score" and "'1'" in out.reason
    # negligible ambiguity: the midpoint of an interval at most 0.1 wide
    tiny = path(ANSWER, tok("9", {"9": 0.999, "1": 0.001}), CLOSE)
    assert expected_score(tiny, 0, 10) == pytest.approx(9 * 0.999 + 0.001 * 5.5)


async def test_a_follow_up_continuation_splits_the_ambiguous_prefix_exactly():
    toks = path(ANSWER, tok("9", {"9": 0.7, "1": 0.3}), CLOSE)
    asked = []

    async def continue_after(text):
        asked.append(text)
        return (tok("0", {"0": 0.8, "</": 0.2}),)

    dist = await resolve_open_prefixes(score_distribution(toks, 0, 10), continue_after)
    assert asked == ["<eval>fine</eval><answer>1"]
    assert dist.exact and dist.expected() == pytest.approx(10 * 0.24 + 1 * 0.06 + 9 * 0.7)


@given(st.sampled_from([*map(str, range(11)), "0.5", "7.5", "9.5", "10.0"]), st.sampled_from(["", " "]))
def test_a_certain_score_reads_as_itself(score, space):
    digits = [space + score[0], *score[1:]]
    toks = path(ANSWER, *(TokenLogprob(d, 0.0, ((d, 0.0),)) for d in digits), CLOSE)
    assert expected_score(toks, 0, 10) == float(score)


ONE = Sample.from_record({"id": "p1", "prompt": "Name a prime.", "responses": ["7"]})


def lp(token, top):
    return {"token": token, "logprob": math.log(top[token]),
            "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()]}


def body(text, logprobs, completion_tokens=3):
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                         "logprobs": {"content": logprobs}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": completion_tokens}}


async def test_rubric_grader_expected_mode_reads_ten_and_follows_up_once(make_model):
    def judge(req):
        last = req["messages"][-1]
        if last["role"] == "assistant":   # the follow-up: what comes after "<answer>1"?
            assert last["content"].endswith("<answer>1")
            return body("0", [lp("0", {"0": 0.75, "</": 0.25})], completion_tokens=1)
        return body("<answer>9</answer>", [lp("<answer>", {"<answer>": 1.0}), lp("9", {"9": 0.6, "1": 0.4}),
                                           lp("</answer>", {"</answer>": 1.0})])

    srv = await StubServer(judge, record=True).start()
    try:
        model = make_model(srv.base_url)
        r = await create_grader("rubric", model=model, score_mode="expected").grade(ONE)
        assert isinstance(r, Score) and r.value == pytest.approx(9 * 0.6 + 10 * 0.3 + 1 * 0.1)
        assert r.metadata["expected_exact"] and r.metadata["score_probabilities"] == pytest.approx(
            {"1": 0.1, "9": 0.6, "10": 0.3})
        follow = srv.requests[-1]
        assert len(srv.requests) == 2 and follow["max_tokens"] == 1 and follow["continue_final_message"] is True
        assert follow["add_generation_prompt"] is False and follow["top_logprobs"] == 20
        assert r.usage.completion_tokens == 4  # the judgment and its follow-up
        off = create_grader("rubric", model=model, score_mode="expected", resolve_ambiguous=False)
        err = await off.grade(ONE)
        assert isinstance(err, GraderError) and err.kind == "parse_error" and "between" in err.message
    finally:
        await srv.stop()
