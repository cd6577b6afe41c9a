"""Why GRPO does not move SmolLM2's verdicts: the verdict letter before and after GRPO, on a dev split of train.

Builds the real-judge loop's split, carves a dev split by problem from its *train* pairs (as
``perf/real_judge_dev.py`` does; held-out and transfer pairs are never read), runs the loop's format SFT
(``--sft-letters pair|both``; ``label`` is a supervised control, SFT on the right letter) and GRPO (the
``pairwise`` grader's binary reward, both orders of each pair in every batch) on dev-train, and probes the
verdict letter on dev prompts: with the assistant turn forced to start ``<preference>``, the next-token
probabilities of "A" and "B". Prints, per stage, the dev accuracy of the likelier letter (what greedy decoding
answers once the format is learnt), the same per pair once the position habit is cancelled (the chosen letter's
log-odds summed over both orders: does the letter carry the preference at all?), the share of prompts whose
likelier letter is "A", the mean P(A | A or B) and its entropy, plus GRPO's per-step training statistics
(reward, share of groups with no reward variance, sampling entropy per token). Writes ``perf/results/NAME.json``.

Usage: python perf/real_judge_grpo_dev.py [--sft-letters both|pair|label] [--sft-steps 20] [--grpo-steps 30]
       [--dev-prompts 160] [--top-entropy-quantile 0.1 --entropy-coef 0.5 --grpo-lr 2e-4]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json

from rm_gallery.training.judge_loop import SFT_LETTERS, JudgeLoopConfig, prepare_split

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def letter_probe(model_dir: Path, rows: Sequence[Mapping[str, Any]], batch: int = 8) -> dict[str, float]:
    """P("A") and P("B") right after a forced ``<preference>``, for each row's prompt; summary figures."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    a_id, b_id = (tok(x, add_special_tokens=False)["input_ids"][0] for x in ("A", "B"))
    seen: list[tuple[float, float, str]] = []
    for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        texts = [tok.apply_chat_template(list(r["prompt"]), tokenize=False, add_generation_prompt=True)
                 + "<preference>" for r in chunk]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            probs = model(**enc).logits[:, -1].softmax(-1)
        seen.extend((float(p[a_id]), float(p[b_id]), r["preferred"]) for r, p in zip(chunk, probs, strict=True))
    p_a = [a / (a + b) for a, b, _ in seen]
    # Per pair, the chosen response's letter log-odds summed over both orders: > 0 when the letter carries the
    # preference once its position habit (the same in both orders) cancels.
    chosen_log_odds: dict[str, float] = {}
    for r, (a, b, w) in zip(rows, seen, strict=True):
        lo = math.log(a / b) if w == "A" else math.log(b / a)
        chosen_log_odds[r["sample_id"]] = chosen_log_odds.get(r["sample_id"], 0.0) + lo
    return {"letter_accuracy": round(100 * statistics.mean((a > b) == (w == "A") for a, b, w in seen), 1),
            "debiased_pair_accuracy": round(100 * statistics.mean(v > 0 for v in chosen_log_odds.values()), 1),
            "share_likelier_A": round(statistics.mean(a > b for a, b, _ in seen), 3),
            "mean_p_a_given_letter": round(statistics.mean(p_a), 3),
            "letter_entropy_nats": round(statistics.mean(-p * math.log(p) - (1 - p) * math.log(1 - p)
                                                         for p in p_a), 3),
            "letter_mass": round(statistics.mean(a + b for a, b, _ in seen), 3)}


def main() -> None:
    d = JudgeLoopConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED)
    p.add_argument("--sft-letters", choices=(*SFT_LETTERS, "label"), default="both",
                   help="the loop's format-SFT targets, or 'label': SFT on the right letter (a supervised control)")
    p.add_argument("--sft-steps", type=int, default=d.sft_steps)
    p.add_argument("--grpo-steps", type=int, default=30)
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="TRL bf16 on CPU")
    p.add_argument("--top-entropy-quantile", type=float, default=1.0,
                   help="TRL: policy loss only on this top share of tokens by entropy (0.1 ~ the verdict letter)")
    p.add_argument("--grpo-lr", type=float, default=d.grpo_learning_rate, help="GRPO learning rate (the loop's)")
    p.add_argument("--entropy-coef", type=float, default=0.0, help="TRL: entropy bonus on those same tokens")
    p.add_argument("--dev-prompts", type=int, default=160, help="dev prompts probed (both orders of half as many)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--name", default="real_judge_grpo_dev")
    args = p.parse_args()
    if args.out is not None:
        return run(args, args.out)
    with tempfile.TemporaryDirectory(prefix="rm_gallery_grpo_dev_") as tmp:  # ~1 GB of checkpoints, not kept
        return run(args, Path(tmp))


def run(args: argparse.Namespace, out: Path) -> None:
    """Format SFT then GRPO on the dev-train pairs, probing the letter on dev after each stage; checkpoints in out."""
    from rm_gallery.graders.registry import create_grader
    from rm_gallery.local.models import resolve_model
    from rm_gallery.training.data import grpo_rows
    from rm_gallery.training.splits import split_pairs
    from rm_gallery.training.trainers import format_sft_rows, paired_rows, sft_rows, train_grpo, train_sft
    from rm_gallery.training.trl_rewards import PairwiseReward
    from rm_gallery.training.yes_no_judge import pair_sample

    d = JudgeLoopConfig()
    cfg = JudgeLoopConfig(out=out, rewardbench=(str(args.data / "rewardbench" / "rewardbench_llmbar_hep.jsonl"),),
                          rmbench=(str(args.data / "rm-bench"),))
    base = resolve_model(cfg.model)
    split = prepare_split(cfg, base, [create_grader("win_probability", model=None)])
    dev_split = split_pairs(split.train, held_out_fraction=0.25, seed=1)
    grader = create_grader(cfg.grpo_grader, model=None)
    rows = grpo_rows([pair_sample(q) for q in dev_split.train], grader)
    dev = random.Random(0).sample(dev_split.held_out, min(len(dev_split.held_out), args.dev_prompts // 2))
    dev_rows = grpo_rows([pair_sample(q) for q in dev], grader)
    print(f"dev-train {len(dev_split.train)} pairs, {len(dev_rows)} dev prompts probed (held-out unused)", flush=True)
    figures: dict[str, Any] = {"model": "SmolLM2-135M-Instruct", "sft_letters": args.sft_letters, "bf16": args.bf16,
                               "sft_steps": args.sft_steps, "top_entropy_quantile": args.top_entropy_quantile,
                               "entropy_coef": args.entropy_coef,
                               "grpo_lr": args.grpo_lr,
                               "dev_prompts": len(dev_rows), "stages": {}}
    figures["stages"]["untrained"] = letter_probe(base, dev_rows)

    batch = 8
    if args.sft_letters == "label":  # a control: how far supervised letters get with the same number of rows
        pick = sorted(random.Random(cfg.seed).sample(range(len(rows)), min(len(rows), args.sft_steps * batch)))
        sft_data = sft_rows([rows[i] for i in pick], grader)
    else:
        sft_data = format_sft_rows(rows, grader, args.sft_letters, steps=args.sft_steps, batch_size=batch,
                                   seed=cfg.seed)
    sft = train_sft(base, sft_data, out / "sft", batch_size=batch, learning_rate=d.sft_learning_rate, seed=cfg.seed,
                    max_steps=args.sft_steps, trainable_layers=d.grpo_trainable_layers, bf16=args.bf16)
    figures["sft_seconds"] = round(sft.seconds, 1)
    figures["stages"]["format_sft"] = letter_probe(sft.output_dir, dev_rows)
    print(f"format SFT ({sft.seconds:.0f}s): {figures['stages']['format_sft']}", flush=True)

    if args.grpo_steps == 0:
        for stage, fig in figures["stages"].items():
            print(f"{stage:>11}: {fig}", flush=True)
        write_json(args.name, figures)
        return
    per_step = d.grpo_batch_size // d.grpo_generations
    t = time.perf_counter()
    grpo = train_grpo(sft.output_dir, paired_rows(rows, args.grpo_steps * per_step, seed=cfg.seed), out / "grpo",
                      [PairwiseReward(grader)], max_steps=args.grpo_steps, num_generations=d.grpo_generations,
                      batch_size=d.grpo_batch_size, learning_rate=args.grpo_lr,
                      temperature=d.grpo_temperature, beta=d.grpo_beta, seed=cfg.seed, shuffle=False,
                      logging_steps=1, max_completion_length=d.grpo_max_completion,
                      warmup_steps=max(1, args.grpo_steps // 10), lr_scheduler_type="linear",
                      trainable_layers=d.grpo_trainable_layers, bf16=args.bf16,
                      top_entropy_quantile=args.top_entropy_quantile, entropy_coef=args.entropy_coef)
    figures["grpo_seconds"] = round(time.perf_counter() - t, 1)
    figures["grpo_steps"] = [{k: round(float(h[k]), 4) for k in ("reward", "frac_reward_zero_std", "entropy")}
                             | {"step": int(h["step"])} for h in grpo.history if "reward" in h]
    figures["stages"]["grpo"] = letter_probe(grpo.output_dir, dev_rows)
    for stage, fig in figures["stages"].items():
        print(f"{stage:>11}: {fig}", flush=True)
    for lo in range(0, len(figures["grpo_steps"]), 10):
        seg = figures["grpo_steps"][lo:lo + 10]
        print(f"GRPO steps {seg[0]['step']}-{seg[-1]['step']}: "
              + ", ".join(f"{k} {statistics.mean(s[k] for s in seg):.3f}"
                          for k in ("reward", "frac_reward_zero_std", "entropy")), flush=True)
    write_json(args.name, figures)


if __name__ == "__main__":
    sys.exit(main())
