"""Validation report for a trained judge: mean reward, accuracy, prediction mix, accuracy by strength."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rm_gallery.training.judgments import read_judgment
from rm_gallery.training.rewards import pairwise_reward


@dataclass
class ValidationReport:
    """Held-out metrics of a judge; ``accuracy`` counts unreadable answers as wrong."""

    n: int
    mean_reward: float
    accuracy: float
    format_ok: float
    predictions: dict[str, int] = field(default_factory=dict)
    accuracy_by_strength: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        mix = ", ".join(f"{k}={v}" for k, v in sorted(self.predictions.items()))
        by = ", ".join(f"s{k}={v:.3f}" for k, v in sorted(self.accuracy_by_strength.items()))
        return (f"n={self.n} accuracy={self.accuracy:.3f} mean_reward={self.mean_reward:.3f} "
                f"format_ok={self.format_ok:.3f} predictions[{mix}] by_strength[{by}]")


def validation_report(grader: Any, completions: Sequence[str], preferred: Sequence[str],
                      strengths: Sequence[int | None] | None = None, *, weighted: bool = False) -> ValidationReport:
    """Score held-out completions with the grader's parser against their labels."""
    strengths = list(strengths) if strengths is not None else [None] * len(completions)
    if not len(completions) == len(preferred) == len(strengths):
        raise ValueError("completions, preferred and strengths must have the same length")
    predictions: Counter[str] = Counter()
    by_strength: dict[str, list[float]] = defaultdict(list)
    rewards, correct, fmt = [], [], []
    for text, label, strength in zip(completions, preferred, strengths, strict=True):
        j = read_judgment(grader, text)
        predictions[j.predicted] += 1
        predicted = None if j.predicted == "unknown" else j.predicted
        rewards.append(pairwise_reward(predicted, label, strength, weighted=weighted))
        ok = float(predicted == label)
        correct.append(ok)
        fmt.append(float(j.format_ok))
        by_strength["unknown" if strength is None else str(strength)].append(ok)
    n = len(completions)

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    return ValidationReport(n=n, mean_reward=mean(rewards), accuracy=mean(correct), format_ok=mean(fmt),
                            predictions=dict(predictions),
                            accuracy_by_strength={k: mean(v) for k, v in by_strength.items()})


def plot_loop(accuracy: dict[str, float], reward_curve: Sequence[tuple[int, float]], path: Any) -> bool:
    """PNG of a train loop: held-out accuracy per stage and GRPO's mean reward by step.

    Returns False (and draws nothing) when matplotlib is not installed: the figures are in the JSON too.
    """
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    stages = list(accuracy)
    bars = left.bar(stages, [100 * accuracy[s] for s in stages], color=["#999999", "#A1B6D8", "#4C72B0"][:len(stages)])
    for bar, stage in zip(bars, stages, strict=True):
        left.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 2, f"{100 * accuracy[stage]:.0f}%",
                  ha="center")
    left.set_ylim(0, 110)
    left.set_ylabel("held-out accuracy (%)")
    left.set_title("judge accuracy by stage")
    if reward_curve:
        steps, rewards = zip(*reward_curve, strict=True)
        right.plot(steps, rewards, marker="o", color="#4C72B0")
    right.axhline(0.5, color="#999999", linestyle="--", linewidth=1, label="chance")
    right.set_ylim(0, 1.05)
    right.set_xlabel("GRPO step")
    right.set_ylabel("mean pairwise reward")
    right.set_title("GRPO reward (logged every few steps)")
    right.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
