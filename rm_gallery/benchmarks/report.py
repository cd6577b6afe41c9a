"""The human side of a benchmark summary: ``summary.json``, a markdown report, and (via :mod:`.plots`) PNGs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
RUN_FILE = "run.json"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def ci_text(ci: list[float | None] | None) -> str:
    return "–" if not ci or ci[0] is None else f"[{pct(ci[0])}, {pct(ci[1])}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def _status(info: dict[str, Any]) -> str:
    if info.get("scored") is False:
        return f"missing ({len(info.get('missing', []))} subsets absent)"
    if info.get("partial"):
        return "partial: no " + ", ".join(info.get("missing", []))
    return "complete"


def markdown_report(summary: dict[str, Any]) -> str:
    """The report as markdown: headline, sections, subsets, metrics, position, errors, gaps and conventions."""
    h, conv = summary["headline"], summary["conventions"]
    who = f"`{summary.get('grader', '?')}` ({summary['kind']})" + (f" on `{summary['model']}`"
                                                                    if summary.get("model") else "")
    lines = [f"# {summary['title']}: {who}", "",
             f"**Headline: {pct(h['value'])}** {ci_text(h['ci'])}" + (" (partial)" if h["partial"] else ""), "",
             f"Unreadable and tie verdicts count {conv['error_value']:g} ({conv['error_credit']}); equal scores: "
             f"{conv['score_ties']}; orders: {conv['orders'] or 'n/a'}; seed {conv['seed']}; "
             f"{conv['bootstrap_resamples']} bootstrap resamples, {conv['ci_level']:.0%} CI. Scores in %.", ""]
    sections = summary["sections"]
    if sections:
        rows = [[name, pct(s["value"]), ci_text(s["ci"]), str(s.get("n", "")), _status(s)]
                for name, s in sections.items()]
        lines += ["## Sections", "", *_table(["section", "score", "95% CI", "n", "status"], rows), ""]
    if summary["subsets"]:
        rows = [[name, pct(s["value"]), ci_text(s["ci"]), str(s["n"])] for name, s in summary["subsets"].items()]
        lines += ["## Subsets", "", *_table(["subset", "accuracy", "95% CI", "n"], rows), ""]
    if summary["metrics"]:
        rows = [[name, pct(m["value"]), ci_text(m["ci"])] for name, m in summary["metrics"].items()]
        lines += ["## Other metrics", "", *_table(["metric", "value", "95% CI"], rows), ""]
    pos = summary.get("position")
    if summary.get("meta"):  # position, bias, agreement, calibration, cost (rm_gallery.metaeval)
        from rm_gallery.metaeval.report import meta_sections

        lines += ["## Judge meta-evaluation", "", *meta_sections(summary["meta"], 3)]
    elif pos and "accuracy_ab" in pos:
        keys = ["accuracy_ab", "accuracy_ba", "both_correct", "consistency", "first_shown_rate"]
        lines += ["## Position", "", *_table(["accuracy (given order)", "accuracy (swapped)", "both correct",
                                              "consistency", "first shown picked"], [[pct(pos[k]) for k in keys]]),
                  ""]
    elif pos:
        rows = [[slot, pct(acc), str(pos["prompts_by_correct_position"][slot]), pct(pos["pick_rate"][slot])]
                for slot, acc in pos["accuracy_by_correct_position"].items()]
        lines += ["## Position", "", *_table(["correct slot", "accuracy", "prompts", "picked"], rows), ""]
    counts = summary.get("extra", {}).get("counts")
    if counts:
        lines += ["## Counts", "", *_table(list(counts), [[str(v) for v in counts.values()]]), ""]
    err = summary["errors"]
    kinds = ", ".join(f"{k} {v}" for k, v in err["by_kind"].items())
    lines += ["## Errors", "", f"{err['judgments']} judgments ({kinds}); parse-failure rate "
              f"{err['parse_failure_rate']:.1%}, failure rate {err['failure_rate']:.1%}.", ""]
    if summary["missing"]:
        lines += [f"**Absent from the input:** {', '.join(summary['missing'])}.", ""]
    lines += [f"- {note}" for note in summary["notes"]]
    return "\n".join(lines).rstrip() + "\n"


def write_report(out_dir: str | Path, summary: dict[str, Any], *, plots: bool = True) -> list[Path]:
    """Write the plots (when asked), ``report.md`` and ``summary.json`` (listing every file) into ``out_dir``."""
    out = Path(out_dir)
    files: list[Path] = []
    if plots:
        from rm_gallery.benchmarks.plots import write_plots

        files += write_plots(out, summary)
    (out / REPORT_FILE).write_text(markdown_report(summary), encoding="utf-8")
    files.append(out / REPORT_FILE)
    summary["files"] = sorted(p.name for p in [*files, out / SAMPLES_FILE, out / SUMMARY_FILE, out / RUN_FILE])
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return [*files, out / SUMMARY_FILE]
