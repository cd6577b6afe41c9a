"""Run inside the verl venv (see test_verl.py): load our verl config and reward functions with verl's own loaders.

Prints one JSON line with what verl returned, for the test to assert on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from transformers import AutoTokenizer
from verl import DataProto
from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
from verl.workers.reward_manager.batch import BatchRewardManager

config_dir, tokenizer_dir = Path(sys.argv[1]).resolve(), sys.argv[2]
with initialize_config_dir(config_dir=str(config_dir), version_base=None):
    cfg = compose(config_name="grpo_judge")

out: dict = {"adv_estimator": cfg.algorithm.adv_estimator, "shuffle": cfg.data.shuffle,
             "manager": resolve_reward_manager_cls(cfg).__name__}

# 1. The per-sample reward exactly as verl loads it (reward_kwargs merged by verl).
fn = get_custom_reward_fn(cfg)
out["per_sample"] = [fn(data_source="d", solution_str=s, ground_truth=g, extra_info={"preference_strength": 2})
                     for s, g in (("<preference>A</preference>", "A"), ("nothing", "B"))]
# Seed 000's rows: the label in extra_info["metadata"], as a JSON string from parquet.
out["seed"] = fn(data_source="d", solution_str="<preference>B</preference>", ground_truth=None,
                 extra_info={"metadata": json.dumps({"preferred": "B", "preference_strength": 1})})

# 2. The batch variant and PAR through verl's legacy batch reward manager (it decodes token ids itself).
tok = AutoTokenizer.from_pretrained(tokenizer_dir)
rubric = "<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval><answer>{}</answer>"


def batch_run(name: str, path: str, texts: list[str], truths: list, infos: list[dict]) -> list:
    cfg.reward.custom_reward_function.path = path
    cfg.reward.custom_reward_function.name = name
    cfg.reward.custom_reward_function.reward_kwargs = {"grader": "rubric"} if "par" in name else {}
    manager = BatchRewardManager(tokenizer=tok, num_examine=0, compute_score=get_custom_reward_fn(cfg))
    prompt = tok("judge this", return_tensors="pt", add_special_tokens=False)["input_ids"][0]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(i) for i in ids)
    responses = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i in ids])
    prompts = prompt.repeat(len(texts), 1)
    mask = torch.cat([torch.ones_like(prompts), torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])], 1)
    data = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask},
        non_tensors={"data_source": ["d"] * len(texts),
                     "reward_model": [{"ground_truth": g} for g in truths], "extra_info": infos})
    result = manager(data, return_dict=True)
    return [float(x) for x in result["reward_tensor"].sum(-1)], {k: list(map(str, v)) for k, v in
                                                                result["reward_extra_info"].items()}


out["batch"] = batch_run("compute_score_batch", "pkg://rm_gallery.training.verl_rewards",
                         ["<preference>A</preference>"] * 3, ["A", "B", None], [{}, {}, {}])
out["par"] = batch_run("par_compute_score_batch", "pkg://rm_gallery.training.par",
                       [rubric.format(8), rubric.format(4), rubric.format(5), "<answer>9</answer>"], [None] * 4,
                       [{"pair_id": "p", "role": r} for r in ("chosen", "chosen", "rejected", "rejected")])
print(json.dumps(out))
