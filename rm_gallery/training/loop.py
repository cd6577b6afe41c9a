"""The train -> serve -> register loop on CPU: a tiny judge learns a synthetic preference task end to end.

Stages (each a function, all driven by :func:`run_loop`):
1. data — synthetic labelled pairs (RM-Gallery parquet), split into train and held-out;
2. SFT — teach the grader's verdict format (``<preference>X</preference>``) only: the SFT letters are
   independent of the labels (:func:`~rm_gallery.training.trainers.format_verdicts`), so the SFT judge
   answers in format but at chance, and the decision is left to GRPO;
3. GRPO — TRL with the pairwise reward adapter (the grader's parser reads each completion), both orders
   of every pair in the same batch;
4. evaluate — held-out accuracy of the untrained, SFT and GRPO models (greedy, both presentation orders);
5. serve + register + grade — the checkpoint behind vLLM (:class:`rm_gallery.local.vllm_server.VLLMServer`),
   registered as a named pairwise grader, grading the held-out file through the GradingRunner.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rm_gallery.training.data import check_paired_batch, grpo_rows, split, write_parquet
from rm_gallery.training.synthetic import synthetic_records
from rm_gallery.types import Sample

#: What the SFT stage writes after ``<preference>``: label-independent letters, or the labels themselves.
SFT_VERDICTS = ("format", "label")


@dataclass
class LoopConfig:
    """Every knob of the loop; the CLI flags carry the same names.

    Defaults measured on the tiny model (hidden 64) and the ``refusal`` task, 2 CPU cores: 100 SFT steps on
    label-independent letters give ~100% parseable answers and 50% held-out accuracy; GRPO then learns the
    decision from the reward alone, typically between steps 100 and 175, and is at 100% by step 300
    (0.6-0.8 s per step on 2 quiet cores). What makes GRPO learn reliably: both orders of each pair in every
    batch (``paired_rows``), a KL anchor to the SFT judge (``grpo_beta``) that keeps it from drifting into
    answering one letter for everything (then every group has equal rewards and learning stops), and a
    large learning rate decaying linearly to zero. ``sft_verdicts="label"`` trains SFT on the labels
    instead (SFT alone then reaches 100%, and GRPO has nothing left to learn).
    """

    out: Path = Path("runs/train_loop")
    model: Path | None = None  # a local base model; default: build the tiny random model
    task: str = "refusal"
    pairs: int = 480
    held_out: float = 1 / 6
    seed: int = 0
    sft_verdicts: str = "format"  # "format": label-independent letters; "label": the labelled winner
    sft_epochs: float = 1.0
    sft_batch_size: int = 8
    sft_learning_rate: float = 3e-3
    sft_max_steps: int = 100
    grpo_steps: int = 300
    grpo_batch_size: int = 32  # completions per step: grpo_batch_size / grpo_generations prompts (even)
    grpo_generations: int = 4
    grpo_learning_rate: float = 2e-3
    grpo_warmup_steps: int = 10
    grpo_beta: float = 0.1
    grpo_temperature: float = 1.0
    weighted: bool = False
    serve: bool = True
    grader_name: str = "trained_judge"
    vllm_python: str | None = None

    def __post_init__(self) -> None:
        if self.sft_verdicts not in SFT_VERDICTS:
            raise ValueError(f"sft_verdicts must be one of {', '.join(SFT_VERDICTS)}, got {self.sft_verdicts!r}")
        check_paired_batch(self.grpo_batch_size, self.grpo_generations)

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


@dataclass
class LoopResult:
    """Figures of one loop run (written to ``<out>/loop_result.json``)."""

    config: dict[str, Any]
    accuracy: dict[str, float] = field(default_factory=dict)
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    grpo_seconds_per_step: float = 0.0
    sft_label_agreement: float = 0.0  # share of SFT targets that equal the label (0.5 for "format")
    grpo_reward_curve: list[tuple[int, float]] = field(default_factory=list)  # (step, mean reward)
    checkpoint: str = ""
    served: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prepare_data(cfg: LoopConfig) -> tuple[Path, Path]:
    """Synthetic labelled pairs written as RM-Gallery pairwise parquet: (train, held-out)."""
    records = synthetic_records(cfg.pairs, task=cfg.task, seed=cfg.seed)
    train, held = split(records, cfg.held_out, seed=cfg.seed)
    data = cfg.out / "data"
    return write_parquet(train, data / "train.parquet"), write_parquet(held, data / "held_out.parquet")


def _log(message: str) -> None:
    print(f"[train-loop] {message}", flush=True)


def run_loop(cfg: LoopConfig) -> LoopResult:
    """Data -> base eval -> SFT (format) -> eval -> GRPO -> eval -> checkpoint (-> serve, register, grade)."""
    from rm_gallery.loaders import load_samples
    from rm_gallery.training.trainers import (
        evaluate,
        format_verdicts,
        paired_rows,
        sft_rows,
        train_grpo,
        train_sft,
    )
    from rm_gallery.training.trl_rewards import PairwiseReward
    from rm_gallery.training.verl_rewards import training_grader

    started = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    result = LoopResult(config=cfg.to_dict())
    grader = training_grader("pairwise")
    train_path, held_path = prepare_data(cfg)
    train_rows = grpo_rows(load_samples(train_path), grader)
    held_rows = grpo_rows(load_samples(held_path), grader)
    base = cfg.model
    if base is None:
        from rm_gallery.local.tiny_model import build_tiny_model

        base = build_tiny_model(cfg.out / "base", seed=cfg.seed)
    _log(f"{len(train_rows)} training prompts, {len(held_rows)} held-out prompts; base model {base}")

    def measure(stage: str, model_dir: Path) -> None:
        t = time.perf_counter()
        report, _ = evaluate(model_dir, held_rows, grader)
        result.accuracy[stage] = report.accuracy
        result.reports[stage] = report.to_dict()
        result.seconds[f"eval_{stage}"] = time.perf_counter() - t
        _log(f"{stage}: {report.table()}")

    measure("untrained", Path(base))
    labels = [r["preferred"] for r in train_rows]
    verdicts = format_verdicts(train_rows, seed=cfg.seed) if cfg.sft_verdicts == "format" else labels
    result.sft_label_agreement = sum(v == y for v, y in zip(verdicts, labels, strict=True)) / len(labels)
    _log(f"SFT verdicts: {cfg.sft_verdicts} ({result.sft_label_agreement:.0%} equal the label)")
    sft = train_sft(base, sft_rows(train_rows, grader, verdicts), cfg.out / "sft", epochs=cfg.sft_epochs,
                    batch_size=cfg.sft_batch_size, learning_rate=cfg.sft_learning_rate, seed=cfg.seed,
                    max_steps=cfg.sft_max_steps)
    result.seconds["sft"] = sft.seconds
    measure("sft", sft.output_dir)
    reward = PairwiseReward(grader, weighted=cfg.weighted)
    prompts_per_step = cfg.grpo_batch_size // cfg.grpo_generations
    grpo = train_grpo(sft.output_dir, paired_rows(train_rows, cfg.grpo_steps * prompts_per_step, seed=cfg.seed),
                      cfg.out / "checkpoint", [reward], max_steps=cfg.grpo_steps,
                      num_generations=cfg.grpo_generations, batch_size=cfg.grpo_batch_size,
                      learning_rate=cfg.grpo_learning_rate, temperature=cfg.grpo_temperature, beta=cfg.grpo_beta,
                      seed=cfg.seed, shuffle=False, logging_steps=min(25, cfg.grpo_steps),
                      warmup_steps=cfg.grpo_warmup_steps, lr_scheduler_type="linear")
    result.seconds["grpo"] = grpo.seconds
    result.grpo_seconds_per_step = grpo.seconds_per_step
    result.grpo_reward_curve = [(int(h["step"]), round(float(h["reward"]), 3)) for h in grpo.history
                                if "reward" in h]
    _log("GRPO reward by step: " + " ".join(f"{step}:{r:.2f}" for step, r in result.grpo_reward_curve))
    result.checkpoint = str(grpo.output_dir)
    measure("grpo", grpo.output_dir)
    result.seconds["train_total"] = time.perf_counter() - started
    if cfg.serve:
        t = time.perf_counter()
        result.served = serve_and_grade(grpo.output_dir, held_path, cfg.grader_name, python=cfg.vllm_python,
                                        work_dir=cfg.out)
        result.seconds["serve_and_grade"] = time.perf_counter() - t
        _log(f"served: {json.dumps({k: v for k, v in result.served.items() if k != 'results'})}")
    result.seconds["total"] = time.perf_counter() - started
    (cfg.out / "loop_result.json").write_text(json.dumps(result.to_dict(), indent=2))
    from rm_gallery.training.report import plot_loop

    if plot_loop(result.accuracy, result.grpo_reward_curve, cfg.out / "loop.png"):
        _log(f"plot: {cfg.out / 'loop.png'}")
    return result


def register_served_grader(name: str, model_name: str, base_url: str, *, max_tokens: int = 16) -> None:
    """Register ``name`` as a pairwise grader backed by the served checkpoint (greedy, short answers)."""
    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.graders.pairwise import PairwiseGrader
    from rm_gallery.graders.registry import register_grader

    def factory(*, model: Any = None, **kwargs: Any) -> PairwiseGrader:
        judge = model or OpenAIChatModel(model_name, base_url=base_url)
        params = {"temperature": 0.0, "max_tokens": max_tokens, **kwargs.pop("params", {})}
        return PairwiseGrader(judge, params=params, name=name, **kwargs)

    factory.__doc__ = f"The judge trained by `rm-gallery train-loop`, served at {base_url}."
    register_grader(name, replace=True)(factory)


async def grade_held_out(grader_name: str, held_path: Path, out: Path) -> dict[str, Any]:
    """Grade the held-out file with a registered grader through the GradingRunner; accuracy vs labels."""
    from rm_gallery.graders.registry import create_grader
    from rm_gallery.loaders import load_samples
    from rm_gallery.runner import GradingRunner

    samples: list[Sample] = load_samples(held_path)
    grader = create_grader(grader_name)
    runner = GradingRunner({grader_name: grader}, concurrency=16, output=out, progress=False)
    try:
        results = await runner.arun(samples)
    finally:
        await grader.judge.model.aclose()
    correct = errors = 0
    for sample, row in zip(samples, results, strict=True):
        verdict = row[grader_name]
        if not verdict.ok:
            errors += 1
        elif sample.label is not None and verdict.winner == sample.label.preferred:
            correct += 1
    return {"grader": grader_name, "n": len(samples), "accuracy": correct / len(samples), "errors": errors,
            "results": str(out)}


def serve_and_grade(checkpoint: Path, held_path: Path, grader_name: str, *, python: str | None = None,
                    work_dir: Path | None = None) -> dict[str, Any]:
    """Serve ``checkpoint`` with vLLM, register it as ``grader_name`` and grade the held-out set."""
    from rm_gallery.local.vllm_server import VLLMServer
    from rm_gallery.sync import run_sync

    out = (work_dir or checkpoint.parent) / f"held_out.{grader_name}.jsonl"
    out.unlink(missing_ok=True)
    with VLLMServer(checkpoint, python=python, served_model_name=grader_name, dtype="float32",
                    max_model_len=1024) as server:
        register_served_grader(grader_name, server.model_name, server.base_url)
        graded = run_sync(grade_held_out(grader_name, held_path, out), what="serve_and_grade()",
                          instead="await grade_held_out(...) inside `with VLLMServer(...)`")
    graded["startup_seconds"] = server.startup_seconds
    return graded
