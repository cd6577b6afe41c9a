"""SFT, GRPO and greedy evaluation of a judge model on CPU with TRL (torch, transformers, trl imported lazily).

The judge's prompt is always ``grader.render(sample, order)`` and its answers are always read by the
grader's parser, so the model is trained and evaluated on exactly what the grader sends and reads.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rm_gallery.training.judgments import grader_parser, read_judgment
from rm_gallery.training.report import ValidationReport, validation_report


def _verdict_forms() -> dict[Any, str]:
    """How each verdict parser's judge writes a verdict (keyed by the parser function itself)."""
    from rm_gallery.graders.pairwise import parse_preference
    from rm_gallery.graders.pairwise_variants import parse_confident_preference
    from rm_gallery.graders.reasoning import parse_bracket_verdict
    from rm_gallery.graders.rubric import parse_rubric_choice

    return {parse_preference: "<preference>{w}</preference>", parse_bracket_verdict: "[[{w}]]",
            parse_rubric_choice: "<answer>{w}</answer>",
            # a format-only target: the confidence says nothing about which side is right
            parse_confident_preference: "<preference>{w}</preference>\n<confidence>0.5</confidence>"}


_BRACKET = {"A": "A", "B": "B", "tie": "C"}


def verdict_text(grader: Any, winner: str) -> str:
    """The shortest answer the grader's parser reads as ``winner`` (the SFT target for the output format)."""
    form = _verdict_forms().get(grader_parser(grader))
    if form is None:
        raise ValueError(f"no SFT verdict format for the parser of grader {getattr(grader, 'name', grader)!r}; "
                         "supported: pairwise, pairwise_confidence, reasoning, rubric_pairwise")
    text = form.format(w=_BRACKET[winner] if "[[" in form else winner)
    if read_judgment(grader, text).predicted != winner:  # the grader's parser is the judge of the format
        raise AssertionError(f"{text!r} does not parse as {winner!r} with grader {grader.name!r}")
    return text


def format_verdicts(grpo_rows: Sequence[Mapping[str, Any]], *, seed: int = 0) -> list[str]:
    """One SFT verdict per row that carries no information about the label: a format-only target.

    Each pair (``sample_id``) gets one letter for all of its rows, half the pairs "A" and half "B" (seeded).
    With both orders of a pair in the rows, the target is right in exactly one of them, so SFT on these
    verdicts teaches the output format and an even letter mix, but not which response is better.
    """
    ids = list(dict.fromkeys(r["sample_id"] for r in grpo_rows))
    random.Random(seed).shuffle(ids)
    letter = {sid: "AB"[i % 2] for i, sid in enumerate(ids)}
    return [letter[r["sample_id"]] for r in grpo_rows]


def sft_rows(grpo_rows: Sequence[Mapping[str, Any]], grader: Any, verdicts: Sequence[str] | None = None
             ) -> list[dict[str, Any]]:
    """Prompt/completion rows in the grader's verdict format, one per GRPO row.

    The verdict written is the row's label, or ``verdicts[i]`` when given — e.g. :func:`format_verdicts`,
    which teaches the format and leaves the decision to GRPO.
    """
    winners = [r["preferred"] for r in grpo_rows] if verdicts is None else list(verdicts)
    if len(winners) != len(grpo_rows):
        raise ValueError(f"{len(winners)} verdicts for {len(grpo_rows)} rows")
    return [{"prompt": list(r["prompt"]),
             "completion": [{"role": "assistant", "content": verdict_text(grader, w)}]}
            for r, w in zip(grpo_rows, winners, strict=True)]


#: Format-SFT targets before GRPO (:func:`format_sft_rows`); neither carries the label.
SFT_LETTERS = ("pair", "both")


def both_letter_rows(grpo_rows: Sequence[Mapping[str, Any]], grader: Any, n: int, *, seed: int = 0
                     ) -> list[dict[str, Any]]:
    """``n`` format-SFT rows where every prompt appears twice, once answered "A" and once "B" (seeded sample).

    The loss on the verdict letter is then minimised at an even A/B split *for every prompt*, so SFT teaches the
    format while pulling each prompt's letter towards 50/50, where GRPO's sampled groups are most often mixed.
    :func:`format_verdicts` balances letters across pairs only. Measured on SmolLM2 (20 steps): P(A | letter)
    0.82 on every prompt with :func:`format_verdicts`, 0.72 with this (the base model's habit is 0.71), so it
    keeps the letter mixed but does not remove the habit (``perf/real_judge_grpo_dev.py``).
    """
    if n % 2:
        raise ValueError(f"both_letter_rows needs an even number of rows (each prompt twice), got {n}")
    picked = random.Random(seed).sample(range(len(grpo_rows)), min(n // 2, len(grpo_rows)))
    rows = [grpo_rows[i] for i in picked]
    return [row for r in rows for row in sft_rows([r, r], grader, ["A", "B"])]


def format_sft_rows(grpo_rows: Sequence[Mapping[str, Any]], grader: Any, letters: str, *, steps: int,
                    batch_size: int, seed: int = 0) -> list[dict[str, Any]]:
    """The format-SFT rows before GRPO: ``letters="pair"`` (:func:`format_verdicts`, every row) or ``"both"``
    (:func:`both_letter_rows`, ``steps * batch_size`` rows). Neither carries label information."""
    if letters == "both":
        return both_letter_rows(grpo_rows, grader, steps * batch_size, seed=seed)
    if letters == "pair":
        return sft_rows(grpo_rows, grader, format_verdicts(grpo_rows, seed=seed))
    raise ValueError(f"letters must be one of {', '.join(SFT_LETTERS)}, got {letters!r}")


def _dataset(rows: Sequence[Mapping[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list([dict(r) for r in rows])


def _quiet() -> None:
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                    "vocab.json", "merges.txt")


def copy_tokenizer_files(model_dir: str | Path, out: Path, tokenizer: Any) -> None:
    """Keep the base model's tokenizer files verbatim (training never changes them), so the checkpoint loads
    in other transformers versions (e.g. vLLM's venv) exactly like the base; re-save only if there are none."""
    import shutil

    src = Path(model_dir)
    copied = [shutil.copy2(src / name, out / name) for name in _TOKENIZER_FILES if (src / name).is_file()]
    if not copied:
        tokenizer.save_pretrained(str(out))


@dataclass
class TrainResult:
    """Where a stage saved its model, how long it took, and its logged history."""

    output_dir: Path
    seconds: float
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else 0.0



def _checkpointing(config_cls: Any, enabled: bool) -> dict[str, bool]:
    """Activation checkpointing under the name this transformers accepts (``gradient_checkpointing`` is the
    deprecated alias from 5.x on; setting the new name also keeps TRL's default of True from warning)."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_cls)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def _train_and_save(trainer: Any, model_dir: str | Path, out: Path) -> TrainResult:
    """Train, time it, and save model + tokenizer to ``out`` (shared by the SFT and GRPO stages)."""
    started = time.perf_counter()
    state = trainer.train()
    seconds = time.perf_counter() - started
    trainer.save_model(str(out))
    copy_tokenizer_files(model_dir, out, trainer.processing_class)
    return TrainResult(out, seconds, int(state.global_step), list(trainer.state.log_history))


def train_sft(model_dir: str | Path, rows: Sequence[Mapping[str, Any]], output_dir: str | Path, *,
              epochs: float = 1.0, batch_size: int = 16, learning_rate: float = 1e-3, seed: int = 0,
              max_steps: int = -1, trainable_layers: int | None = None, bf16: bool = False) -> TrainResult:
    """Supervised fine-tuning on prompt/completion rows (loss on the completion only), CPU.

    ``trainable_layers=k`` trains only the top k layers and the final norm (see :func:`freeze_below`).
    ``bf16=True`` runs the training pass under CPU bfloat16 autocast (weights and optimizer stay float32).
    """
    _quiet()
    from trl import SFTConfig, SFTTrainer

    out = Path(output_dir)
    args = SFTConfig(output_dir=str(out), use_cpu=True, bf16=bf16, per_device_train_batch_size=batch_size,
                     num_train_epochs=epochs, max_steps=max_steps, learning_rate=learning_rate,
                     lr_scheduler_type="cosine", warmup_steps=10, seed=seed, logging_steps=10,
                     save_strategy="no", report_to=[], completion_only_loss=True, disable_tqdm=True,
                     dataloader_num_workers=0, **_checkpointing(SFTConfig, False))
    trainer = SFTTrainer(model=_load(model_dir, trainable_layers), args=args, train_dataset=_dataset(rows))
    return _train_and_save(trainer, model_dir, out)


def paired_rows(rows: Sequence[Mapping[str, Any]], n: int, *, seed: int = 0) -> list[Mapping[str, Any]]:
    """``n`` rows in training order: both presentation orders of a pair adjacent, pairs reshuffled every pass.

    Fed to GRPO unshuffled with an even number of prompts per step, every batch holds each pair in both
    orders, with opposite labels: a judge that leans to one letter gains in one order what it loses in the
    other, so only reading the responses raises the batch reward.
    """
    from rm_gallery.training.data import grouped_order

    keys = [r["sample_id"] for r in rows]
    group = len({r["order"] for r in rows})
    out: list[Mapping[str, Any]] = []
    epoch = 0
    while len(out) < n:
        out.extend(rows[i] for i in grouped_order(keys, group_size=group, seed=seed + epoch))
        epoch += 1
    return out[:n]


def train_grpo(model_dir: str | Path, rows: Sequence[Mapping[str, Any]], output_dir: str | Path,
               reward_funcs: Sequence[Any], *, max_steps: int = 100, num_generations: int = 4,
               batch_size: int = 8, learning_rate: float = 5e-5, max_completion_length: int = 8,
               temperature: float = 1.0, beta: float = 0.0, seed: int = 0, shuffle: bool = True,
               logging_steps: int = 10, gradient_checkpointing: bool = False, trainable_layers: int | None = None,
               bf16: bool = False, **config: Any) -> TrainResult:
    """GRPO with TRL on CPU (``use_cpu=True``); ``rows`` carry ``prompt`` plus label columns.

    ``batch_size`` counts completions (``batch_size / num_generations`` prompts per step); ``shuffle=False``
    keeps the rows' order (see :func:`paired_rows`). Gradient checkpointing, on by default in TRL, is off:
    it only costs time on a model this small. ``trainable_layers=k`` trains only the top k layers and the
    final norm (the rest frozen, see :func:`freeze_below`), which cuts the backward pass on CPU. ``bf16=True``
    is TRL's bf16 mode on CPU (autocast on the training pass). Other ``GRPOConfig`` fields pass through
    ``config``.
    """
    _quiet()
    from trl import GRPOConfig, GRPOTrainer

    out = Path(output_dir)
    args = GRPOConfig(output_dir=str(out), use_cpu=True, bf16=bf16, num_generations=num_generations,
                      per_device_train_batch_size=batch_size, max_completion_length=max_completion_length,
                      max_steps=max_steps, learning_rate=learning_rate, temperature=temperature, beta=beta,
                      seed=seed, shuffle_dataset=shuffle, logging_steps=logging_steps, save_strategy="no",
                      report_to=[], disable_tqdm=True, dataloader_num_workers=0,
                      **_checkpointing(GRPOConfig, gradient_checkpointing), **config)
    trainer = GRPOTrainer(model=_load(model_dir, trainable_layers), reward_funcs=list(reward_funcs), args=args,
                          train_dataset=_dataset(rows))
    return _train_and_save(trainer, model_dir, out)


def freeze_below(model: Any, trainable_layers: int) -> Any:
    """Freeze everything but the top ``trainable_layers`` decoder layers and the final norm (in place)."""
    layers = model.model.layers
    if not 0 < trainable_layers <= len(layers):
        raise ValueError(f"trainable_layers must be in 1..{len(layers)}, got {trainable_layers}")
    for p in model.parameters():
        p.requires_grad_(False)
    for module in (*layers[len(layers) - trainable_layers:], model.model.norm):
        for p in module.parameters():
            p.requires_grad_(True)
    return model


def _load(model_dir: str | Path, trainable_layers: int | None) -> Any:
    """The path for TRL to load (all layers train), or the model loaded here with the lower layers frozen."""
    if trainable_layers is None:
        return str(model_dir)
    from transformers import AutoModelForCausalLM

    return freeze_below(AutoModelForCausalLM.from_pretrained(str(model_dir)), trainable_layers)


def generate(model_dir: str | Path, prompts: Sequence[Sequence[Mapping[str, str]]], *, max_new_tokens: int = 8,
             batch_size: int = 32) -> list[str]:
    """Greedy completions for chat prompts (left-padded batches, CPU)."""
    _quiet()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    outs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = [tokenizer.apply_chat_template(list(p), add_generation_prompt=True, tokenize=False)
                 for p in prompts[start:start + batch_size]]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
        outs.extend(tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True))
    return outs


def evaluate(model_dir: str | Path, rows: Sequence[Mapping[str, Any]], grader: Any, *,
             max_new_tokens: int = 8) -> tuple[ValidationReport, list[str]]:
    """Held-out report for a model: greedy answers to the rows' prompts, read by the grader's parser."""
    texts = generate(model_dir, [r["prompt"] for r in rows], max_new_tokens=max_new_tokens)
    report = validation_report(grader, texts, [r["preferred"] for r in rows],
                               [r.get("preference_strength") for r in rows])
    return report, texts
