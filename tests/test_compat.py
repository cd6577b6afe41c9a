"""RM-Gallery / OpenJudge documented examples, with only their import lines pointed at rm_gallery.core."""

import pytest

from rm_gallery.core.graders import PairwiseComparisonTemplate, PairwiseGrader
from rm_gallery.core.models import OpenAIChatModel
from rm_gallery.core.runner import GraderConfig, GradingRunner

DOC_DATA = [
    {"input": [{"role": "user", "content": "What are the benefits of exercise?"}],
     "output": [{"content": "Regular exercise improves cardiovascular health, boosts mood ..."},
                {"content": "Exercise is good for you."}],
     "metadata": {"preferred": "A", "preference_strength": 2}},
    {"input": [{"role": "user", "content": "Explain quantum computing"}],
     "output": [{"content": "Detailed technical explanation..."}, {"content": "Simple but incomplete..."}],
     "metadata": '{"preferred": "A", "preference_strength": 1}'},
]


async def test_documented_runner_example(stub):
    model = OpenAIChatModel(model="stub-judge", base_url=stub.base_url, api_key="EMPTY")
    grader = PairwiseGrader(model=model)
    runner = GradingRunner(grader_configs={"preference": GraderConfig(grader=grader)}, max_concurrency=4,
                           show_progress=False)
    results = await runner.arun(DOC_DATA)
    assert [r.winner for r in results["preference"]] == ["A", "A"]
    await model.aclose()


async def test_documented_model_acomplete_and_template_parse(stub):
    model = OpenAIChatModel(model="stub-judge", base_url=stub.base_url, api_key="EMPTY")
    prompt = ("Compare these responses:\n\nQuery: q\n\n"
              "<analysis>Your analysis</analysis>\n<preference>A or B</preference>")
    result = await model.acomplete(prompt)
    parsed = PairwiseComparisonTemplate.parse(result.text)
    assert parsed.preference == "A" and parsed.analysis
    assert stub.requests[-1]["messages"] == [{"role": "user", "content": prompt}]
    await model.aclose()


# -- Seed 000 ("Generative Training (Pairwise)", section "Using Trained Models") --------------------------------

#: ``your_comparison_data`` in the seed's pairwise format (the second row keeps metadata as a JSON string).
SEED_DATA = [
    {"input": [{"role": "user", "content": "What are the benefits of exercise?"}],
     "output": [{"content": "Regular exercise improves cardiovascular health, boosts mood through endorphin release, "
                            "increases energy levels, helps maintain healthy weight, and reduces risk of chronic "
                            "diseases like diabetes and heart disease."},
                {"content": "Exercise is good for you."}],
     "metadata": {"preferred": "A", "preference_strength": 2}},
    {"input": [{"role": "user", "content": "Explain quantum computing"}],
     "output": [{"content": "Simple but incomplete explanation..."},
                {"content": "Detailed technical explanation of qubits, superposition, entanglement and gates..."}],
     "metadata": '{"preferred": "B", "preference_strength": 1}'},
    {"input": [{"role": "user", "content": "Say hi"}], "output": [{"content": "Hi!"}, {"content": "Hello"}],
     "metadata": {"preferred": "tie", "preference_strength": 0}},
]


async def run_seed_000(endpoint, your_comparison_data):
    """The seed's two snippets as written, in order; only the model's endpoint is replaced by ``endpoint``
    (the seed's ``model="./checkpoints/pairwise-final", is_local=True``)."""
    from rm_gallery.core.models import OpenAIChatModel

    model = OpenAIChatModel(
        **endpoint
    )

    # Compare two responses
    query = "What are the benefits of exercise?"
    response_a = "Detailed comprehensive answer..."
    response_b = "Brief incomplete answer..."

    prompt = f"""Compare these responses:

Query: {query}

Response A: {response_a}

Response B: {response_b}

<analysis>Your analysis</analysis>
<preference>A or B or tie</preference>"""

    result = await model.acomplete(prompt)
    print(result)

    # the seed's import lines, in the seed's order
    from rm_gallery.core.graders.common import RelevanceGrader  # noqa: I001
    from rm_gallery.core.runner import GradingRunner, GraderConfig

    grader = RelevanceGrader(model=model)

    runner = GradingRunner(
        grader_configs={
            "preference": GraderConfig(grader=grader)
        }
    )

    # Evaluate dataset
    results = await runner.arun(your_comparison_data)
    return model, result, results


def relevance_stub(req):
    """The stub judge: a relevance JSON (5 for long responses, 2 for short ones), else a pairwise verdict."""
    import re

    from rm_gallery.testing.stub_server import DEFAULT_REPLY

    text = req["messages"][-1]["content"]
    found = re.search(r"<response>\n(.*?)\n</response>", text, re.S)
    if found is None:
        return DEFAULT_REPLY
    return f'{{"score": {5 if len(found.group(1)) > 40 else 2}, "reason": "judged on length"}}'


async def test_seed_000_runner_example_runs_as_written(capsys):
    from rm_gallery.testing.stub_server import StubServer

    async with StubServer(relevance_stub, record=True) as stub:
        model, result, results = await run_seed_000({"model": "stub-judge", "base_url": stub.base_url}, SEED_DATA)
        await model.aclose()
    assert "<preference>A</preference>" in result.text and "<preference>A</preference>" in capsys.readouterr().out
    assert stub.requests[0]["messages"] == [{"role": "user", "content": stub.requests[0]["messages"][0]["content"]}]
    verdicts = results["preference"]
    # a pointwise grader on two responses: both scored, the higher score wins, equal scores tie
    assert [v.winner for v in verdicts] == ["A", "B", "tie"]                 # = each row's metadata.preferred
    assert [(v.metadata["score_a"], v.metadata["score_b"]) for v in verdicts] == [(5.0, 2.0), (2.0, 5.0), (2.0, 2.0)]
    assert len(stub.requests) == 1 + 2 * len(SEED_DATA)                       # acomplete + one request per response


def assert_typed_results(results, n):
    """With a random model: every sample is a Verdict or a parse error that kept the judge's text, nothing else."""
    from rm_gallery.types import GraderError, Verdict

    out = results["preference"]
    assert len(out) == n
    for r in out:
        assert isinstance(r, Verdict) or (isinstance(r, GraderError) and r.kind == "parse_error" and r.raw), r


@pytest.mark.slow
async def test_seed_000_as_written_with_a_local_checkpoint(tiny_model_dir):
    """The seed's own ``is_local=True``, only the checkpoint path changed: the in-process backend."""
    model, result, results = await run_seed_000({"model": str(tiny_model_dir), "is_local": True}, SEED_DATA)
    await model.aclose()
    assert isinstance(result.text, str)
    assert_typed_results(results, len(SEED_DATA))
