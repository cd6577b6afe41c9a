"""``rm-gallery train-loop`` (the whole CPU loop) and ``rm-gallery convert-scored`` (HelpSteer2 -> pairwise).

Installed by :mod:`rm_gallery.cli` through ``install(subparsers)``; heavy imports stay inside the commands.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def install(sub: Any) -> None:
    """Add the training subcommands to the ``rm-gallery`` parser."""
    from rm_gallery.training.loop import SFT_VERDICTS, LoopConfig

    d = LoopConfig()
    p = sub.add_parser("train-loop", help="train a tiny judge on CPU (SFT + GRPO), serve it with vLLM, register it, "
                                          "grade the held-out set",
                       description="Synthetic preference task -> SFT -> GRPO -> held-out accuracy -> checkpoint -> "
                                   "vLLM -> registered grader -> GradingRunner. Figures go to OUT/loop_result.json.")
    p.add_argument("--out", type=Path, default=d.out, help=f"work directory (default {d.out})")
    p.add_argument("--model", type=Path, default=None, help="local base model (default: build the tiny random model)")
    p.add_argument("--task", default=d.task, choices=("refusal", "keyword", "arithmetic"))
    p.add_argument("--pairs", type=int, default=d.pairs, help="synthetic pairs (train + held-out)")
    p.add_argument("--held-out", type=float, default=d.held_out, help="held-out fraction")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sft-verdicts", default=d.sft_verdicts, choices=SFT_VERDICTS,
                   help="what SFT writes in the verdict: 'format' = letters independent of the labels (SFT teaches "
                        "only the format; GRPO learns the decision), 'label' = the labelled winner")
    p.add_argument("--sft-max-steps", type=int, default=d.sft_max_steps)
    p.add_argument("--sft-learning-rate", type=float, default=d.sft_learning_rate)
    p.add_argument("--grpo-steps", type=int, default=d.grpo_steps)
    p.add_argument("--grpo-batch-size", type=int, default=d.grpo_batch_size,
                   help="completions per GRPO step (divided by --grpo-generations: an even number of prompts)")
    p.add_argument("--grpo-generations", type=int, default=d.grpo_generations)
    p.add_argument("--grpo-learning-rate", type=float, default=d.grpo_learning_rate,
                   help="peak GRPO learning rate (linear warmup, then linear decay to 0)")
    p.add_argument("--grpo-beta", type=float, default=d.grpo_beta, help="KL weight to the SFT judge")
    p.add_argument("--weighted", action="store_true", help="strength-weighted pairwise reward (1.0/0.7/0.3)")
    p.add_argument("--no-serve", dest="serve", action="store_false",
                   help="stop after the checkpoint (skip vLLM, registration and runner grading)")
    p.add_argument("--grader-name", default=d.grader_name, help="name to register the trained judge under")
    p.add_argument("--vllm-python", default=None, help="python of the vLLM venv (default: the harness's own)")
    p.set_defaults(func=cmd_train_loop)

    c = sub.add_parser("convert-scored", help="per-response scores (HelpSteer2 style) -> pairwise parquet")
    c.add_argument("data", help="input .json/.jsonl/.parquet with one scored response per row")
    c.add_argument("--out", required=True, type=Path, help="output .parquet")
    c.add_argument("--prompt-key", default="prompt")
    c.add_argument("--response-key", default="response")
    c.add_argument("--score-key", default="helpfulness")
    c.add_argument("--threshold", type=float, default=1.0, help="|score diff| below this is strength 1, else 2")
    c.add_argument("--pairing", choices=("first_two", "all"), default="first_two",
                   help="first_two: the first two responses of each prompt, as RM-Gallery's HelpSteer2 recipe "
                        "(default); all: every two responses of a prompt")
    c.set_defaults(func=cmd_convert_scored)


def cmd_train_loop(args: argparse.Namespace) -> int:
    from rm_gallery.training.loop import LoopConfig, run_loop

    cfg = LoopConfig(out=args.out, model=args.model, task=args.task, pairs=args.pairs, held_out=args.held_out,
                     seed=args.seed, sft_verdicts=args.sft_verdicts, sft_max_steps=args.sft_max_steps,
                     sft_learning_rate=args.sft_learning_rate, grpo_steps=args.grpo_steps,
                     grpo_batch_size=args.grpo_batch_size, grpo_generations=args.grpo_generations,
                     grpo_learning_rate=args.grpo_learning_rate, grpo_beta=args.grpo_beta, weighted=args.weighted,
                     serve=args.serve, grader_name=args.grader_name, vllm_python=args.vllm_python)
    result = run_loop(cfg)
    acc = result.accuracy
    print(json.dumps({"accuracy": acc,
                      "gain_points": {"grpo_over_untrained": round(100 * (acc["grpo"] - acc["untrained"]), 1),
                                      "grpo_over_sft": round(100 * (acc["grpo"] - acc["sft"]), 1)},
                      "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
                      "checkpoint": result.checkpoint, "served": result.served}, indent=2))
    return 0


def cmd_convert_scored(args: argparse.Namespace) -> int:
    from rm_gallery.loaders import iter_records
    from rm_gallery.training.data import scored_to_pairwise, write_parquet

    records = scored_to_pairwise((r for _, r in iter_records(args.data)), prompt_key=args.prompt_key,
                                 response_key=args.response_key, score_key=args.score_key,
                                 threshold=args.threshold, pairing=args.pairing)
    path = write_parquet(records, args.out)
    print(f"{len(records)} pairs -> {path}")
    return 0
