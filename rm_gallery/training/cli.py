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
    from rm_gallery.training.judge_loop import GRPO_EVAL, RECIPES, SFT_LETTERS, JudgeLoopConfig
    from rm_gallery.training.loop import SFT_VERDICTS, LoopConfig

    d, j = LoopConfig(), JudgeLoopConfig()
    p = sub.add_parser(
        "train-loop", help="train a judge on CPU, prove a held-out gain, serve it with vLLM, register it, grade it",
        description="With --model smollm2 (or any local model) and real labelled pairs (--rewardbench, --rmbench): "
                    "split by problem -> Pairwise-RL yes/no judge and GRPO with the pairwise grader's reward -> "
                    "held-out and transfer accuracy before/after with CIs -> vLLM -> registered grader -> "
                    "`bench pairs`; figures in OUT/judge_loop.json and OUT/report.md. Without data: the synthetic "
                    "task on the tiny model (SFT -> GRPO), figures in OUT/loop_result.json.")
    p.add_argument("--out", type=Path, default=None, help=f"work directory (default {j.out}, or {d.out} for the "
                                                         "synthetic loop)")
    p.add_argument("--model", default=None, help="base model: smollm2 (the built-in real judge), tiny, or a local "
                                                 "folder (default: tiny for the synthetic loop, smollm2 with data)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-serve", dest="serve", action="store_false",
                   help="stop after the checkpoints (skip vLLM, registration and grading through it)")
    p.add_argument("--vllm-python", default=None, help="python of the vLLM venv (default: the harness's own)")
    p.add_argument("--weighted", action="store_true", help="strength-weighted pairwise reward (1.0/0.7/0.3)")
    r = p.add_argument_group("real preference data (the real-judge loop)")
    r.add_argument("--rewardbench", action="append", default=[], help="RewardBench v1 file (repeatable)")
    r.add_argument("--rmbench", action="append", default=[], help="RM-Bench folder or *_filtered.json (repeatable)")
    r.add_argument("--transfer", action="append", default=None,
                   help=f"source kept out of training entirely, for transfer (default {', '.join(j.transfer)})")
    r.add_argument("--held-out-fraction", type=float, default=j.held_out, help="held-out share of problems")
    r.add_argument("--max-prompt-tokens", type=int, default=j.max_prompt_tokens)
    r.add_argument("--recipes", default=",".join(j.recipes), help=f"comma-separated: {', '.join(RECIPES)}")
    r.add_argument("--limit-pairs", type=int, default=None, help="at most N pairs per split side (quick check)")
    r.add_argument("--bootstrap", type=int, default=j.bootstrap)
    for name in ("prl_trainable_layers", "prl_epochs", "prl_batch_pairs", "prl_learning_rate", "prl_zeta",
                 "grpo_trainable_layers", "sft_steps", "grpo_max_completion"):
        default = getattr(j, name)
        r.add_argument("--" + name.replace("_", "-"), type=type(default), default=default, help=f"default {default}")
    r.add_argument("--prl-max-train-prompt-tokens", type=int, default=j.prl_max_train_prompt_tokens,
                   help="Pairwise-RL also trains on longer pairs of train-side problems, up to this many prompt "
                        f"tokens (held-out unchanged; default {j.prl_max_train_prompt_tokens})")
    r.add_argument("--prl-group-by-length", action=argparse.BooleanOptionalAction, default=j.prl_group_by_length,
                   help="Pairwise-RL batches of similar-length pairs (less padding)")
    r.add_argument("--prl-bf16", action=argparse.BooleanOptionalAction, default=j.prl_bf16,
                   help="Pairwise-RL training pass under bfloat16 autocast (evaluation stays float32)")
    r.add_argument("--grpo-sft-letters", default=j.grpo_sft_letters, choices=SFT_LETTERS,
                   help="format-SFT verdicts before GRPO: 'pair' = one letter per pair, half A; 'both' = every "
                        "prompt answered once A and once B (pulls each prompt's letter to 50/50 for GRPO)")
    r.add_argument("--grpo-bf16", action=argparse.BooleanOptionalAction, default=j.grpo_bf16,
                   help="format SFT and GRPO under TRL's bf16 mode on CPU (autocast on the training pass)")
    r.add_argument("--grpo-eval", default=j.grpo_eval, choices=GRPO_EVAL,
                   help="GRPO stage evaluation: 'served' (vLLM, fast) or 'in_process' (transformers generate)")
    s = p.add_argument_group("synthetic task (the tiny-model loop)")
    s.add_argument("--task", default=d.task, choices=("refusal", "keyword", "arithmetic"))
    s.add_argument("--pairs", type=int, default=d.pairs, help="synthetic pairs (train + held-out)")
    s.add_argument("--held-out", type=float, default=d.held_out, help="held-out fraction")
    s.add_argument("--sft-verdicts", default=d.sft_verdicts, choices=SFT_VERDICTS,
                   help="what SFT writes in the verdict: 'format' = letters independent of the labels (SFT teaches "
                        "only the format; GRPO learns the decision), 'label' = the labelled winner")
    s.add_argument("--sft-max-steps", type=int, default=d.sft_max_steps)
    s.add_argument("--sft-learning-rate", type=float, default=None, help=f"default {d.sft_learning_rate} "
                                                                          f"(real loop {j.sft_learning_rate})")
    s.add_argument("--grader-name", default=d.grader_name, help="name to register the trained judge under")
    g = p.add_argument_group("GRPO (both loops; defaults differ)")
    g.add_argument("--grpo-steps", type=int, default=None, help=f"default {d.grpo_steps} (real loop {j.grpo_steps})")
    g.add_argument("--grpo-batch-size", type=int, default=None,
                   help="completions per GRPO step (divided by --grpo-generations: an even number of prompts)")
    g.add_argument("--grpo-generations", type=int, default=None)
    g.add_argument("--grpo-learning-rate", type=float, default=None,
                   help="peak GRPO learning rate (linear warmup, then linear decay to 0)")
    g.add_argument("--grpo-beta", type=float, default=None, help="KL weight to the starting judge")
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


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def cmd_train_loop(args: argparse.Namespace) -> int:
    """The real-judge loop when data or a real model is given, else the synthetic tiny-model loop."""
    if args.rewardbench or args.rmbench or (args.model not in (None, "tiny")):
        return _real_loop(args)
    from rm_gallery.training.loop import run_loop

    result = run_loop(synthetic_loop_config(args))
    acc = result.accuracy
    print(json.dumps({"accuracy": acc,
                      "gain_points": {"grpo_over_untrained": round(100 * (acc["grpo"] - acc["untrained"]), 1),
                                      "grpo_over_sft": round(100 * (acc["grpo"] - acc["sft"]), 1)},
                      "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
                      "checkpoint": result.checkpoint, "served": result.served}, indent=2))
    return 0


def synthetic_loop_config(args: argparse.Namespace) -> Any:
    """The synthetic tiny-model loop's config from ``train-loop`` flags (unset GRPO flags take its defaults)."""
    from rm_gallery.training.loop import LoopConfig

    d = LoopConfig()
    return LoopConfig(out=args.out or d.out, model=None if args.model in (None, "tiny") else Path(args.model),
                     task=args.task, pairs=args.pairs, held_out=args.held_out, seed=args.seed,
                     sft_verdicts=args.sft_verdicts, sft_max_steps=args.sft_max_steps,
                     sft_learning_rate=_pick(args.sft_learning_rate, d.sft_learning_rate),
                     grpo_steps=_pick(args.grpo_steps, d.grpo_steps),
                     grpo_batch_size=_pick(args.grpo_batch_size, d.grpo_batch_size),
                     grpo_generations=_pick(args.grpo_generations, d.grpo_generations),
                     grpo_learning_rate=_pick(args.grpo_learning_rate, d.grpo_learning_rate),
                     grpo_beta=_pick(args.grpo_beta, d.grpo_beta), weighted=args.weighted, serve=args.serve,
                     grader_name=args.grader_name, vllm_python=args.vllm_python)


def _real_loop(args: argparse.Namespace) -> int:
    from rm_gallery.training.judge_loop import run_judge_loop

    cfg = judge_loop_config(args)
    result = run_judge_loop(cfg)
    held = {stage: round(100 * v["held_out"]["accuracy"], 1) for stage, v in result.stages.items()}
    print(json.dumps({"held_out_accuracy": held, "served": result.served,
                      "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
                      "report": str(cfg.out / "report.md")}, indent=2))
    return 0


def judge_loop_config(args: argparse.Namespace) -> Any:
    """The real-judge loop's config from ``train-loop`` flags (unset GRPO flags take its defaults)."""
    from rm_gallery.cli import CLIError
    from rm_gallery.training.judge_loop import JudgeLoopConfig

    j = JudgeLoopConfig()
    if not (args.rewardbench or args.rmbench):
        raise CLIError("the real-judge loop trains on labelled pairs: pass --rewardbench FILE and/or --rmbench DIR")
    knobs = {name: getattr(args, name) for name in ("prl_trainable_layers", "prl_epochs", "prl_batch_pairs",
                                                    "prl_learning_rate", "prl_zeta", "grpo_trainable_layers",
                                                    "sft_steps", "grpo_max_completion", "grpo_eval",
                                                    "prl_group_by_length", "prl_bf16", "grpo_sft_letters",
                                                    "grpo_bf16",
                                                    "prl_max_train_prompt_tokens")}
    return JudgeLoopConfig(
        out=args.out or j.out, model=args.model or j.model, rewardbench=tuple(args.rewardbench),
        rmbench=tuple(args.rmbench), transfer=tuple(args.transfer) if args.transfer is not None else j.transfer,
        held_out=args.held_out_fraction, max_prompt_tokens=args.max_prompt_tokens, seed=args.seed,
        recipes=tuple(x.strip() for x in args.recipes.split(",") if x.strip()), limit_pairs=args.limit_pairs,
        bootstrap=args.bootstrap, sft_learning_rate=_pick(args.sft_learning_rate, j.sft_learning_rate),
        grpo_steps=_pick(args.grpo_steps, j.grpo_steps), grpo_batch_size=_pick(args.grpo_batch_size,
                                                                                j.grpo_batch_size),
        grpo_generations=_pick(args.grpo_generations, j.grpo_generations),
        grpo_learning_rate=_pick(args.grpo_learning_rate, j.grpo_learning_rate),
        grpo_beta=_pick(args.grpo_beta, j.grpo_beta), weighted=args.weighted, serve=args.serve,
        vllm_python=args.vllm_python, **knobs)


def cmd_convert_scored(args: argparse.Namespace) -> int:
    from rm_gallery.loaders import iter_records
    from rm_gallery.training.data import scored_to_pairwise, write_parquet

    records = scored_to_pairwise((r for _, r in iter_records(args.data)), prompt_key=args.prompt_key,
                                 response_key=args.response_key, score_key=args.score_key,
                                 threshold=args.threshold, pairing=args.pairing)
    path = write_parquet(records, args.out)
    print(f"{len(records)} pairs -> {path}")
    return 0
