"""The real-judge loop's machinery on real shared data (tiny model, a few pairs): checks the stages, not the gain."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REWARDBENCH, SHARED_DATA, skip_or_fail


@pytest.mark.slow
def test_judge_loop_runs_every_stage_at_ci_size(tiny_model_dir, tmp_path):
    pytest.importorskip("trl")
    from rm_gallery.training.judge_loop import JudgeLoopConfig, run_judge_loop

    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found under {SHARED_DATA}")
    cfg = JudgeLoopConfig(out=tmp_path / "loop", model=str(tiny_model_dir), rewardbench=(str(REWARDBENCH),),
                          rmbench=(str(SHARED_DATA / "rm-bench"),), max_prompt_tokens=100_000, limit_pairs=4,
                          bootstrap=50, prl_trainable_layers=1, prl_epochs=1, prl_batch_pairs=2,
                          grpo_trainable_layers=1, sft_steps=2, grpo_steps=2, grpo_batch_size=8,
                          grpo_generations=2, grpo_max_completion=8, serve=False, grpo_eval="in_process")
    result = run_judge_loop(cfg)
    assert set(result.stages) == {"pairwise_rl/untrained", "pairwise_rl/trained", "grpo/untrained",
                                  "grpo/format_sft", "grpo/trained"}
    for stage in result.stages.values():
        assert stage["held_out"]["n"] == 4 and stage["transfer"]["n"] == 4
        assert {"accuracy", "accuracy_ab", "accuracy_ba", "consistency", "ci"} <= set(stage["held_out"])
    assert result.split["counts"]["transfer"] == {"rmbench-chat": 4}
    held = [json.loads(line) for line in (cfg.out / "data" / "held_out.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (cfg.out / "data" / "train.jsonl").read_text().splitlines()]
    assert not {r["group"] for r in held} & {r["group"] for r in train}
    assert len(result.curves["pairwise_rl/loss"]) == 2 and result.curves["grpo/reward"]
    assert result.split["pairwise_rl_train_seen"] == result.split["pairwise_rl_train"] == 4   # 1 epoch sees all
    for recipe in ("pairwise_rl", "grpo"):                  # paired gain: the same 4 pairs before and after
        g = result.gains[recipe]["held_out"]
        assert g["n"] == 4 and -1 <= g["gain"] <= 1 and 0 <= g["mcnemar_p"] <= 1
    report = (cfg.out / "report.md").read_text()
    assert "Pairwise-RL" in report and "GRPO" in report and "held-out" in report
    assert report.count("Paired gain on the same held-out pairs") == 2
    assert "Trained on 4 of 4 train pairs" in report
    for recipe in ("pairwise_rl", "grpo"):
        assert (tmp_path / "loop" / recipe / "checkpoint" / "config.json").exists()
    saved = json.loads((cfg.out / "judge_loop.json").read_text())
    assert saved["stages"].keys() == result.stages.keys()


def test_grpo_stage_evaluation_mode_is_checked():
    from rm_gallery.training.judge_loop import JudgeLoopConfig

    assert JudgeLoopConfig().grpo_eval == "served"
    with pytest.raises(ValueError, match="grpo_eval must be one of served, in_process"):
        JudgeLoopConfig(grpo_eval="vllm")


def test_verdict_answers_are_read_per_order_by_the_graders_parser():
    """Answers come back in [pair0 (0,1), pair0 (1,0), ...] order; a B in the swapped order names the chosen."""
    from rm_gallery.graders import create_grader
    from rm_gallery.training.judge_loop import _judgments_from_texts, _verdict_prompts
    from rm_gallery.training.splits import PreferencePair

    pairs = [PreferencePair(f"p{i}", f"question {i}", f"good {i}", f"bad {i}", "src", f"g{i}") for i in range(2)]
    grader = create_grader("pairwise", model=None)
    prompts = _verdict_prompts(pairs, grader)
    assert len(prompts) == 4
    assert prompts[0][-1]["content"].index("good 0") < prompts[0][-1]["content"].index("bad 0")
    assert prompts[1][-1]["content"].index("bad 0") < prompts[1][-1]["content"].index("good 0")
    texts = ["<preference>A</preference>", "<preference>B</preference>",       # right in both orders
             "<preference>B</preference> then <preference>maybe</preference>", "<preference>tie</preference>"]
    first, second = _judgments_from_texts(pairs, grader, texts)
    assert dict(first.orders) == {"ab": "A", "ba": "A"}
    assert dict(second.orders) == {"ab": None, "ba": "tie"}       # the final verdict is unreadable: no verdict


def test_a_longer_training_cap_adds_train_pairs_and_leaves_held_out_and_transfer_alone(tiny_model_dir, tmp_path):
    from rm_gallery.graders import create_grader
    from rm_gallery.training.judge_loop import JudgeLoopConfig, prepare_split, wider_train

    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found under {SHARED_DATA}")
    graders = [create_grader("win_probability", model=None)]
    cfg = JudgeLoopConfig(out=tmp_path, rewardbench=(str(REWARDBENCH),), rmbench=(str(SHARED_DATA / "rm-bench"),),
                          max_prompt_tokens=600)
    split = prepare_split(cfg, tiny_model_dir, graders)
    held, transfer, train = list(split.held_out), list(split.transfer), list(split.train)
    assert wider_train(cfg, tiny_model_dir, graders, split, None) == train          # off by default
    wide = wider_train(cfg, tiny_model_dir, graders, split, 900)
    assert (split.held_out, split.transfer, split.train) == (held, transfer, train)  # the split is not modified
    assert wide[:len(train)] == train and len(wide) > len(train)
    assert not {p.group for p in wide} & {p.group for p in held + transfer}
