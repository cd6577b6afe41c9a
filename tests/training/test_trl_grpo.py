"""Real TRL: a short GRPO run on the tiny model calls our reward and changes the weights; SFT + eval plumbing."""

from __future__ import annotations

import importlib.util

import pytest

from ..conftest import skip_or_fail


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    if importlib.util.find_spec("trl") is None:
        skip_or_fail("trl not installed: pip install -e '.[train]'")
    return tiny_model_dir


@pytest.fixture(scope="module")
def rows():
    from rm_gallery.training.data import grpo_rows
    from rm_gallery.training.synthetic import synthetic_samples
    from rm_gallery.training.verl_rewards import training_grader

    return grpo_rows(synthetic_samples(8, task="refusal", seed=5), training_grader("pairwise"))


def _weights(model_dir):
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


@pytest.mark.slow
def test_grpo_calls_the_reward_and_changes_parameters(tiny, rows, tmp_path):
    import torch

    from rm_gallery.training.trainers import train_grpo
    from rm_gallery.training.trl_rewards import AsyncPairwiseReward, PairwiseReward
    from rm_gallery.training.verl_rewards import training_grader

    seen: list[dict] = []

    class Spy(PairwiseReward):
        def __call__(self, prompts=None, completions=(), **kwargs):
            seen.append({"n": len(completions), "keys": set(kwargs), "first": completions[0]})
            return super().__call__(prompts, completions, **kwargs)

    # Every completion rewarded 0 would give zero advantages and no update; a constant-plus-parse reward
    # cannot guarantee a mixed group, so a second reward adds length-based variety.
    def variety(prompts, completions, **kwargs):
        return [float(len(c[0]["content"]) % 3) for c in completions]

    reward = Spy(training_grader("pairwise"))
    async_reward = AsyncPairwiseReward(training_grader("pairwise"), weighted=True, name="async_pairwise")
    result = train_grpo(tiny, rows, tmp_path / "grpo", [reward, async_reward, variety], max_steps=2,
                        num_generations=2, batch_size=2, learning_rate=1e-2, max_completion_length=6, logging_steps=1)
    assert reward.calls >= 4 and seen
    assert async_reward.calls == reward.calls                  # TRL awaited the async variant on every batch
    call = seen[0]
    assert {"preferred", "preference_strength", "sample_id", "trainer_state", "log_extra", "log_metric"} <= call["keys"]
    assert isinstance(call["first"], list) and call["first"][0]["role"] == "assistant"   # conversational
    before, after = _weights(tiny), _weights(result.output_dir)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "GRPO did not change any parameter"
    assert any("pairwise_reward" in k for h in result.history for k in h), "reward metrics were not logged"
    for name in ("tokenizer.json", "tokenizer_config.json"):     # the base tokenizer, verbatim (vLLM loads it)
        assert (result.output_dir / name).read_bytes() == (tiny / name).read_bytes()


@pytest.mark.slow
def test_sft_teaches_the_verdict_format(tiny, rows, tmp_path):
    from rm_gallery.training.trainers import evaluate, sft_rows, train_sft
    from rm_gallery.training.verl_rewards import training_grader

    grader = training_grader("pairwise")
    result = train_sft(tiny, sft_rows(rows, grader), tmp_path / "sft", max_steps=40, batch_size=8,
                       learning_rate=3e-3)
    report, texts = evaluate(result.output_dir, rows[:4], grader)
    assert report.format_ok == 1.0, texts                  # every answer now parses with the grader's parser


@pytest.mark.slow
def test_bf16_reaches_the_trainers_and_still_trains(tiny, rows, tmp_path):
    """``bf16=True`` is TRL's CPU autocast: from the same seed it must change the update (else the flag did not
    reach the trainer) and still move the weights, for SFT and for GRPO."""
    import torch

    from rm_gallery.training.trainers import sft_rows, train_grpo, train_sft
    from rm_gallery.training.trl_rewards import PairwiseReward
    from rm_gallery.training.verl_rewards import training_grader

    grader = training_grader("pairwise")

    def variety(prompts, completions, **kwargs):
        return [float(len(c[0]["content"]) % 3) for c in completions]

    base = _weights(tiny)
    for stage in ("sft", "grpo"):
        runs = {}
        for bf16 in (False, True):
            out = tmp_path / f"{stage}_{bf16}"
            if stage == "sft":
                result = train_sft(tiny, sft_rows(rows, grader), out, max_steps=2, batch_size=4, learning_rate=1e-2,
                                   bf16=bf16)
            else:
                result = train_grpo(tiny, rows, out, [PairwiseReward(grader), variety], max_steps=2,
                                    num_generations=2, batch_size=4, learning_rate=1e-2, max_completion_length=6,
                                    shuffle=False, bf16=bf16)
            runs[bf16] = _weights(result.output_dir)
        for weights in runs.values():
            assert any(not torch.equal(base[k], weights[k]) for k in base), f"{stage} did not train"
            assert all(w.dtype == base[k].dtype for k, w in weights.items())      # saved weights stay float32
        assert any(not torch.equal(runs[False][k], runs[True][k]) for k in base), f"{stage}: bf16 changed nothing"


@pytest.mark.slow
def test_par_reward_in_a_real_grpo_trainer_sees_both_halves_of_every_pair(tiny, tmp_path):
    """PaTaRM's PAR through TRL: rows from par_rows in PairPreservingSampler order, unshuffled, so every
    generation batch holds a pair's chosen and rejected prompts and each completion gets a paired reward."""
    from rm_gallery.training.par import PairPreservingSampler, PARReward, par_rows
    from rm_gallery.training.synthetic import synthetic_samples
    from rm_gallery.training.trainers import train_grpo
    from rm_gallery.training.verl_rewards import training_grader

    grader = training_grader("rubric")
    rows = par_rows(synthetic_samples(4, task="refusal", seed=9), grader)
    order = PairPreservingSampler([r["pair_id"] for r in rows], [r["role"] for r in rows], seed=1).order()
    rows = [rows[i] for i in order]
    batches: list[list[tuple[str, str]]] = []
    paired: list[float] = []

    class Spy(PARReward):
        def __call__(self, prompts=None, completions=(), **kwargs):
            batches.append(list(zip(kwargs["pair_id"], kwargs["role"], strict=True)))
            rewards = super().__call__(prompts, completions, **kwargs)
            from rm_gallery.training.par import par_batch

            texts = [c[0]["content"] for c in completions]
            paired.extend(r["paired"] for r in par_batch(texts, kwargs["pair_id"], kwargs["role"], grader))
            return rewards

    def variety(prompts, completions, **kwargs):
        return [float(len(c[0]["content"]) % 3) for c in completions]

    reward = Spy(grader, mode="graded")
    train_grpo(tiny, rows, tmp_path / "par", [reward, variety], max_steps=2, num_generations=2, batch_size=4,
               learning_rate=1e-3, max_completion_length=6, shuffle=False, logging_steps=1)
    assert len(batches) == 2
    for batch in batches:      # 4 completions = 2 prompts x 2 generations = one pair, both halves
        assert len({pid for pid, _ in batch}) == 1 and sorted({role for _, role in batch}) == ["chosen", "rejected"]
    assert [b[0][0] for b in batches] == [rows[0]["pair_id"], rows[2]["pair_id"]]   # the sampler's order, kept
    assert paired and all(p == 1.0 for p in paired)
