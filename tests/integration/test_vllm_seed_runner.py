"""Seed 000's GradingRunner example against the real vLLM server with the tiny model: only the endpoint changes.

The tiny model is random, so its relevance answers are rarely readable: what this proves is that the seed's code
runs as written end to end over real HTTP and every sample comes back typed (a Verdict or a parse error that
kept the judge's text), never an API error or an exception.
"""

import pytest

from ..test_compat import SEED_DATA, assert_typed_results, run_seed_000

pytestmark = pytest.mark.integration


async def test_seed_000_runner_example_on_vllm(vllm_server):
    model, result, results = await run_seed_000({"model": vllm_server.model_name, "base_url": vllm_server.base_url},
                                                SEED_DATA)
    await model.aclose()
    assert result.text and result.usage.completion_tokens > 0
    assert_typed_results(results, len(SEED_DATA))
