"""PNG plots of a benchmark summary: section bars with CIs, the RM-Bench 3x3 heatmaps, position consistency.

matplotlib is imported here only (``pip install 'rm_gallery[bench]'``), with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.base import BenchmarkError


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise BenchmarkError("drawing plots needs matplotlib: pip install 'rm_gallery[bench]' (or pass --no-plots)"
                             ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(ax: Any, items: list[tuple[str, dict[str, Any]]], title: str) -> None:
    """Horizontal bars in %, with CI whiskers; partial entries are hatched."""
    names = [n for n, _ in items][::-1]
    values = [100 * (e["value"] or 0.0) for _, e in items][::-1]
    lo = [max(0.0, v - 100 * (e["ci"][0] or 0.0)) if e.get("ci") else 0.0 for v, (_, e) in
          zip(values, items[::-1], strict=True)]
    hi = [max(0.0, 100 * (e["ci"][1] or 0.0) - v) if e.get("ci") else 0.0 for v, (_, e) in
          zip(values, items[::-1], strict=True)]
    bars = ax.barh(names, values, xerr=[lo, hi], color="#4C72B0", capsize=3)
    for bar, (_, e) in zip(bars, items[::-1], strict=True):
        if e.get("partial"):
            bar.set_hatch("//")
            bar.set_facecolor("#A1B6D8")
        y = bar.get_y() + bar.get_height() / 2
        if e["value"] is None:
            ax.text(1, y, "not scored", va="center", fontsize=8, color="grey")
        else:
            ax.text(1, y, f"{100 * e['value']:.1f}", va="center", fontsize=8, color="white")
    ax.set_xlim(0, 100)
    ax.set_xlabel("score (%)  [hatched: partial]")
    ax.set_title(title)


def section_bars(plt: Any, summary: dict[str, Any], path: Path) -> Path:
    items = [("headline", summary["headline"]), *summary["sections"].items()]
    subsets = list(summary["subsets"].items())
    fig, axes = plt.subplots(1, 2 if subsets else 1, figsize=(12 if subsets else 7, max(3, 0.35 * len(subsets) + 2)),
                             squeeze=False)
    _bars(axes[0][0], items, f"{summary['title']}: sections (95% CI)")
    if subsets:
        _bars(axes[0][1], subsets, "subsets")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def style_heatmaps(plt: Any, matrices: dict[str, list[list[float]]], styles: list[str], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.6 * len(matrices), 3.6), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items(), strict=True):
        ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
        for i in range(3):
            for j in range(3):
                ax.text(j, i, f"{100 * m[i][j]:.0f}", ha="center", va="center", color="w" if m[i][j] < 0.6 else "k")
        ax.set_xticks(range(3), styles)
        ax.set_yticks(range(3), styles)
        ax.set_xlabel("rejected style")
        ax.set_ylabel("chosen style")
        ax.set_title(name)
    fig.suptitle("RM-Bench accuracy (%): upper triangle hard, diagonal normal, lower easy")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def position_plot(plt: Any, pos: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if "accuracy_ab" in pos:
        labels = ["accuracy\n(given order)", "accuracy\n(swapped)", "both\ncorrect", "consistency",
                  "first shown\npicked"]
        keys = ["accuracy_ab", "accuracy_ba", "both_correct", "consistency", "first_shown_rate"]
        ax.bar(labels, [100 * (pos[k] or 0.0) for k in keys], color="#55A868")
        ax.axhline(50, color="grey", linestyle=":", linewidth=1)
    else:
        slots = list(pos["accuracy_by_correct_position"])
        xs = range(len(slots))
        ax.bar([x - 0.2 for x in xs], [100 * (pos["accuracy_by_correct_position"][s] or 0.0) for s in slots], 0.4,
               label="accuracy when correct answer is here")
        ax.bar([x + 0.2 for x in xs], [100 * (pos["pick_rate"][s] or 0.0) for s in slots], 0.4, label="picked here")
        ax.set_xticks(list(xs), slots)
        ax.axhline(25, color="grey", linestyle=":", linewidth=1)
        ax.legend(fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    ax.set_title("Position consistency")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_plots(out_dir: Path, summary: dict[str, Any]) -> list[Path]:
    """Every plot that applies to this summary; returns the files written."""
    plt = _pyplot()
    files = [section_bars(plt, summary, out_dir / "sections.png")]
    extra = summary.get("extra") or {}
    if extra.get("matrices"):
        files.append(style_heatmaps(plt, extra["matrices"], extra["styles"], out_dir / "rmbench_heatmap.png"))
    if summary.get("position"):
        files.append(position_plot(plt, summary["position"], out_dir / "position.png"))
    from rm_gallery.metaeval.plots import write_meta_plots

    return files + write_meta_plots(out_dir, summary.get("meta"))
