"""The top-layers-only trainer: exact against the full model, trains only the top, saves a servable judge."""

from __future__ import annotations

import pytest

from rm_gallery.graders import create_grader
from rm_gallery.training.splits import PreferencePair

pytest.importorskip("torch")
pytest.importorskip("transformers")


def _pairs(n: int) -> list[PreferencePair]:
    return [PreferencePair(f"p{i}", f"Question {i}: is it safe to mix bleach and ammonia?",
                           "No. Never mix them: it makes toxic gas.", f"Yes, mix {i} cups.", "demo", f"g{i}")
            for i in range(n)]


@pytest.fixture
def tiny_prefix(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rm_gallery.training.frozen_prefix import FrozenPrefix

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    return FrozenPrefix(model, tokenizer, trainable_layers=1)


def test_split_forward_equals_the_full_model(tiny_prefix):
    import torch

    ids = tiny_prefix.encode([{"role": "user", "content": "Is response 1 better? Answer yes or no."}])
    with torch.inference_mode():
        full = tiny_prefix.model(input_ids=ids).logits[0, -1]
        token_ids = torch.tensor([3, 17, 99])
        split = tiny_prefix.last_logits(tiny_prefix.bottom(ids), token_ids)[0]
    assert torch.allclose(full[token_ids], split, atol=1e-5)
    # batched with right padding: the same numbers for sequences of different lengths
    short = tiny_prefix.encode([{"role": "user", "content": "yes?"}])
    with torch.inference_mode():
        many = tiny_prefix.bottom_many([ids, short, ids], batch=2)
        batched = tiny_prefix.last_logits_many(many, token_ids)
        alone = tiny_prefix.last_logits(tiny_prefix.bottom(short), token_ids)[0]
    assert [h.shape[1] for h in many] == [ids.shape[1], short.shape[1], ids.shape[1]]
    assert torch.allclose(batched[0], split, atol=1e-5) and torch.allclose(batched[1], alone, atol=1e-5)
    assert tiny_prefix.split == 1                                      # 2 layers: the lower one frozen


def test_only_the_top_layers_and_final_norm_train(tiny_prefix):
    inner = tiny_prefix.model.model
    trainable = {id(p) for p in tiny_prefix.trainable_parameters()}
    assert trainable == {id(p) for p in [*inner.layers[1].parameters(), *inner.norm.parameters()]}
    assert not any(p.requires_grad for p in inner.embed_tokens.parameters())     # tied to the output embedding
    assert not any(p.requires_grad for p in inner.layers[0].parameters())


def test_training_lowers_the_loss_and_the_checkpoint_reads_the_same(tiny_model_dir, tmp_path):
    import torch

    from rm_gallery.training.yes_no_judge import YesNoModel, train_yes_no

    grader = create_grader("win_probability", model=None)
    judge = YesNoModel.load(tiny_model_dir, grader, trainable_layers=1, threads=1)
    frozen_before = judge.prefix.model.model.layers[0].mlp.up_proj.weight.clone()
    cached = judge.cache(_pairs(4))
    before = judge.probabilities(cached)
    result = train_yes_no(judge, cached, epochs=20, batch_pairs=4, learning_rate=1e-2, zeta=0.1, seed=0)
    losses = [h["loss"] for h in result.history]
    assert result.steps == 20 and losses[-1] < 0.7 * losses[0]
    p_ab, p_ba = judge.probabilities(cached)
    assert min(p_ab) > 0.5 > max(p_ba) and p_ab != before[0]           # learned: chosen wins in both orders
    assert torch.equal(judge.prefix.model.model.layers[0].mlp.up_proj.weight, frozen_before)
    saved = judge.save(tmp_path / "ckpt")
    again = YesNoModel.load(saved, grader, trainable_layers=1, threads=1)
    re_ab, re_ba = again.probabilities(again.cache(_pairs(4)))
    assert re_ab == pytest.approx(p_ab, abs=1e-5) and re_ba == pytest.approx(p_ba, abs=1e-5)


def test_served_read_is_the_graders_parser_on_the_top_k_answer_tokens(tiny_model_dir):
    """As vLLM returns it (top-k decoded alternatives), through the grader's own parser: not the all-token sum."""
    import torch

    from rm_gallery.client.completion import TokenLogprob
    from rm_gallery.training.yes_no_judge import YesNoModel, pair_sample

    grader = create_grader("win_probability", model=None)
    judge = YesNoModel.load(tiny_model_dir, grader, trainable_layers=1, threads=1)
    pairs = _pairs(2)
    cached = judge.cache(pairs)
    k = 5
    got_ab, got_ba = judge.probabilities(cached, top_logprobs=k)
    tok = judge.prefix.tokenizer
    for pair, ab, ba in zip(pairs, got_ab, got_ba, strict=True):
        for order, got in (((0, 1), ab), ((1, 0), ba)):
            ids = judge.prefix.encode(grader.render(pair_sample(pair), order))
            with torch.inference_mode():
                lp = torch.log_softmax(judge.prefix.model(input_ids=ids).logits[0, -1], dim=-1)
            values, top = torch.topk(lp, k)
            alts = tuple((tok.decode([i]), v) for i, v in zip(top.tolist(), values.tolist(), strict=True))
            want = grader.parser((TokenLogprob(alts[0][0], alts[0][1], alts),))
            if isinstance(want, float):
                assert got == pytest.approx(want, abs=1e-5)
            else:                                   # neither yes nor no among the top k: a parse failure there too
                assert not isinstance(got, float) and got.code == want.code
    full_ab, _ = judge.probabilities(cached)
    assert all(isinstance(p, float) for p in full_ab)                # the all-token read always has both sides
    assert judge.served_probabilities(cached) == judge.probabilities(cached, top_logprobs=20)


def test_length_grouped_batches_cover_every_pair_once_with_less_padding():
    import random

    from rm_gallery.training.yes_no_judge import length_grouped_batches

    rng = random.Random(0)
    lengths = [rng.randint(50, 400) for _ in range(203)]
    batches = length_grouped_batches(lengths, 8, random.Random(1), window=4)
    assert sorted(i for b in batches for i in b) == list(range(203))       # every pair exactly once
    assert all(len(b) <= 8 for b in batches) and sum(len(b) < 8 for b in batches) <= 1

    def padded_tokens(bs):
        return sum(len(b) * max(lengths[i] for i in b) for b in bs)

    shuffled = list(range(203))
    random.Random(1).shuffle(shuffled)
    plain = [shuffled[s:s + 8] for s in range(0, 203, 8)]
    assert padded_tokens(batches) < 0.8 * padded_tokens(plain)             # the point of grouping
    assert batches == length_grouped_batches(lengths, 8, random.Random(1), window=4)   # seeded
    assert batches != length_grouped_batches(lengths, 8, random.Random(2), window=4)


def test_speed_options_still_learn_and_keep_evaluation_in_float32(tiny_model_dir):
    import torch

    from rm_gallery.training.yes_no_judge import YesNoModel, train_yes_no

    grader = create_grader("win_probability", model=None)
    judge = YesNoModel.load(tiny_model_dir, grader, trainable_layers=1, threads=1)
    exact = judge.cache(_pairs(4))
    approx = judge.cache(_pairs(4), bf16=True)
    assert exact[0][0].dtype == torch.float32
    assert not torch.equal(exact[0][0], approx[0][0])                      # bf16 matmuls really ran
    assert torch.allclose(exact[0][0], approx[0][0].float(), atol=0.1, rtol=0.1)
    result = train_yes_no(judge, approx, epochs=20, batch_pairs=2, learning_rate=1e-2, zeta=0.1, seed=0,
                          group_by_length=True, bf16=True)
    losses = [h["loss"] for h in result.history]
    assert result.steps == 40 and losses[-1] < 0.7 * losses[0]
    p_ab, p_ba = judge.probabilities(exact)                                # evaluated in float32
    assert min(p_ab) > 0.5 > max(p_ba)
    assert all(p.dtype == torch.float32 for p in judge.prefix.trainable_parameters())


@pytest.mark.parametrize("group_by_length", [False, True])
def test_schedule_steps_and_coverage(group_by_length):
    import random

    from rm_gallery.training.yes_no_judge import used_pairs, yes_no_schedule

    lengths = [random.Random(3).randint(20, 300) for _ in range(50)]
    full = yes_no_schedule(lengths, epochs=2, batch_pairs=8, seed=0, group_by_length=group_by_length)
    assert len(full) == 14                                       # round(ceil(50 / 8) x 2)
    assert used_pairs(full) == list(range(50))                   # two epochs see every pair
    short = yes_no_schedule(lengths, epochs=0.3, batch_pairs=8, seed=0, group_by_length=group_by_length)
    assert len(short) == 2 and short == full[:2]                  # a shorter run is a prefix of the longer one
    assert len(used_pairs(short)) <= 16 < 50                     # ...and needs only the pairs it sees cached
    assert yes_no_schedule(lengths, epochs=2, batch_pairs=8, seed=1, group_by_length=group_by_length) != full


def test_a_partial_cache_of_the_scheduled_pairs_trains_exactly_like_the_full_cache(tiny_model_dir):
    """The loop caches only the pairs a short run uses: same batches, same steps, same weights as caching all."""
    import torch

    from rm_gallery.training.yes_no_judge import YesNoModel, pair_lengths, train_yes_no, used_pairs, yes_no_schedule

    grader = create_grader("win_probability", model=None)
    pairs = _pairs(6)
    runs = []
    for partial in (False, True):
        judge = YesNoModel.load(tiny_model_dir, grader, trainable_layers=1, threads=1)
        if partial:
            encoded = judge.encode(pairs)
            schedule = yes_no_schedule(pair_lengths(encoded), epochs=0.5, batch_pairs=2, seed=0)
            used = used_pairs(schedule)
            assert len(used) < len(pairs)
            cached = dict(zip(used, judge.cache([encoded[i] for i in used]), strict=True))
            result = train_yes_no(judge, cached, epochs=0.5, batch_pairs=2, learning_rate=1e-2, seed=0,
                                  schedule=schedule)
        else:
            result = train_yes_no(judge, judge.cache(pairs), epochs=0.5, batch_pairs=2, learning_rate=1e-2, seed=0)
        runs.append((result, judge.prefix.model.model.layers[1].mlp.up_proj.weight.detach().clone()))
    (full, w_full), (part, w_part) = runs
    assert part.steps == full.steps == 2
    assert [h["loss"] for h in part.history] == pytest.approx([h["loss"] for h in full.history], abs=1e-6)
    assert torch.allclose(w_full, w_part, atol=1e-6)
    with pytest.raises(ValueError, match="needs the schedule"):
        train_yes_no(judge, cached, epochs=0.5, batch_pairs=2)
    with pytest.raises(ValueError, match="not cached"):
        train_yes_no(judge, {}, schedule=schedule)


def test_reading_a_verdict_letter_is_p_a_over_a_or_b_after_the_forced_prefix(tiny_model_dir):
    """``reading("A", "B", after="<preference>")``: the pairwise grader's letter, read as the GRPO probe reads it."""
    from dataclasses import replace

    import torch

    from rm_gallery.training.yes_no_judge import YesNoModel, pair_sample, train_yes_no

    pairwise = create_grader("pairwise", model=None)
    base = YesNoModel.load(tiny_model_dir, create_grader("win_probability", model=None), trainable_layers=1,
                           threads=1)
    judge = replace(base, grader=pairwise).reading("A", "B", after="<preference>")
    pairs = _pairs(2)
    p_ab, p_ba = judge.probabilities(judge.cache(pairs))
    tok = judge.prefix.tokenizer
    a, b = (tok(x, add_special_tokens=False)["input_ids"][0] for x in ("A", "B"))
    for pair, got_ab, got_ba in zip(pairs, p_ab, p_ba, strict=True):
        for order, got in (((0, 1), got_ab), ((1, 0), got_ba)):
            text = tok.apply_chat_template(pairwise.render(pair_sample(pair), order), add_generation_prompt=True,
                                           tokenize=False) + "<preference>"
            ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = judge.prefix.model(input_ids=ids).logits[0, -1]
            assert got == pytest.approx(float(torch.softmax(logits[[a, b]], -1)[0]), abs=1e-5)
    train_yes_no(judge, judge.cache(_pairs(4)), epochs=20, batch_pairs=4, learning_rate=1e-2, seed=0)
    t_ab, t_ba = judge.probabilities(judge.cache(pairs))
    assert min(t_ab) > 0.5 > max(t_ba)                 # the letter learned: "A" when the chosen is shown first
    with pytest.raises(ValueError, match="exactly one"):
        base.reading("yes please", "no")
