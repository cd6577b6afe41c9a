"""Choose Pairwise-RL's settings on a dev split carved from the *train* pairs (the held-out pairs are never read).

Builds the real-judge loop's split (the same files, seed and length filter as ``perf/real_judge_train.py``),
splits its train side again by problem into dev-train and dev, trains SmolLM2's yes/no judge once per
setting from the same starting weights, and prints dev accuracy (symmetric win probability, read as the served
grader reads it) with a bootstrap 95% CI, plus caching and training seconds, side by side in one run.

``--verdict letter`` trains and reads the ``pairwise`` grader's verdict letter instead (the prompt GRPO trains,
the answer forced to start ``<preference>``, "A" playing "yes"), with the same loss, data and settings: does a
dense loss teach the letter what it teaches the yes/no answer? Read as P(A | A or B), symmetric over both orders.

Usage: python perf/real_judge_dev.py [--settings NAME,...] [--verdict yesno|letter] [--dev-fraction 0.25]
       [--name real_judge_dev]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_json

from rm_gallery.training.judge_loop import JudgeLoopConfig, prepare_split, wider_train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Setting:
    """One Pairwise-RL configuration to compare."""

    layers: int = 6
    epochs: float = 2.0
    learning_rate: float = 3e-4
    group_by_length: bool = False
    bf16: bool = False
    train_cap: int | None = None  # also train on longer pairs (JudgeLoopConfig.prl_max_train_prompt_tokens)
    train_pairs: int | None = None  # train on a seeded sample of this many dev-train pairs (a data budget)


SETTINGS = {
    "published": Setting(),                          # the first published held-out run (2 epochs = 160 steps here)
    "fast": Setting(group_by_length=True, bf16=True),                     # same recipe, speed options on
    "fast_3ep": Setting(epochs=3.0, group_by_length=True, bf16=True),
    "fast_10layers": Setting(layers=10, group_by_length=True, bf16=True),
    "fast_train512": Setting(group_by_length=True, bf16=True, train_cap=512),
    # The data budget of GRPO: 30 minutes of GRPO on 2 cores shows the policy 64-100 pairs.
    "fast_64pairs": Setting(group_by_length=True, bf16=True, train_pairs=64),
    "fast_128pairs": Setting(group_by_length=True, bf16=True, train_pairs=128),
    "fast_256pairs": Setting(group_by_length=True, bf16=True, train_pairs=256),
    # Fewer optimizer steps on all of dev-train (639 pairs = 80 steps per epoch), the loop's default otherwise.
    "steps16": Setting(epochs=0.2),
    "steps32": Setting(epochs=0.4),
    "steps64": Setting(epochs=0.8),
}


def main() -> None:
    from rm_gallery.graders.registry import create_grader
    from rm_gallery.local.models import resolve_model
    from rm_gallery.training.heldout import from_probabilities, summarize
    from rm_gallery.training.splits import extend_train, split_pairs
    from rm_gallery.training.yes_no_judge import YesNoModel, train_yes_no

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED)
    p.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated: {', '.join(SETTINGS)}")
    p.add_argument("--verdict", choices=("yesno", "letter"), default="yesno",
                   help="yesno: win_probability's answer (Pairwise-RL); letter: the pairwise grader's A/B letter")
    p.add_argument("--dev-fraction", type=float, default=0.25)
    p.add_argument("--dev-seed", type=int, default=1)
    p.add_argument("--limit", type=int, default=None, help="at most N pairs per dev side (a smoke check)")
    p.add_argument("--name", default="real_judge_dev")
    args = p.parse_args()
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = set(names) - set(SETTINGS)
    if unknown:
        p.error(f"unknown setting(s) {sorted(unknown)}; choose from {', '.join(SETTINGS)}")

    cfg = JudgeLoopConfig(out=Path(tempfile.mkdtemp(prefix="rm_gallery_dev_")),
                          rewardbench=(str(args.data / "rewardbench" / "rewardbench_llmbar_hep.jsonl"),),
                          rmbench=(str(args.data / "rm-bench"),))
    model_dir = resolve_model(cfg.model)
    grader = create_grader("win_probability", model=None)
    split = prepare_split(cfg, model_dir, [grader])
    dev_split = split_pairs(split.train, held_out_fraction=args.dev_fraction, seed=args.dev_seed)
    dev_train, dev = dev_split.train[:args.limit], dev_split.held_out[:args.limit]
    print(f"dev-train {len(dev_train)} pairs, dev {len(dev)} pairs (carved from the {len(split.train)} train pairs; "
          f"held-out and transfer pairs unused)", flush=True)
    longer: dict[int, list] = {}  # train cap -> dev-train plus longer pairs of train-side, non-dev problems
    for cap in {SETTINGS[n].train_cap for n in names} - {None}:
        wide = wider_train(cfg, model_dir, [grader], split, cap)   # excludes held-out and transfer problems
        extra = replace(dev_split, train=list(dev_train))
        extend_train(extra, wide[len(split.train):])                  # and dev problems
        longer[cap] = extra.train
        print(f"train cap {cap}: dev-train {len(extra.train)} pairs", flush=True)
    ids, sources = [q.id for q in dev], [q.source for q in dev]

    rows: dict = {}
    judges: dict[int, tuple] = {}  # layers -> (judge, initial weights, dev cache, {(bf16, cap): train cache})
    for name in names:
        s = SETTINGS[name]
        if s.layers not in judges:
            judge = YesNoModel.load(model_dir, grader, trainable_layers=s.layers)
            if args.verdict == "letter":
                judge = replace(judge, grader=create_grader("pairwise", model=None)).reading(
                    "A", "B", after="<preference>")
            initial = {k: v.detach().clone() for k, v in judge.prefix.model.state_dict().items()}
            judges = {s.layers: (judge, initial, judge.cache(dev), {})}  # one model in memory at a time
        judge, initial, dev_cache, train_caches = judges[s.layers]
        judge.prefix.model.load_state_dict(initial)
        t = time.perf_counter()
        key = (s.bf16, s.train_cap)
        if key not in train_caches:
            pairs = longer[s.train_cap] if s.train_cap else dev_train
            train_caches[key] = (judge.cache(pairs, bf16=s.bf16), time.perf_counter() - t)
        cached, cache_seconds = train_caches[key]
        if s.train_pairs is not None:  # a seeded sample, in split order (caches align with the pair list)
            cached = [cached[i] for i in sorted(random.Random(cfg.seed).sample(range(len(cached)), s.train_pairs))]
        # yes/no: as the served win_probability grader reads it; letter: P(A | A or B) (the GRPO dev probe's read)
        read = judge.served_probabilities if args.verdict == "yesno" else judge.probabilities
        untrained = summarize(from_probabilities(ids, sources, *read(dev_cache)))
        run = train_yes_no(judge, cached, epochs=s.epochs, learning_rate=s.learning_rate, seed=cfg.seed,
                           zeta=cfg.prl_zeta, batch_pairs=cfg.prl_batch_pairs, group_by_length=s.group_by_length,
                           bf16=s.bf16, log_every=1000)
        trained = summarize(from_probabilities(ids, sources, *read(dev_cache)))
        rows[name] = {"setting": s.__dict__, "train_pairs": len(cached),
                      "dev_untrained": round(100 * untrained["accuracy"], 1),
                      "dev_accuracy": round(100 * trained["accuracy"], 1),
                      "dev_ci": [round(100 * x, 1) for x in trained["ci"]["accuracy"]],
                      # each order read alone (the likelier answer: what greedy decoding says), and consistency
                      "dev_per_order": {stage: {k: round(100 * v[k], 1) for k in ("accuracy_ab", "accuracy_ba",
                                                                                   "consistency")}
                                        for stage, v in (("untrained", untrained), ("trained", trained))},
                      "cache_seconds": round(cache_seconds, 1), "train_seconds": round(run.train_seconds, 1),
                      "steps": run.steps}
        print(f"{name:>20}: dev {rows[name]['dev_untrained']:.1f} -> {rows[name]['dev_accuracy']:.1f} "
              f"{rows[name]['dev_ci']}  cache {cache_seconds:.0f}s  train {run.train_seconds:.0f}s "
              f"({run.steps} steps)", flush=True)
    write_json(args.name,
               {"model": "SmolLM2-135M-Instruct", "verdict": args.verdict, "dev_train_pairs": len(dev_train),
                "dev_pairs": len(dev),
                "dev_fraction": args.dev_fraction, "dev_seed": args.dev_seed, "settings": rows})


if __name__ == "__main__":
    sys.exit(main())
