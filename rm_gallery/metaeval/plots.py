"""PNG plots: the reliability diagram of a meta-evaluation and the forest plot of a judge comparison.

matplotlib is imported lazily through :func:`rm_gallery.benchmarks.plots._pyplot` (Agg backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.plots import _pyplot

RELIABILITY_PLOT = "reliability.png"
COMPARE_PLOT = "compare.png"
#: Axis labels per calibrated quantity: (probability, observed outcome).
_AXES = {"probability": ("P(A wins)", "share where A is preferred"),
         "confidence": ("stated confidence", "share of verdicts right"),
         "score_gap": ("logistic(score gap / T)", "share where A is preferred")}


def reliability_plot(calibration: dict[str, dict[str, Any]], path: Path) -> Path:
    """One panel per calibrated quantity: observed frequency per bin against mean probability, with counts."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(calibration), figsize=(4.2 * len(calibration), 5.4), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1]}, sharex="col")
    for col, (kind, s) in enumerate(calibration.items()):
        ax, hist = axes[0][col], axes[1][col]
        full = [b for b in s["bins"] if b["n"]]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
        ax.plot([b["mean_p"] for b in full], [b["freq"] for b in full], marker="o", color="#C44E52",
                label="observed")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        xlabel, ylabel = _AXES.get(kind, ("probability", "observed frequency"))
        ax.set_ylabel(ylabel)
        ax.set_title(f"{kind}: ECE {s['ece']:.3f}, Brier {s['brier']:.3f}", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        width = s["bins"][0]["hi"] - s["bins"][0]["lo"]
        hist.bar([b["lo"] + width / 2 for b in s["bins"]], [b["n"] for b in s["bins"]], width=width * 0.9,
                 color="#4C72B0")
        hist.set_xlabel(xlabel)
        hist.set_ylabel("n")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_meta_plots(out_dir: Path, meta: dict[str, Any] | None) -> list[Path]:
    """The reliability diagram when anything was calibrated; returns the files written."""
    if not meta or not meta.get("calibration"):
        return []
    return [reliability_plot(meta["calibration"], Path(out_dir) / RELIABILITY_PLOT)]


def compare_plot(result: dict[str, Any], path: Path) -> Path:
    """Accuracy difference A - B with its 95% CI, overall and per subset (percentage points)."""
    plt = _pyplot()
    items = [("all", result["overall"]), *result["subsets"].items()]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.4 * len(items)))
    reach = 5.0  # at least +-5 points, so a null result does not fill the axis with noise
    for y, (_, s) in enumerate(reversed(items)):
        if s["diff"] is None:
            continue
        lo, hi = s["ci"] or (s["diff"], s["diff"])
        reach = max(reach, 100 * abs(lo), 100 * abs(hi), 100 * abs(s["diff"]))
        colour = "#C44E52" if (s.get("p_holm") if s.get("p_holm") is not None else s["p"]) < 0.05 else "#4C72B0"
        ax.errorbar(100 * s["diff"], y, xerr=[[100 * (s["diff"] - lo)], [100 * (hi - s["diff"])]], fmt="o",
                    color=colour, capsize=3)
    ax.set_yticks(range(len(items)), [name for name, _ in reversed(items)])
    ax.axvline(0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(-1.1 * reach, 1.1 * reach)
    ax.set_xlabel(f"accuracy A − B (points, 95% CI); red: p < 0.05 (Holm across subsets)\n"
                  f"A = {result['a']['name']}, B = {result['b']['name']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
