"""The loop's data, SFT-target, batching, register and grade stages (the runner against a stub judge), the CLI
wiring, and a CI-sized run of the whole loop (the full-size loop is perf/train_loop.py, not a test)."""

from __future__ import annotations

import json

import pytest

from rm_gallery.graders.registry import create_grader, list_graders
from rm_gallery.loaders import load_samples
from rm_gallery.testing.stub_server import StubServer
from rm_gallery.training.data import grpo_rows
from rm_gallery.training.judgments import read_judgment
from rm_gallery.training.loop import LoopConfig, grade_held_out, prepare_data, register_served_grader
from rm_gallery.training.synthetic import synthetic_records, synthetic_samples
from rm_gallery.training.trainers import both_letter_rows, format_sft_rows, format_verdicts, paired_rows, sft_rows
from rm_gallery.training.verl_rewards import training_grader


@pytest.fixture(autouse=True)
def forget_registered_graders():
    """Graders registered by a test leave the global registry with it."""
    from rm_gallery.graders import registry

    before = set(registry._REGISTRY)
    yield
    for name in set(registry._REGISTRY) - before:
        registry._REGISTRY.pop(name, None)


def test_synthetic_records_are_balanced_labelled_pairwise_records():
    records = synthetic_records(200, task="refusal", seed=1)
    labels = [r["metadata"]["preferred"] for r in records]
    assert 80 < labels.count("A") < 120 and set(labels) == {"A", "B"}
    for r in records[:20]:
        good = r["output"][0 if r["metadata"]["preferred"] == "A" else 1]["content"]
        assert not good.startswith("Sorry")
    arithmetic = synthetic_records(50, task="arithmetic", seed=1)
    for r in arithmetic:
        a, b = (int(x) for x in r["input"][0]["content"][8:-1].split(" + "))
        good = r["output"][0 if r["metadata"]["preferred"] == "A" else 1]["content"]
        assert good.endswith(f"= {a + b}")
    assert synthetic_records(5, seed=3) == synthetic_records(5, seed=3)


def test_prepare_data_writes_a_disjoint_held_out_split(tmp_path):
    train, held = prepare_data(LoopConfig(out=tmp_path, pairs=60, held_out=0.25))
    train_ids = {s.id for s in load_samples(train)}
    held_ids = {s.id for s in load_samples(held)}
    assert len(held_ids) == 15 and len(train_ids) == 45 and not train_ids & held_ids


@pytest.fixture(scope="module")
def rows():
    return grpo_rows(synthetic_samples(40, task="refusal", seed=2), training_grader("pairwise"))


def test_format_verdicts_carry_no_label_information(rows):
    verdicts = format_verdicts(rows, seed=3)
    assert verdicts.count("A") == verdicts.count("B") == 40
    by_pair: dict[str, list[bool]] = {}
    for row, verdict in zip(rows, verdicts, strict=True):
        by_pair.setdefault(row["sample_id"], []).append(verdict == row["preferred"])
    assert all(sorted(hits) == [False, True] for hits in by_pair.values())   # right in exactly one order
    assert format_verdicts(rows, seed=3) == verdicts != format_verdicts(rows, seed=4)


def test_sft_rows_write_the_given_verdicts_in_the_graders_format(rows):
    grader = training_grader("pairwise")
    verdicts = format_verdicts(rows)
    for verdicts_in, expected in ((verdicts, verdicts), (None, [r["preferred"] for r in rows])):
        sft = sft_rows(rows, grader, verdicts_in)
        assert [read_judgment(grader, s["completion"][0]["content"]).predicted for s in sft] == expected
        assert sft[0]["prompt"] == rows[0]["prompt"]
    with pytest.raises(ValueError, match="verdicts for"):
        sft_rows(rows, grader, verdicts[:-1])


def test_both_letter_rows_answer_every_prompt_once_a_and_once_b(rows):
    grader = training_grader("pairwise")
    sft = both_letter_rows(rows, grader, 30, seed=5)
    assert len(sft) == 30
    letters: dict[str, list[str]] = {}
    for s in sft:
        verdict = read_judgment(grader, s["completion"][0]["content"]).predicted
        letters.setdefault(json.dumps(s["prompt"]), []).append(verdict)
    # every prompt answered A as often as B: the targets carry no label information
    assert all(v.count("A") == v.count("B") for v in letters.values())
    assert [(s["prompt"], s["completion"][0]["content"][-14]) for s in sft[:4]] == [
        (sft[0]["prompt"], "A"), (sft[0]["prompt"], "B"), (sft[2]["prompt"], "A"), (sft[2]["prompt"], "B")]
    assert both_letter_rows(rows, grader, 30, seed=5) == sft != both_letter_rows(rows, grader, 30, seed=6)
    assert len(both_letter_rows(rows, grader, 1000)) == 2 * len(rows)   # at most every prompt, twice
    with pytest.raises(ValueError, match="even"):
        both_letter_rows(rows, grader, 7)
    # the loop's switch between the two format-SFT targets
    assert format_sft_rows(rows, grader, "both", steps=3, batch_size=4, seed=5) == both_letter_rows(rows, grader, 12,
                                                                                                      seed=5)
    assert format_sft_rows(rows, grader, "pair", steps=3, batch_size=4) == sft_rows(rows, grader, format_verdicts(rows))
    with pytest.raises(ValueError, match="letters"):
        format_sft_rows(rows, grader, "label", steps=3, batch_size=4)


def test_paired_rows_keep_both_orders_of_a_pair_in_one_batch(rows):
    ordered = paired_rows(rows, 200, seed=1)
    assert len(ordered) == 200
    for first, second in zip(ordered[::2], ordered[1::2], strict=True):
        assert first["sample_id"] == second["sample_id"] and {first["order"], second["order"]} == {"ab", "ba"}
        assert first["preferred"] != second["preferred"]
    passes = [[r["sample_id"] for r in ordered[i:i + 80]] for i in (0, 80)]
    assert sorted(passes[0]) == sorted(passes[1]) and passes[0] != passes[1]   # every pair once, reshuffled


def test_loop_config_rejects_batches_that_split_pairs():
    with pytest.raises(ValueError, match="even whole number of prompts"):
        LoopConfig(grpo_batch_size=12, grpo_generations=4)
    with pytest.raises(ValueError, match="sft_verdicts"):
        LoopConfig(sft_verdicts="random")


def _answer_correctly(body: dict) -> str:
    user = body["messages"][-1]["content"]
    return "<preference>B</preference>" if "<response_a>\nSorry" in user else "<preference>A</preference>"


async def test_register_and_grade_through_the_runner(tmp_path):
    _, held = prepare_data(LoopConfig(out=tmp_path, pairs=24, held_out=0.5))
    async with StubServer(_answer_correctly, record=True) as stub:
        register_served_grader("trained_judge_test", "stub-judge", stub.base_url)
        assert "trained_judge_test" in {s.name for s in list_graders()}
        graded = await grade_held_out("trained_judge_test", held, tmp_path / "graded.jsonl")
        assert len(stub.requests) == 12
        assert stub.requests[0]["max_tokens"] == 16 and stub.requests[0]["temperature"] == 0.0
    assert graded["accuracy"] == 1.0 and graded["errors"] == 0 and graded["n"] == 12
    lines = (tmp_path / "graded.jsonl").read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])
    assert create_grader("trained_judge_test").name == "trained_judge_test"


def test_cli_installs_train_loop_and_convert(tmp_path, capsys):
    from rm_gallery.cli import CLIError, build_parser, main
    from rm_gallery.training.cli import judge_loop_config, synthetic_loop_config
    from rm_gallery.training.judge_loop import JudgeLoopConfig

    args = build_parser().parse_args(["train-loop", "--out", str(tmp_path), "--no-serve", "--grpo-steps", "3"])
    cfg = synthetic_loop_config(args)
    assert cfg.serve is False and cfg.grpo_steps == 3 and cfg.task == "refusal" and cfg.out == tmp_path
    assert cfg.sft_verdicts == "format" and cfg.grpo_beta == LoopConfig().grpo_beta
    args = build_parser().parse_args(["train-loop", "--sft-verdicts", "label", "--grpo-batch-size", "16",
                                      "--grpo-beta", "0"])
    cfg = synthetic_loop_config(args)
    assert (cfg.sft_verdicts, cfg.grpo_batch_size, cfg.grpo_beta) == ("label", 16, 0.0)
    # with real data the real-judge loop gets the flags, and its own defaults where they are unset
    args = build_parser().parse_args(["train-loop", "--model", "smollm2", "--rewardbench", "rb.jsonl",
                                      "--recipes", "pairwise_rl", "--prl-epochs", "2", "--grpo-beta", "0.05",
                                      "--grpo-eval", "in_process"])
    real = judge_loop_config(args)
    assert (real.model, real.rewardbench, real.recipes, real.prl_epochs) == ("smollm2", ("rb.jsonl",),
                                                                            ("pairwise_rl",), 2.0)
    assert real.grpo_beta == 0.05 and real.grpo_steps == JudgeLoopConfig().grpo_steps
    assert real.grpo_eval == "in_process"
    assert (real.prl_bf16, real.prl_group_by_length) == (JudgeLoopConfig().prl_bf16,
                                                         JudgeLoopConfig().prl_group_by_length)
    for flag, want in (("--prl-bf16", True), ("--no-prl-bf16", False)):
        args = build_parser().parse_args(["train-loop", "--rewardbench", "rb.jsonl", flag,
                                          "--" + ("" if want else "no-") + "prl-group-by-length"])
        assert (judge_loop_config(args).prl_bf16, judge_loop_config(args).prl_group_by_length) == (want, want)
    args = build_parser().parse_args(["train-loop", "--rewardbench", "rb.jsonl",
                                      "--prl-max-train-prompt-tokens", "640"])
    assert judge_loop_config(args).prl_max_train_prompt_tokens == 640
    args = build_parser().parse_args(["train-loop", "--rewardbench", "rb.jsonl", "--grpo-sft-letters", "both",
                                      "--grpo-bf16"])
    assert (judge_loop_config(args).grpo_sft_letters, judge_loop_config(args).grpo_bf16) == ("both", True)
    assert (real.grpo_sft_letters, real.grpo_bf16) == (JudgeLoopConfig().grpo_sft_letters,
                                                       JudgeLoopConfig().grpo_bf16)
    with pytest.raises(ValueError, match="grpo_sft_letters"):
        JudgeLoopConfig(grpo_sft_letters="label")
    assert real.transfer == JudgeLoopConfig().transfer
    with pytest.raises(CLIError, match="--rewardbench"):
        judge_loop_config(build_parser().parse_args(["train-loop", "--model", "smollm2"]))
    rows = tmp_path / "scored.jsonl"
    rows.write_text("\n".join(json.dumps(r) for r in [
        {"prompt": "p", "response": "good", "helpfulness": 4}, {"prompt": "p", "response": "bad", "helpfulness": 1},
        {"prompt": "p", "response": "ok", "helpfulness": 3}]))
    assert main(["convert-scored", str(rows), "--out", str(tmp_path / "pairs.parquet")]) == 0
    assert "1 pairs" in capsys.readouterr().out                  # the seed's first two responses
    assert load_samples(tmp_path / "pairs.parquet")[0].label.preferred == "A"
    assert main(["convert-scored", str(rows), "--out", str(tmp_path / "all.parquet"), "--pairing", "all"]) == 0
    assert "3 pairs" in capsys.readouterr().out


@pytest.mark.slow
def test_the_whole_loop_runs_at_ci_size(tiny_model_dir, tmp_path):
    """Data -> SFT (format only) -> GRPO -> evaluations -> checkpoint, with a handful of steps."""
    pytest.importorskip("trl")
    from rm_gallery.training.loop import run_loop

    cfg = LoopConfig(out=tmp_path, model=tiny_model_dir, pairs=12, held_out=0.25, sft_max_steps=4,
                     sft_batch_size=4, grpo_steps=2, grpo_batch_size=8, grpo_generations=4, serve=False)
    result = run_loop(cfg)
    assert set(result.accuracy) == {"untrained", "sft", "grpo"}
    assert all(r["n"] == 6 for r in result.reports.values())
    assert result.sft_label_agreement == 0.5
    assert [step for step, _ in result.grpo_reward_curve] == [2]
    assert (tmp_path / "checkpoint" / "model.safetensors").is_file() and result.served is None
    saved = json.loads((tmp_path / "loop_result.json").read_text())
    assert saved["accuracy"] == result.accuracy and saved["config"]["sft_verdicts"] == "format"
    assert (tmp_path / "loop.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.integration
def test_serve_register_and_grade_with_real_vllm(tiny_model_dir, vllm_python, tmp_path):
    """The loop's last stage on the real harness: checkpoint -> vLLM -> registered grader -> GradingRunner."""
    from rm_gallery.training.loop import serve_and_grade

    _, held = prepare_data(LoopConfig(out=tmp_path, pairs=12, held_out=0.5))
    graded = serve_and_grade(tiny_model_dir, held, "served_tiny_judge", python=str(vllm_python), work_dir=tmp_path)
    assert graded["n"] == 6 and 0.0 <= graded["accuracy"] <= 1.0
    assert graded["startup_seconds"] > 0
    lines = (tmp_path / "held_out.served_tiny_judge.jsonl").read_text().splitlines()
    assert len(lines) == 6                         # every held-out pair graded (a random model: parse errors)
    assert "served_tiny_judge" in {s.name for s in list_graders()}
