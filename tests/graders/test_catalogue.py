"""Each judge end to end over HTTP against scripted stub outputs: verdicts, errors, rollouts, debiasing."""

import math
import re

import pytest

from rm_gallery.client.completion import TokenLogprob
from rm_gallery.graders import create_grader
from rm_gallery.graders.debias import PositionDebiasedGrader, seeded_swap, swap_sample
from rm_gallery.graders.listwise import net_win_rates, rank_by
from rm_gallery.graders.logprobs import LogprobsUnavailable, expected_score, yes_no_probability
from rm_gallery.graders.rubrics import DOMAINS, load_rubrics, route_domain
from rm_gallery.graders.win_probability import symmetric_win_probability
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.types import GraderError, Rank, Sample, Score, Verdict

PAIR = Sample.from_record({"id": "p1", "prompt": "Name a prime.", "chosen": "GOOD: 7", "rejected": "BAD: 8"})
ONE = PAIR.model_copy(update={"responses": PAIR.responses[:1]})  # what a pointwise grader scores


def body(text, logprobs=None):
    ch = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        ch["logprobs"] = {"content": logprobs}
    return {"choices": [ch], "usage": {"prompt_tokens": 10, "completion_tokens": 3}}


def first_shown(req) -> str:
    """Which response the judge sees first (by its GOOD/BAD marker)."""
    user = req["messages"][-1]["content"]
    return "GOOD" if user.find("GOOD") < user.find("BAD") else "BAD"


def content_judge(req):
    """A fair judge: names the position of the GOOD response, whatever the order."""
    return f"<analysis>good one wins</analysis><preference>{'A' if first_shown(req) == 'GOOD' else 'B'}</preference>"


@pytest.fixture
async def model_for(make_model):
    servers = []

    async def factory(reply, **kw):
        srv = await StubServer(reply, record=True, **kw).start()
        servers.append(srv)
        return make_model(srv.base_url), srv

    yield factory
    for s in servers:
        await s.stop()


async def test_reasoning_judge_uses_reasoning_content_or_text(model_for):
    model, _ = await model_for(lambda req: {**body("Both mention [[A]]... final: [[B]]"),
                                            "choices": [{"index": 0, "message": {
                                                "content": "final: [[B]]", "reasoning_content": "B is right"}}]})
    r = await create_grader("reasoning", model=model).grade(PAIR)
    assert r.winner == "B" and r.reason == "B is right"
    model2, srv = await model_for("A says 2. B says 7, correct. [[B]]")
    r2 = await create_grader("reasoning", model=model2, allow_tie=False).grade(PAIR)
    assert r2.winner == "B" and r2.reason == "A says 2. B says 7, correct."
    assert "[[C]]" not in srv.requests[-1]["messages"][-1]["content"]


async def test_rubric_pointwise_rollouts_mean_and_majority(model_for):
    model, srv = await model_for(["<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval>"
                                  "<answer>6</answer>", "<answer>8</answer>", "<answer>8</answer>", "garbage"])
    g = create_grader("rubric", model=model, rollouts=4, aggregate="mean")
    r = await g.grade(ONE)
    assert isinstance(r, Score) and r.value == pytest.approx(22 / 3) and r.metadata["failed_rollouts"] == 1
    assert len(srv.requests) == 4 and srv.requests[0]["temperature"] == 0.7
    sent = srv.requests[0]["messages"][-1]["content"]
    assert "<task>chat</task>" in sent and "Usefulness" in sent and "GOOD: 7" in sent
    g2 = create_grader("rubric", model=model, rollouts=4, aggregate="majority")
    assert (await g2.grade(ONE)).value == 8.0


async def test_rubric_rollouts_are_distinct_cache_entries(model_for, tmp_path):
    from rm_gallery.cache import ResponseCache
    from rm_gallery.graders.base import GradeContext

    model, srv = await model_for(["<answer>1</answer>", "<answer>2</answer>", "<answer>3</answer>"])
    ctx = GradeContext(ResponseCache(tmp_path / "c.sqlite"))
    g = create_grader("rubric", model=model, rollouts=3)
    first = await g.grade(ONE, ctx)
    again = await g.grade(ONE, ctx)
    assert srv.counts["requests"] == 3 and sorted(first.metadata["rollout_scores"]) == [1, 2, 3]
    assert sorted(again.metadata["rollout_scores"]) == [1, 2, 3]


async def test_rubric_scores_one_response_or_the_one_it_is_told(model_for):
    """A pair without response_index is an invalid sample (never a silent score of the first response)."""
    from rm_gallery.graders.base import InvalidSample

    model, srv = await model_for(lambda req: "<answer>9</answer>" if "BAD" in req["messages"][-1]["content"]
                                 else "<answer>2</answer>")
    with pytest.raises(InvalidSample, match="rubric_pair"):
        await create_grader("rubric", model=model).grade(PAIR)
    assert srv.counts["requests"] == 0
    assert (await create_grader("rubric", model=model, response_index=1).grade(PAIR)).value == 9.0
    assert (await create_grader("rubric", model=model).grade(ONE)).value == 2.0


async def test_rubric_all_rollouts_fail_is_a_parse_error(model_for):
    model, _ = await model_for("<answer>excellent</answer>")
    r = await create_grader("rubric", model=model, rollouts=2).grade(ONE)
    assert isinstance(r, GraderError) and r.kind == "parse_error" and r.usage.completion_tokens > 0


async def test_rubric_pair_strict_greater_and_ties(model_for):
    def by_response(req):
        return "<answer>7</answer>" if "GOOD" in req["messages"][-1]["content"] else "<answer>4</answer>"

    model, _ = await model_for(by_response)
    r = await create_grader("rubric_pair", model=model).grade(PAIR)
    assert r.winner == "A" and (r.metadata["score_a"], r.metadata["score_b"]) == (7, 4)
    model2, _ = await model_for("<answer>5</answer>")
    assert (await create_grader("rubric_pair", model=model2).grade(PAIR)).winner == "tie"


def rollout_judge(scores_a, scores_b):
    """A rubric judge scripted per (response, rollout): rollout i of a request carries seed 100 + i."""
    def reply(req):
        scores = scores_a if "GOOD" in req["messages"][-1]["content"] else scores_b
        score = scores[req["seed"] - 100]
        return "<answer>unsure</answer>" if score is None else f"<answer>{score}</answer>"
    return reply


async def test_rubric_pair_majority_pairs_rollouts_by_index(model_for):
    # A's rollout 0 fails. Rollout 1 votes B (7 < 9), rollout 2 votes A (7 > 5): a tie, with one pair unpaired.
    # Zipping the surviving scores instead would pair A's 7, 7 with B's 9, 9 and report B.
    model, _ = await model_for(rollout_judge([None, 7, 7], [9, 9, 5]))
    g = create_grader("rubric_pair", model=model, rollouts=3, aggregate="majority", params={"seed": 100})
    r = await g.grade(PAIR)
    assert isinstance(r, Verdict) and r.winner == "tie"
    assert r.metadata["votes"] == {"B": 1, "A": 1} and r.metadata["unpaired_rollouts"] == [0]
    assert (r.metadata["failed_rollouts_a"], r.metadata["failed_rollouts_b"]) == (1, 0)


async def test_rubric_pair_majority_without_a_complete_pair_is_a_parse_error(model_for):
    model, _ = await model_for(rollout_judge([None, 6], [4, None]))
    g = create_grader("rubric_pair", model=model, rollouts=2, aggregate="majority", params={"seed": 100})
    r = await g.grade(PAIR)
    assert isinstance(r, GraderError) and r.kind == "parse_error" and "none of the 2 rollouts" in r.message
    assert r.usage.completion_tokens > 0


async def test_rubric_pairwise_and_domain_from_metadata(model_for):
    model, srv = await model_for("<think>x</think><generate_rubrics>y</generate_rubrics><eval>z</eval>"
                                 "<answer>B</answer>")
    code = Sample.from_record({"id": "c", "prompt": "Fix my bug", "chosen": "a", "rejected": "b",
                               "subset": "hep-python"})
    r = await create_grader("rubric_pairwise", model=model).grade(code)
    assert r.winner == "B" and r.metadata["format_ok"]
    assert "<task>code</task>" in srv.requests[-1]["messages"][-1]["content"]


def test_rubric_files_and_router():
    for d in DOMAINS:
        rub = load_rubrics(d)
        assert rub.primary and all(r.bands for r in rub.primary)
    assert [r.name for r in load_rubrics("math").primary] == ["Correctness", "Logic"]
    assert [r.name for r in load_rubrics("instruction_following").primary] == ["Coverage", "Constraints"]

    def q(text, **meta):
        return Sample.from_record({"id": "x", "prompt": text, "responses": ["r"], "metadata": meta})

    assert route_domain(q("anything", domain="safety")) == "safety"
    assert route_domain(q("anything", subset="llmbar-natural")) == "chat"   # the paper has no such domain
    assert route_domain(q("anything", domain="instruction_following")) == "instruction_following"
    assert route_domain(q("Write a python function that reverses a list")) == "code"
    assert route_domain(q("Solve 3x + 2 = 11")) == "math"
    assert route_domain(q("How do I make a bomb?")) == "safety"
    assert route_domain(q("Describe Paris in exactly 3 sentences, in bullet points")) == "chat"
    assert route_domain(q("What should I cook tonight?")) == "chat"


def lp(token, top):
    return {"token": token, "logprob": math.log(top[token]), "top_logprobs": [
        {"token": t, "logprob": math.log(p)} for t, p in top.items()]}


async def test_win_probability_symmetric_from_logprobs(model_for):
    def judge(req):  # sees GOOD first -> P(yes)=0.8; BAD first -> P(yes)=0.3 (a position-biased judge)
        top = {"yes": 0.8, " No": 0.2} if first_shown(req) == "GOOD" else {" Yes": 0.3, "no": 0.6, "maybe": 0.1}
        return body("yes", [lp(next(iter(top)), top)])

    model, srv = await model_for(judge)
    r = await create_grader("win_probability", model=model).grade(PAIR)
    p_ab, p_ba = 0.8, 0.3 / 0.9
    assert r.metadata["p_ab"] == pytest.approx(p_ab) and r.metadata["p_ba"] == pytest.approx(p_ba)
    assert r.probability == pytest.approx((p_ab + 1 - p_ba) / 2) and r.winner == "A"
    from rm_gallery.metaeval.pairs import pair_from  # meta-eval reads the per-order probabilities the grader writes

    assert pair_from(PAIR, r).order_probabilities == pytest.approx({"ab": p_ab, "ba": p_ba})
    req = srv.requests[-1]
    assert req["max_tokens"] == 1 and req["logprobs"] is True and req["top_logprobs"] == 20
    assert "is response 1 better than response 2? Answer yes or no." in req["messages"][-1]["content"]


async def test_win_probability_without_logprobs_is_a_clear_error(model_for):
    model, _ = await model_for(lambda req: body("yes"))
    with pytest.raises(LogprobsUnavailable, match="needs token logprobs"):
        await create_grader("win_probability", model=model).grade(PAIR)


def test_probability_helpers():
    toks = (TokenLogprob("Sure", -0.1, (("Sure", -0.1),)),
            TokenLogprob("YES", math.log(0.5), (("YES", math.log(0.5)), ("no", math.log(0.25)))))
    assert yes_no_probability(toks) == pytest.approx(2 / 3)  # found by content, not at position 0
    assert symmetric_win_probability(1.0, 0.0) == 1.0 and symmetric_win_probability(0.5, 0.5) == 0.5
    gen = [TokenLogprob(t, -0.1, ()) for t in ["<eval>", "ok", "</eval>", "<answer>"]]
    gen.append(TokenLogprob("8", math.log(0.5), (("8", math.log(0.5)), ("6", math.log(0.25)), ("x", math.log(0.25)))))
    assert expected_score(tuple(gen), 0, 10) == pytest.approx((8 * 0.5 + 6 * 0.25) / 0.75)
    assert expected_score(tuple(gen[:3]), 0, 10).code == "missing_tag"


async def test_rubric_expected_score_mode(model_for):
    toks = [lp("<answer>", {"<answer>": 1.0}), lp("7", {"7": 0.5, "9": 0.5}), lp("</answer>", {"</answer>": 1.0})]
    model, srv = await model_for(lambda req: body("<answer>7</answer>", toks))
    r = await create_grader("rubric", model=model, score_mode="expected").grade(ONE)
    assert r.value == pytest.approx(8.0) and srv.requests[-1]["logprobs"] is True


async def test_debias_both_orders_consistent_and_position_biased(model_for):
    fair, _ = await model_for(content_judge)
    r = await PositionDebiasedGrader(create_grader("pairwise", model=fair)).grade(PAIR)
    assert r.winner == "A" and r.metadata["consistent"] is True
    assert r.metadata["orders"]["ab"]["winner"] == r.metadata["orders"]["ba"]["winner"] == "A"
    assert "<preference>B</preference>" in r.metadata["orders"]["ba"]["raw"]  # raw of the swapped order kept
    biased, _ = await model_for("<preference>A</preference>")
    r2 = await PositionDebiasedGrader(create_grader("pairwise", model=biased)).grade(PAIR)
    assert r2.winner == "tie" and r2.metadata["consistent"] is False
    r3 = await PositionDebiasedGrader(create_grader("pairwise", model=biased), on_disagree="first").grade(PAIR)
    assert r3.winner == "A"


async def test_debias_seeded_swap_is_reproducible_and_balanced(model_for):
    fair, srv = await model_for(content_judge)
    g = PositionDebiasedGrader(create_grader("pairwise", model=fair), mode="swap", seed=3)
    samples = [PAIR.model_copy(update={"id": f"s{i}"}) for i in range(40)]
    results = [await g.grade(s) for s in samples]
    assert all(r.winner == "A" for r in results)  # mapped back to the original labels
    swapped = [seeded_swap(3, s.id) for s in samples]
    assert 10 < sum(swapped) < 30 and swapped == [seeded_swap(3, s.id) for s in samples]
    assert [first_shown(q) == "BAD" for q in srv.requests] == swapped


async def test_debias_majority_vote_over_rollouts(model_for):
    model, srv = await model_for(["<preference>A</preference>", "<preference>B</preference>",
                                  "<preference>A</preference>"])
    g = create_grader("debiased", grader="pairwise", model=model, mode="single", votes=3,
                      params={"temperature": 0.8, "seed": 5})
    r = await g.grade(PAIR)
    assert r.winner == "A" and r.metadata["orders"]["ab"]["votes"] == ["A", "B", "A"]
    assert sorted(q["seed"] for q in srv.requests) == [5, 6, 7]


def test_swap_sample_flips_label():
    s = swap_sample(PAIR)
    assert s.responses[0].content == "BAD: 8" and s.label.preferred == "B"


async def test_listwise_pointwise_and_round_robin(model_for):
    scores = {"r0": 5, "r1": 9, "r2": 5}

    def score(req):
        resp = re.search(r"<response>\n(r\d)", req["messages"][-1]["content"]).group(1)
        return f"<answer>{scores[resp]}</answer>"

    s3 = Sample.from_record({"id": "l", "prompt": "q", "responses": ["r0", "r1", "r2"]})
    model, _ = await model_for(score)
    r = await create_grader("listwise", model=model).grade(s3)
    assert isinstance(r, Rank) and r.order == (1, 0, 2) and r.scores == (5, 9, 5)

    def prefer_higher(req):
        user = req["messages"][-1]["content"]
        a = re.search(r"<response_a>\n(r\d)", user).group(1)
        b = re.search(r"<response_b>\n(r\d)", user).group(1)
        return f"<preference>{'A' if int(a[1]) > int(b[1]) else 'B'}</preference>"

    model2, _ = await model_for(prefer_higher)
    rr = await create_grader("listwise", model=model2, method="round_robin").grade(s3)
    assert rr.order == (2, 1, 0) and rr.scores == (-1.0, 0.0, 1.0)


def test_rank_helpers_tie_rule():
    assert rank_by([1.0, 3.0, 3.0, 0.0]) == (1, 2, 0, 3)
    assert net_win_rates(3, {(0, 1): "A", (0, 2): "tie", (1, 2): "B"}) == [0.5, -1.0, 0.5]


async def test_multi_aspect_and_confidence_variants(model_for):
    model, _ = await model_for("<analysis>x</analysis><helpfulness>A</helpfulness><correctness>A</correctness>"
                               "<clarity>B</clarity><overall>A</overall>")
    r = await create_grader("pairwise_aspects", model=model).grade(PAIR)
    assert r.winner == "A" and r.aspects == {"helpfulness": "A", "correctness": "A", "clarity": "B"}
    model2, _ = await model_for("<analysis>x</analysis><preference>B</preference><confidence>0.65</confidence>")
    r2 = await create_grader("pairwise_confidence", model=model2).grade(PAIR)
    assert isinstance(r2, Verdict) and r2.winner == "B" and r2.confidence == 0.65


async def test_aspect_verdict_reports_unreadable_aspects(model_for):
    model, _ = await model_for("<helpfulness>A</helpfulness><clarity>B</clarity><clarity>A or B</clarity>"
                               "<overall>A</overall>")
    r = await create_grader("pairwise_aspects", model=model).grade(PAIR)
    assert r.winner == "A" and r.aspects == {"helpfulness": "A"}
    assert set(r.metadata["unreadable_aspects"]) == {"clarity", "correctness"}


@pytest.mark.parametrize("reply, message", [
    ("<preference>B</preference><confidence>1.5</confidence>", "confidence: the final <confidence> holds '1.5'"),
    ("<preference>B</preference><confidence>80</confidence>", "confidence:"),
    ("<preference>B</preference>", "confidence: no <confidence>"),  # the template asks for one: a format failure
])
async def test_confidence_grader_unreadable_or_missing_confidence_is_a_parse_error(model_for, reply, message):
    model, _ = await model_for(reply)
    r = await create_grader("pairwise_confidence", model=model).grade(PAIR)
    assert isinstance(r, GraderError) and r.kind == "parse_error" and r.message.startswith(message)
    assert r.raw == reply


@pytest.mark.parametrize("reply, reward", [
    ("<preference>A</preference><confidence>0.8</confidence>", 1.0),
    ("<preference>B</preference><confidence>80%</confidence>", 0.0),
    ("<preference>A</preference>", None),                             # the confidence the template asks for is missing
    ("<preference>A</preference><confidence>80</confidence>", None),  # out of range without "%"
])
async def test_confidence_grader_training_reward_reads_what_evaluation_reads(model_for, reply, reward):
    """One parser: a reply the grader calls a parse error is unreadable to the training reward too (reward 0,
    the seed's binary reward for an unreadable answer), never scored on its preference tag alone."""
    from rm_gallery.training.trl_rewards import PairwiseReward

    model, _ = await model_for(reply)
    grader = create_grader("pairwise_confidence", model=model)
    result = await grader.grade(PAIR)
    rewards, judgments = PairwiseReward(grader).score([reply], preferred=["A"])
    if reward is None:
        assert isinstance(result, GraderError) and result.kind == "parse_error"
        assert rewards == [0.0] and not judgments[0].readable and judgments[0].predicted == "unknown"
    else:
        assert isinstance(result, Verdict) and judgments[0].readable and rewards == [reward]
        assert judgments[0].parsed.confidence == result.confidence


async def test_win_probability_in_a_benchmark_judges_each_order_once(model_for, tmp_path):
    """The symmetric judge is not wrapped a second time: 2 requests per pair, scored on its symmetric verdict,
    its per-order answers (original labels) kept for the position statistics."""
    from rm_gallery.benchmarks.base import get_benchmark
    from rm_gallery.benchmarks.run import run_benchmark

    def judge(req):  # position-biased: P(yes) 0.9 with GOOD first, 0.6 with BAD first
        p = 0.9 if first_shown(req) == "GOOD" else 0.6
        return body("yes", [lp("yes", {"yes": p, "no": 1 - p})])

    model, srv = await model_for(judge)
    bench = get_benchmark("pairs")
    rows = [bench.parse("mem", i + 1, {"prompt": f"Q{i}", "chosen": f"GOOD {i}", "rejected": f"BAD {i}"})
            for i in range(3)]
    summary = await run_benchmark(bench, rows, create_grader("win_probability", model=model), out_dir=tmp_path,
                                  n_boot=0, progress=False, plots=False)
    assert len(srv.requests) == 6
    # symmetric P(chosen) = (0.9 + 1 - 0.6) / 2 = 0.65 -> chosen every time; per order: ab picks A (0.9),
    # ba shows BAD first and says yes (0.6) -> picks the rejected response: consistency 0
    assert summary["headline"]["value"] == 1.0
    assert summary["position"]["accuracy_ab"] == 1.0 and summary["position"]["accuracy_ba"] == 0.0
    assert summary["position"]["consistency"] == 0.0
