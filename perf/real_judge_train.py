"""A real judge trained on real preference data: held-out accuracy before and after each recipe, with CIs.

Runs ``rm_gallery.training.judge_loop`` (what ``rm-gallery train-loop --model smollm2`` runs) on the shared
RewardBench and RM-Bench files: split by problem (RM-Bench chat kept out entirely, for transfer), Pairwise-RL
(yes/no CE + position consistency, the top layers of SmolLM2-135M-Instruct) and GRPO with TRL (the pairwise
grader's parser as the reward), held-out accuracy in both orders with seeded bootstrap 95% CIs, then each
checkpoint served by vLLM, registered and graded through ``rm-gallery bench pairs``.

Targets (real-judge issue, item 5): for each recipe, a held-out gain whose CI lower bound is above the untrained
model's CI upper bound, and training within 30 minutes on 2 cores. Prints the figures and writes
``perf/results/real_judge_train.json`` (plus the run's report.md and judge_loop.png under --out).

Usage: python perf/real_judge_train.py [--recipes pairwise_rl,grpo] [--out DIR] [--no-serve] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json

from rm_gallery.training.judge_loop import JudgeLoopConfig, run_judge_loop

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET_SECONDS = 30 * 60


def main() -> None:
    d = JudgeLoopConfig()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="work directory (default: a temporary one)")
    p.add_argument("--data", type=Path, default=SHARED, help="folder with rewardbench/ and rm-bench/")
    p.add_argument("--recipes", default=",".join(d.recipes))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--no-serve", dest="serve", action="store_false")
    p.add_argument("--quick", action="store_true", help="60 pairs a side, a few steps: the machinery, not the gain")
    p.add_argument("--name", default="real_judge_train", help="results file name (perf/results/NAME.json)")
    args = p.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rm_gallery_real_judge_"))
    quick = ({"limit_pairs": 60, "prl_epochs": 0.5, "sft_steps": 4, "grpo_steps": 4, "bootstrap": 200}
             if args.quick else {})
    cfg = JudgeLoopConfig(out=out, rewardbench=(str(args.data / "rewardbench" / "rewardbench_llmbar_hep.jsonl"),),
                          rmbench=(str(args.data / "rm-bench"),), recipes=tuple(args.recipes.split(",")),
                          seed=args.seed, serve=args.serve, **quick)
    started = time.perf_counter()
    result = run_judge_loop(cfg)
    wall = time.perf_counter() - started
    figures: dict = {"model": result.model, "split": result.split, "wall_seconds": round(wall, 1),
                     "seconds": {k: round(v, 1) for k, v in result.seconds.items()}, "served": result.served,
                     "recipes": {}}
    for recipe in cfg.recipes:
        before = result.stages[f"{recipe}/untrained"]["held_out"]
        after = result.stages[f"{recipe}/trained"]["held_out"]
        recipe_seconds = result.seconds.get(f"{recipe}/recipe", 0.0)
        figures["recipes"][recipe] = {
            "held_out": {stage.split("/", 1)[1]: v["held_out"] for stage, v in result.stages.items()
                         if stage.startswith(recipe + "/")},
            "transfer": {stage.split("/", 1)[1]: v["transfer"] for stage, v in result.stages.items()
                         if stage.startswith(recipe + "/")},
            "gain_points": round(100 * (after["accuracy"] - before["accuracy"]), 1),
            "gain_ci_separated": after["ci"]["accuracy"][0] > before["ci"]["accuracy"][1],
            "training_seconds": round(recipe_seconds, 1),
            "within_30_minutes": recipe_seconds <= TARGET_SECONDS,
        }
        print(f"{recipe}: held-out {100 * before['accuracy']:.1f} {before['ci']['accuracy']} -> "
              f"{100 * after['accuracy']:.1f} {after['ci']['accuracy']} "
              f"(gain {figures['recipes'][recipe]['gain_points']:+.1f} points, CIs separated: "
              f"{figures['recipes'][recipe]['gain_ci_separated']}); training {recipe_seconds:.0f}s")
    path = write_json(args.name, figures)
    report = out / "report.md"
    if report.exists():
        shutil.copy(report, path.with_suffix(".md"))
        if (out / "judge_loop.png").exists():
            shutil.copy(out / "judge_loop.png", path.with_suffix(".png"))
    print(report.read_text() if report.exists() else "")
    print(f"figures: {path}; run: {out}")


if __name__ == "__main__":
    main()
