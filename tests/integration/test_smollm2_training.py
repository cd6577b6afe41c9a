"""A real judge trained in-process, served by vLLM, registered and benched: the same numbers as in-process.

SmolLM2-135M-Instruct (the built-in real judge) is changed by a short Pairwise-RL run (top layers only, a few real
pairs: the machinery, not a gain), saved, served by vLLM, registered as a grader and graded through the
``pairs`` benchmark's code path. Its symmetric win probabilities, read from vLLM's top logprobs, match the
in-process ones read the same way (the top 20 answer tokens through the grader's parser), and so does the
headline.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import REWARDBENCH, SHARED_DATA, skip_or_fail

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def smollm2_dir():
    pytest.importorskip("torch")
    from rm_gallery.local.models import resolve_model
    from rm_gallery.local.smollm2 import ModelBuildError

    try:
        return resolve_model("smollm2")
    except (ModelBuildError, ImportError) as exc:
        skip_or_fail(f"the built-in SmolLM2 judge could not be built ({exc}); run scripts/setup_real_judge.sh")


def test_pairwise_rl_checkpoint_reads_the_same_served(smollm2_dir, vllm_python, tmp_path):
    from rm_gallery.graders import create_grader
    from rm_gallery.results_io import read_results
    from rm_gallery.training.heldout import from_probabilities, summarize
    from rm_gallery.training.judge_loop import JudgeLoopConfig, JudgeLoopResult, serve_and_bench
    from rm_gallery.training.splits import Split, load_pairs
    from rm_gallery.training.yes_no_judge import YesNoModel, train_yes_no

    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found under {SHARED_DATA}")
    pairs = [p for p in load_pairs([REWARDBENCH]) if len(p.prompt + p.chosen + p.rejected) < 700][:14]
    train, held = pairs[:6], pairs[6:]
    judge = YesNoModel.load(smollm2_dir, create_grader("win_probability", model=None), trainable_layers=2)
    untrained = judge.probabilities(judge.cache(held))
    train_yes_no(judge, judge.cache(train), epochs=3, batch_pairs=3, learning_rate=1e-3, seed=0)
    cached = judge.cache(held)
    assert max(abs(a - b) for a, b in zip(judge.probabilities(cached)[0], untrained[0], strict=True)) > 1e-3
    p_ab, p_ba = judge.served_probabilities(cached)   # top-20 answer tokens through the grader's parser
    cfg = JudgeLoopConfig(out=tmp_path, bootstrap=0, vllm_python=str(vllm_python))
    Split([], held, [], 0, 0.5, ()).write(tmp_path / "data")
    judgments = from_probabilities([p.id for p in held], [p.source for p in held], p_ab, p_ba)
    result = JudgeLoopResult(config=cfg.to_dict(),
                             stages={"pairwise_rl/trained": {"held_out": summarize(judgments, n_boot=0)}})
    serve_and_bench(cfg, "pairwise_rl", judge.save(tmp_path / "checkpoint"), result)
    served = result.served["pairwise_rl"]
    assert served["parse_failure_rate"] == 0.0
    records = list(read_results(tmp_path / "pairwise_rl" / "bench" / "samples.jsonl"))
    assert len(records) == len(held)
    by_id = {j.pair_id: j for j in judgments}
    for rec in records:
        r = rec["result"]
        mine = by_id[rec["sample_id"].split("/", 1)[1]]
        # the same top-20 read on both sides: only vLLM's CPU kernels against torch's differ
        assert r.metadata["p_ab"] == pytest.approx(mine.meta["p_ab"], abs=1e-3)
        assert r.metadata["p_ba"] == pytest.approx(mine.meta["p_ba"], abs=1e-3)
    margins = [abs(j.probability - 0.5) for j in judgments]
    if min(margins) > 1e-3:                                   # no verdict on the edge: the same headline exactly
        assert served["headline"] == pytest.approx(served["in_process"])
    assert json.loads((tmp_path / "pairwise_rl" / "bench" / "summary.json").read_text())["benchmark"] == "pairs"


def test_served_greedy_answers_match_in_process_generation(smollm2_dir, smollm2_server):
    """GRPO's stages are evaluated through vLLM (greedy): it must answer as transformers' greedy generate does."""
    from rm_gallery.graders import create_grader
    from rm_gallery.sync import run_sync
    from rm_gallery.training.judge_loop import _verdict_prompts, served_texts
    from rm_gallery.training.splits import load_pairs
    from rm_gallery.training.trainers import generate

    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found under {SHARED_DATA}")
    pairs = [p for p in load_pairs([REWARDBENCH]) if len(p.prompt + p.chosen + p.rejected) < 600][:4]
    prompts = _verdict_prompts(pairs, create_grader("pairwise", model=None))
    served = run_sync(served_texts(smollm2_server.base_url, smollm2_server.model_name, prompts, max_tokens=12),
                      what="test", instead="")
    local = generate(smollm2_dir, prompts, max_new_tokens=12, batch_size=1)   # batch 1: no padding effects
    assert len(served) == len(local) == 8
    assert all(s.strip() for s in served)
    same = sum(s.strip() == t.strip() for s, t in zip(served, local, strict=True))
    assert same >= 7, list(zip(served, local, strict=True))   # greedy: equal but for a rare fp near-tie
