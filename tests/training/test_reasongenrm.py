"""ReasonGenRM pipeline: chain splitting by the reasoning grader, rejection sampling, DPO pairs, local scorer."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.graders import ReasoningJudgeGrader
from rm_gallery.training.reasongenrm import (
    Chain,
    ReasonGenRMData,
    VLLMChainScorer,
    abuild_reasongenrm_data,
    best_correct_chain,
    build_reasongenrm_data,
    chain_logprobs,
    dpo_chains,
    dpo_example,
    r_score_key,
    r_worst_key,
    render_reason_chat,
    split_chain,
)
from rm_gallery.training.rewards import reason_score
from rm_gallery.types import Sample

USER = [{"role": "user", "content": "judge"}]


def test_split_chain_uses_the_last_verdict():
    assert split_chain("A is wrong, unlike [[B]]... final: [[A]]") == ("A is wrong, unlike [[B]]... final:", "A")
    assert split_chain("no verdict") == ("no verdict", None)
    assert split_chain("[[C]]", allow_tie=False) == ("", None)


def chain(reason, verdict, p_reason, p_verdict):
    """A chain from probabilities (the pipeline carries log-probabilities)."""
    return Chain(reason, verdict, math.log(p_reason), math.log(p_verdict))


def test_rejection_sampling_keeps_the_best_correct_chain():
    chains = [chain("r1", "A", 0.9, 0.5), chain("r2", "A", 0.6, 0.9), chain("r3", "B", 1.0, 1.0)]
    assert best_correct_chain(chains, "A").reason == "r2"            # 0.54 > 0.45; r3 is wrong
    assert best_correct_chain(chains, "tie") is None


#: P(A|U,R) is the probability of the *correct* verdict A after the reason, whatever the chain concluded.
CHAINS = [chain("wrong but fluent", "B", 0.9, 0.95),   # R_score 0.9 * 0.9 = 0.81, the best overall, but wrong
          chain("right", "A", 0.5, 0.9),               # R_score 0.8 * 0.5 = 0.4: the best correct chain
          chain("right, meh", "A", 0.2, 0.6),          # 0.2 * 0.2 = 0.04
          chain("right, unsure", "A", 0.6, 0.3),       # 0.3 < 0.6 -> -0.6, the worst overall, but correct
          chain("wrong and sure", "B", 0.3, 0.2),      # -(1 - 0.2) * 0.3 = -0.24: R_worst among wrong chains
          chain("no verdict", None, 0.99, 0.01)]       # -(0.99 * 0.99) would win, but it reached no verdict


def test_dpo_pair_is_correct_and_fluent_against_incorrect_and_fluent():
    row = dpo_example(USER, CHAINS, "A")
    assert row["prompt"] == USER
    assert row["chosen"] == [{"role": "reason", "content": "right"}, {"role": "assistant", "content": "[[A]]"}]
    assert row["rejected"] == [{"role": "reason", "content": "wrong and sure"},
                               {"role": "assistant", "content": "[[B]]"}]
    assert row["chosen_r_score"] == pytest.approx(0.4) and row["rejected_r_score"] == pytest.approx(-0.3)


def test_no_verdict_is_ever_rewritten():
    for correct in ("A", "B"):
        row = dpo_example(USER, CHAINS, correct)
        by_reason = {c.reason: c.verdict for c in CHAINS}
        for side, own in (("chosen", correct), ("rejected", None)):
            reason, verdict = (turn["content"] for turn in row[side])
            assert verdict == f"[[{by_reason[reason]}]]"
            assert (by_reason[reason] == own) if own else (by_reason[reason] != correct)


def test_samples_without_a_correct_or_an_incorrect_chain_are_skipped_and_counted():
    assert dpo_chains(CHAINS[1:4], "A") is None                      # all correct
    assert dpo_chains([CHAINS[0], CHAINS[4], CHAINS[5]], "A") is None  # none correct
    assert dpo_example(USER, CHAINS[:1], "A") is None
    data = ReasonGenRMData()
    data.add(USER, CHAINS, "A")
    data.add(USER, CHAINS[1:4], "A")
    data.add(USER, [CHAINS[0], CHAINS[5]], "A")
    assert (len(data.sft), len(data.dpo)) == (2, 1)
    assert (data.samples, data.no_correct_chain, data.no_incorrect_chain, data.dpo_skipped) == (3, 1, 1, 2)


def test_selection_is_exact_when_the_joint_probability_underflows():
    """A long reason's joint P(R|U) is below the smallest float: the pairs are still chosen by R_score/R_worst."""
    chains = [Chain("long", "A", -900.0, math.log(0.9)), Chain("longer", "A", -950.0, math.log(0.99)),
              Chain("wrong", "B", -900.0, math.log(0.5)), Chain("wrong, surer", "B", -905.0, math.log(1e-3))]
    assert all(c.p_reason == 0.0 and c.r_score() == 0.0 for c in chains)
    chosen, rejected = dpo_chains(chains, "A")
    assert chosen.reason == "long"                 # 0.8 e^-900 > 0.98 e^-950
    assert rejected.reason == "wrong"              # 0.5 e^-900 > 0.999 e^-905
    assert best_correct_chain(chains, "A").reason == "long"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-6, 1.0), st.floats(1e-6, 1.0)), min_size=2, max_size=6))
def test_log_space_keys_order_chains_as_the_formulas_do(probs):
    chains = [chain(str(i), "A", pr, pv) for i, (pr, pv) in enumerate(probs)]
    for a in chains:
        for b in chains:
            for key, value in ((r_score_key, lambda c: reason_score(c.p_verdict, c.p_reason)),
                               (r_worst_key, lambda c: (1 - c.p_verdict) * c.p_reason)):
                if abs(value(a) - value(b)) > 1e-9:
                    assert (key(a) > key(b)) == (value(a) > value(b))


def test_build_data_with_a_stub_scorer():
    sample = Sample.from_record({"prompt": "q", "chosen": "x", "rejected": "y"}, default_id="s")
    grader = ReasoningJudgeGrader(None)

    def scorer(user, reason, verdict_text):
        assert user == grader.render(sample) and verdict_text == "[[A]]"
        return {"short": (math.log(0.5), math.log(0.9)), "long": (math.log(0.6), math.log(0.3))}[reason]

    data = build_reasongenrm_data([sample], grader, [["short [[A]]", "long [[B]]"]], scorer)
    assert data.sft == [{"messages": [*grader.render(sample), {"role": "reason", "content": "short"},
                                      {"role": "assistant", "content": "[[A]]"}]}]
    assert data.dpo[0]["chosen"][0]["content"] == "short" and data.dpo[0]["rejected"][1]["content"] == "[[B]]"
    assert (data.samples, data.dpo_skipped) == (1, 0)


async def test_async_build_matches_the_sync_build():
    samples = [Sample.from_record({"prompt": f"q{i}", "chosen": "x", "rejected": "y"}, default_id=f"s{i}")
               for i in range(5)]
    samples.append(Sample.from_record({"prompt": "unlabelled", "responses": ["x", "y"]}, default_id="u"))
    grader = ReasoningJudgeGrader(None)
    chains = [["short [[A]]", "long [[B]]", "none"]] * len(samples)
    table = {"short": (-0.7, -0.1), "long": (-0.5, -1.2), "none": (-1.6, -1.6)}

    class Served:
        async def ascore(self, user, reason, verdict_text):
            return table[reason]

    expected = build_reasongenrm_data(samples, grader, chains, lambda u, r, v: table[r])
    assert len(expected.sft) == 5 and expected.samples == 5
    assert await abuild_reasongenrm_data(samples, grader, chains, Served(), concurrency=2) == expected


def test_reason_probability_is_the_seeds_joint_one_unless_asked():
    logp_reason, logp_verdict = chain_logprobs([-1.0, -3.0], [-0.5, -0.25])
    assert (logp_reason, logp_verdict) == (pytest.approx(-4.0), pytest.approx(-0.75))
    per_token = chain_logprobs([-1.0, -3.0], [-0.5, -0.25], reason_probability="per_token")
    assert per_token == (pytest.approx(-2.0), pytest.approx(-0.75))
    assert chain_logprobs([], [], reason_probability="per_token") == (0.0, 0.0)
    with pytest.raises(ValueError, match="reason_probability"):
        chain_logprobs([], [], reason_probability="mean")
    with pytest.raises(ValueError, match="reason_probability"):
        VLLMChainScorer(object(), reason_probability="geometric")


def test_continuation_logprobs_are_read_by_token_id():
    from rm_gallery.client.completion import MalformedResponse
    from rm_gallery.client.prompt_logprobs import continuation_logprobs_from, server_root

    ids = [5, 9, 7, 7]
    body = {"choices": [{"prompt_logprobs": [None, {"9": {"logprob": -0.1}, "3": {"logprob": -2.0}},
                                             {"7": {"logprob": -1.5, "rank": 2}, "1": {"logprob": -0.2}},
                                             {"7": {"logprob": -0.7}}]}]}
    assert continuation_logprobs_from(body, ids, 2) == [-1.5, -0.7]   # the prompt's own token, not the top one
    for bad in ({"choices": [{}]}, {"choices": [{"prompt_logprobs": [None]}]},
                {"choices": [{"prompt_logprobs": [None, {"9": {}}, {"7": {"logprob": 0}}, {"8": {"logprob": 0}}]}]}):
        with pytest.raises(MalformedResponse):
            continuation_logprobs_from(bad, ids, 1)
    assert server_root("http://h:1/v1/") == "http://h:1" and server_root("http://h:1") == "http://h:1"


@pytest.mark.slow
def test_local_scorer_and_reason_chat_template(tiny_model_dir):
    from rm_gallery.training.reasongenrm import REASON_CHAT_TEMPLATE, TransformersChainScorer, sample_chains_local

    model = tiny_model_dir
    scorer = TransformersChainScorer(model)
    text = scorer.tokenizer.apply_chat_template(
        [*USER, {"role": "reason", "content": "because"}], tokenize=False, add_generation_prompt=True,
        chat_template=REASON_CHAT_TEMPLATE, generation_role="assistant")
    assert text.endswith("<|im_start|>reason\nbecause<|im_end|>\n<|im_start|>assistant\n")
    assert text == render_reason_chat([*USER, {"role": "reason", "content": "because"}], generation_role="assistant")
    assert render_reason_chat(USER) == scorer.tokenizer.apply_chat_template(
        USER, tokenize=False, add_generation_prompt=True, chat_template=REASON_CHAT_TEMPLATE)
    logp_reason, logp_verdict = scorer(USER, "because it is", "[[A]]")
    assert logp_reason < 0.0 and logp_verdict < 0.0
    per_token = TransformersChainScorer(model, reason_probability="per_token")(USER, "because it is", "[[A]]")
    n_tokens = len(scorer.tokenizer("because it is<|im_end|>\n", add_special_tokens=False)["input_ids"])
    assert per_token == pytest.approx((logp_reason / n_tokens, logp_verdict))
    chains = sample_chains_local(model, [USER], k=3, max_new_tokens=4)
    assert len(chains) == 1 and len(chains[0]) == 3
