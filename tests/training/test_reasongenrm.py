"""ReasonGenRM pipeline: chain splitting by the reasoning grader, rejection sampling, DPO pairs, local scorer."""

from __future__ import annotations

import pytest

from rm_gallery.graders import ReasoningJudgeGrader
from rm_gallery.training.reasongenrm import (
    Chain,
    abuild_reasongenrm_data,
    best_correct_chain,
    build_reasongenrm_data,
    chain_probabilities,
    dpo_example,
    render_reason_chat,
    split_chain,
)
from rm_gallery.types import Sample

USER = [{"role": "user", "content": "judge"}]


def test_split_chain_uses_the_last_verdict():
    assert split_chain("A is wrong, unlike [[B]]... final: [[A]]") == ("A is wrong, unlike [[B]]... final:", "A")
    assert split_chain("no verdict") == ("no verdict", None)
    assert split_chain("[[C]]", allow_tie=False) == ("", None)


def test_rejection_sampling_keeps_the_best_correct_chain():
    chains = [Chain("r1", "A", p_reason=0.9, p_verdict=0.5), Chain("r2", "A", p_reason=0.6, p_verdict=0.9),
              Chain("r3", "B", p_reason=1.0, p_verdict=1.0)]
    assert best_correct_chain(chains, "A").reason == "r2"            # 0.54 > 0.45; r3 is wrong
    assert best_correct_chain(chains, "tie") is None


def test_dpo_pair_from_best_and_worst_r_score():
    chains = [Chain("good", "A", p_reason=0.5, p_verdict=0.9),       # (1.8 - 1) * 0.5 = 0.4
              Chain("bad", "B", p_reason=0.6, p_verdict=0.3),        # 0.3 < 0.6 -> -0.6
              Chain("meh", "A", p_reason=0.2, p_verdict=0.6)]        # 0.2 * 0.2 = 0.04
    row = dpo_example(USER, chains, "A")
    assert row["prompt"] == USER
    assert row["chosen"] == [{"role": "reason", "content": "good"}, {"role": "assistant", "content": "[[A]]"}]
    assert row["rejected"] == [{"role": "reason", "content": "bad"}, {"role": "assistant", "content": "[[B]]"}]
    assert row["chosen_r_score"] == pytest.approx(0.4) and row["rejected_r_score"] == pytest.approx(-0.6)
    assert dpo_example(USER, chains[:1], "A") is None


def test_build_data_with_a_stub_scorer():
    sample = Sample.from_record({"prompt": "q", "chosen": "x", "rejected": "y"}, default_id="s")
    grader = ReasoningJudgeGrader(None)

    def scorer(user, reason, verdict_text):
        assert user == grader.render(sample) and verdict_text == "[[A]]"
        return {"short": (0.5, 0.9), "long": (0.6, 0.3)}[reason]  # (P(R|U), P(A|U,R))

    sft, dpo = build_reasongenrm_data([sample], grader, [["short [[A]]", "long [[B]]"]], scorer)
    assert sft == [{"messages": [*grader.render(sample), {"role": "reason", "content": "short"},
                                 {"role": "assistant", "content": "[[A]]"}]}]
    assert dpo[0]["chosen"][0]["content"] == "short" and dpo[0]["rejected"][1]["content"] == "[[B]]"


async def test_async_build_matches_the_sync_build():
    samples = [Sample.from_record({"prompt": f"q{i}", "chosen": "x", "rejected": "y"}, default_id=f"s{i}")
               for i in range(5)]
    samples.append(Sample.from_record({"prompt": "unlabelled", "responses": ["x", "y"]}, default_id="u"))
    grader = ReasoningJudgeGrader(None)
    chains = [["short [[A]]", "long [[B]]", "none"]] * len(samples)
    table = {"short": (0.5, 0.9), "long": (0.6, 0.3), "none": (0.2, 0.2)}

    class Served:
        async def ascore(self, user, reason, verdict_text):
            return table[reason]

    expected = build_reasongenrm_data(samples, grader, chains, lambda u, r, v: table[r])
    assert len(expected[0]) == 5
    assert await abuild_reasongenrm_data(samples, grader, chains, Served(), concurrency=2) == expected


def test_chain_probabilities_normalise_the_reason_only():
    p_reason, p_verdict = chain_probabilities([-1.0, -3.0], [-0.5, -0.25])
    assert p_reason == pytest.approx(2.718281828 ** -2) and p_verdict == pytest.approx(2.718281828 ** -0.75)
    assert chain_probabilities([], [])[0] == 1.0


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
    p_reason, p_verdict = scorer(USER, "because it is", "[[A]]")
    assert 0.0 < p_reason < 1.0 and 0.0 < p_verdict < 1.0
    chains = sample_chains_local(model, [USER], k=3, max_new_tokens=4)
    assert len(chains) == 1 and len(chains[0]) == 3
