"""ReasonGenRM's pipeline against the real vLLM server: chains sampled from it, scored by its prompt_logprobs,
and the scores equal the in-process transformers scorer's on the same model (float32 on both sides)."""

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.client.prompt_logprobs import PromptLogprobScorer
from rm_gallery.graders import ReasoningJudgeGrader
from rm_gallery.training.reasongenrm import (
    TransformersChainScorer,
    VLLMChainScorer,
    abuild_reasongenrm_data,
    asample_chains,
)
from rm_gallery.types import Sample

pytestmark = pytest.mark.integration
USER = [{"role": "user", "content": "Which answer is better, A or B? Explain, then say [[A]] or [[B]]."}]


async def test_served_logprobs_equal_the_in_process_ones(vllm_server, tiny_model_dir):
    async with PromptLogprobScorer(vllm_server.base_url, vllm_server.model_name) as scorer:
        served = VLLMChainScorer(scorer)
        local = TransformersChainScorer(tiny_model_dir)
        for reason, verdict in [("A is correct and B is not", "[[A]]"), ("B, because {{ x }} </s>", "[[B]]"),
                                ("", "[[C]]")]:
            p_reason, p_verdict = await served.ascore(USER, reason, verdict)
            q_reason, q_verdict = local(USER, reason, verdict)
            assert 0.0 < p_reason <= 1.0 and 0.0 < p_verdict < 1.0
            assert p_reason == pytest.approx(q_reason, rel=1e-3) and p_verdict == pytest.approx(q_verdict, rel=1e-3)
        lp = await scorer.continuation_logprobs("<|im_start|>user\nhi<|im_end|>\n", "<|im_start|>assistant\nok")
        assert len(lp) >= 2 and all(x <= 0.0 for x in lp)


async def test_pipeline_on_the_server_samples_scores_and_exports(vllm_server):
    samples = [Sample.from_record({"prompt": f"What is {i} + {i}?", "chosen": str(2 * i), "rejected": str(2 * i + 1)},
                                  default_id=f"s{i}") for i in range(3)]
    model = OpenAIChatModel(vllm_server.model_name, base_url=vllm_server.base_url)
    grader = ReasoningJudgeGrader(model)
    chains = await asample_chains(model, [grader.render(s) for s in samples], k=4, max_tokens=24, seed=3)
    assert [len(c) for c in chains] == [4, 4, 4]
    # a random model rarely writes a verdict: append one to every other chain so rejection sampling has work to do
    chains = [[t + (" [[A]]" if j % 2 == 0 else " [[B]]") for j, t in enumerate(c)] for c in chains]
    async with PromptLogprobScorer(vllm_server.base_url, vllm_server.model_name) as scorer:
        sft, dpo = await abuild_reasongenrm_data(samples, grader, chains, VLLMChainScorer(scorer))
    await model.aclose()
    assert len(sft) == 3 and all(row["messages"][-2]["role"] == "reason" for row in sft)
    assert all(row["messages"][-1]["content"] == "[[A]]" for row in sft)     # the labelled winner
    assert dpo and all(row["chosen_r_score"] > row["rejected_r_score"] for row in dpo)
