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
            lp_reason, lp_verdict = await served.ascore(USER, reason, verdict)
            lq_reason, lq_verdict = local(USER, reason, verdict)
            assert lp_reason <= 0.0 and lp_verdict < 0.0
            assert (lp_reason, lp_verdict) == (pytest.approx(lq_reason, abs=1e-3), pytest.approx(lq_verdict, abs=1e-3))
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
        data = await abuild_reasongenrm_data(samples, grader, chains, VLLMChainScorer(scorer))
    await model.aclose()
    assert len(data.sft) == 3 and all(row["messages"][-2]["role"] == "reason" for row in data.sft)
    assert all(row["messages"][-1]["content"] == "[[A]]" for row in data.sft)     # the labelled winner
    # every sample has correct and incorrect chains: chosen keeps its [[A]], rejected its own [[B]]
    assert len(data.dpo) == 3 and data.dpo_skipped == 0
    assert all(row["chosen"][-1]["content"] == "[[A]]" and row["rejected"][-1]["content"] == "[[B]]"
               for row in data.dpo)
