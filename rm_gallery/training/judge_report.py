"""The real-judge loop's report: held-out and transfer accuracy per recipe and stage, per source, and plots."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rm_gallery.training.heldout import TABLE_HEADER, table


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def gain_verdict(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """Whether the trained judge's CI lies wholly above the untrained one's (the issue's bar for a real gain)."""
    b, a = before.get("ci", {}).get("accuracy"), after.get("ci", {}).get("accuracy")
    if not a or not b:
        return "no CI"
    if a[0] > b[1]:
        return f"yes: trained CI low {100 * a[0]:.1f} > untrained CI high {100 * b[1]:.1f}"
    return f"no: trained CI low {100 * a[0]:.1f} <= untrained CI high {100 * b[1]:.1f}"


def write_judge_report(result: Any, out: Path) -> Path:
    """``report.md`` (and ``judge_loop.png`` when matplotlib is installed) for a :class:`JudgeLoopResult`."""
    r = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    lines = ["# Judge training on real preference data", "",
             f"Model: {r['model']}.", "",
             "Every pair is judged in both orders. Accuracy counts a tie or an unreadable answer as half right "
             "(chance), as `rm-gallery bench` does; *strict* counts them wrong. Brackets are seeded bootstrap "
             "95% CIs over pairs (resampled within each source).", ""]
    counts = r["split"].get("counts", {})
    lines += ["## Data", "", "| side | pairs | sources |", "|---|---|---|"]
    for side, per in counts.items():
        lines.append(f"| {side} | {sum(per.values())} | " + ", ".join(f"{k} {v}" for k, v in per.items()) + " |")
    lines += ["", f"Split by problem (no HumanEval problem or prompt on two sides); transfer sources "
                  f"{', '.join(r['split'].get('transfer_sources', [])) or 'none'} are never trained on; prompts of "
                  f"at most {r['split'].get('max_prompt_tokens')} tokens.", ""]
    for recipe in ("pairwise_rl", "grpo"):
        stages = {k.split("/", 1)[1]: v for k, v in r["stages"].items() if k.startswith(recipe + "/")}
        if not stages:
            continue
        title = {"pairwise_rl": "Pairwise-RL (yes/no judge, CE + position consistency), evaluated as `win_probability`",
                 "grpo": "GRPO with TRL, the `pairwise` grader's parser as the reward"}[recipe]
        lines += [f"## {title}", ""]
        for side in ("held_out", "transfer"):
            lines += [f"**{side.replace('_', '-')}**", "", TABLE_HEADER]
            lines += [table(v[side], stage) for stage, v in stages.items() if side in v]
            lines.append("")
        if "untrained" in stages and "trained" in stages:
            lines.append(f"Held-out gain over the untrained model with non-overlapping CIs: "
                         f"{gain_verdict(stages['untrained']['held_out'], stages['trained']['held_out'])}.")
            for side, g in r.get("gains", {}).get(recipe, {}).items():
                ci = "" if not g["ci"] else f" [95% CI {100 * g['ci'][0]:+.1f}, {100 * g['ci'][1]:+.1f}]"
                lines.append(f"Paired gain on the same {side.replace('_', '-')} pairs: {100 * g['gain']:+.1f} points"
                             f"{ci}; right only after training {g['right_only_after']}, only before "
                             f"{g['right_only_before']} (McNemar exact p = {g['mcnemar_p']:.3g}).")
            sources = sorted(k for k in stages["trained"]["held_out"] if k.startswith("source/"))
            lines += ["", "| source | " + " | ".join(stages) + " |", "|---|" + "---|" * len(stages)]
            for key in sources:
                lines.append(f"| {key[7:]} | " + " | ".join(_pct(v["held_out"].get(key)) for v in stages.values())
                             + " |")
            lines.append("")
        seen = r["split"].get(f"{recipe}_train_seen")
        if seen is not None:
            lines.append(f"Trained on {seen} of {r['split'].get(f'{recipe}_train', seen)} train pairs (the pairs its "
                         f"steps visit; only those are cached).")
        secs = {k.split("/", 1)[1]: v for k, v in r["seconds"].items() if k.startswith(recipe + "/")}
        if secs:
            lines.append("Time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items()) + ".")
        if recipe in r.get("served", {}):
            s = r["served"][recipe]
            lines.append(f"Served by vLLM as grader `{s['grader']}` and graded through `rm-gallery bench pairs`: "
                         f"headline {_pct(s['headline'])} against {_pct(s['in_process'])} in-process "
                         f"(difference {s['difference']}); parse failures {_pct(s['parse_failure_rate'])}.")
        if recipe in r.get("parity", {}):
            q = r["parity"][recipe]
            lines.append(f"Stages evaluated served (vLLM, greedy); on {q['pairs']} held-out pairs the trained "
                         f"checkpoint was also judged in-process (transformers, greedy): {_pct(q['agreement'])} of "
                         f"{q['verdicts']} verdicts agree.")
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot_judge_loop(r, out / "judge_loop.png")
    return path


def plot_judge_loop(r: Mapping[str, Any], path: Path) -> bool:
    """Held-out accuracy by recipe and stage with CI bars, and the training curves. False without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(r["stages"])
    curves = r.get("curves", {})
    fig, axes = plt.subplots(1, 1 + len(curves), figsize=(5 + 4 * len(curves), 3.8), squeeze=False)
    ax = axes[0][0]
    for k, side in enumerate(("held_out", "transfer")):
        xs = [i + (k - 0.5) * 0.38 for i in range(len(stages))]
        vals = [100 * (r["stages"][s][side]["accuracy"] or 0) for s in stages]
        cis = [r["stages"][s][side]["ci"].get("accuracy", [None, None]) for s in stages]
        err = [[v - 100 * (c[0] if c[0] is not None else v / 100) for v, c in zip(vals, cis, strict=True)],
               [100 * (c[1] if c[1] is not None else v / 100) - v for v, c in zip(vals, cis, strict=True)]]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=3, label=side.replace("_", "-"),
               color=["#4C72B0", "#DD8452"][k])
    ax.axhline(50, color="#999999", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(stages)), [s.replace("/", "\n") for s in stages], fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy, both orders (%)")
    ax.set_title("judge accuracy by recipe and stage (95% CI)")
    ax.legend(fontsize=8)
    for ax, (name, curve) in zip(axes[0][1:], curves.items(), strict=True):
        if curve:
            steps, values = zip(*curve, strict=True)
            ax.plot(steps, values, color="#4C72B0")
        ax.set_xlabel("step")
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
