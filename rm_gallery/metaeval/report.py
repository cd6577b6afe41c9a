"""Markdown for a meta-evaluation (also embedded in benchmark reports) and for a judge comparison."""

from __future__ import annotations

from typing import Any

from rm_gallery.benchmarks.report import _table, ci_text, pct
from rm_gallery.metaeval.agreement import CLASSES, COLUMNS

META_FILE = "meta.json"
META_REPORT = "meta.md"
COMPARE_FILE = "compare.json"
COMPARE_REPORT = "compare.md"


def num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def pvalue(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _position(pos: dict[str, Any] | None, h: str) -> list[str]:
    if not pos:
        return [f"{h} Position", "", "Not applicable: no labelled pair has pairwise verdicts (a pointwise judge scores "
                "each response on its own).", ""]
    keys = ["accuracy_ab", "accuracy_ba", "both_correct", "consistency", "first_shown_rate"]
    table = _table(["accuracy (given order)", "accuracy (swapped)", "both correct", "consistency",
                    "first shown picked", "sign test p"], [[*(pct(pos[k]) for k in keys), pvalue(pos["sign_test_p"])]])
    return [f"{h} Position", "", *table, "",
            f"{pos['pairs']} labelled pairs, {pos['pairs_both_orders']} judged in both orders. Verdicts that flip with "
            f"the order: the first-shown response picked both times in {pos['first_both_orders']} pairs, the second "
            f"both times in {pos['second_both_orders']} (two-sided exact sign test against 1/2). Scores in %.", ""]


def _split_row(name: str, s: dict[str, Any]) -> list[str]:
    acc, n = s["accuracy"], s["judgments"]
    return [name, str(s["decided"]), pct(s["prefer_rate"]), pct(s["label_rate"]),
            f"{pct(acc['chosen_has'])} ({n['chosen_has']})", f"{pct(acc['chosen_lacks'])} ({n['chosen_lacks']})",
            f"{pct(acc['neither'])} ({n['neither']})"]


def _length_style(meta: dict[str, Any], h: str) -> list[str]:
    length, markdown = meta["length"], meta["markdown"]
    rows = [_split_row(f"longer (by > {length['margin']} chars)", length), _split_row("markdown or lists", markdown)]
    lines = [f"{h} Length and style", "",
             *_table(["feature", "A/B verdicts", "picked it", "label has it", "acc. chosen has it",
                      "acc. chosen lacks it", "acc. no difference"], rows), "",
             "'picked it': share of A/B verdicts, on pairs where exactly one response has the feature, that picked "
             "that response; 'label has it': the same share for the labels (an accurate judge matches it). "
             "Accuracy in % with the number of judgments; ties and failures count as wrong.", ""]
    styles = meta.get("styles")
    if styles:
        levels = [pct(styles[k]) for k in ("hard", "normal", "easy")]
        lines += [*_table(["style: hard", "normal", "easy"], [levels]), "",
                  "RM-Bench style variants pooled over every pair (hard: chosen less styled than rejected).", ""]
    return lines


def _agreement(a: dict[str, Any], h: str) -> list[str]:
    rows = [[f"label {r}", *(str(a["matrix"][r][c]) for c in COLUMNS)] for r in CLASSES]
    kappa = num(a["kappa"]) if a["kappa"] is not None else f"undefined ({a['kappa_undefined']})"
    errors = ", ".join(f"{k} {v}" for k, v in a["errors_by_kind"].items()) or "none"
    return [f"{h} Agreement", "", *_table(["", *(f"verdict {c}" for c in COLUMNS)], rows), "",
            f"Cohen's kappa {kappa}; coverage {pct(a['coverage'])}% ({a['parsed']} of {a['judgments']} judgments "
            f"with a verdict); accuracy {pct(a['accuracy'])}%; errors: {errors}. Counted in presentation order "
            "(A = the response shown first).", ""]


def _calibration(cal: dict[str, Any], h: str) -> list[str]:
    if not cal:
        return [f"{h} Calibration", "", "Nothing to calibrate: the judge gives no probability, stated confidence "
                "or pointwise scores.", ""]
    rows = [[kind, s["against"], str(s["n"]), num(s["ece"]), num(s["brier"]), num(s["mean_probability"]),
             num(s["observed_rate"])] for kind, s in cal.items()]
    lines = [f"{h} Calibration", "",
             *_table(["what", "against", "n", "ECE", "Brier", "mean p", "observed"], rows), ""]
    gap = cal.get("score_gap")
    if gap:
        refit = gap["fitted_in_sample"]
        edge = (" — at the edge of the search range: the outcomes are (almost) separated by the gap"
                if gap["fitted_at_bound"] else "")
        fitted = (f"the maximum-likelihood T = {num(gap['fitted_temperature'])} gives ECE {num(refit['ece'])}, "
                  f"Brier {num(refit['brier'])} (fitted on these pairs: an optimistic bound{edge})") if refit else \
            "no score gap is non-zero, so no temperature can be fitted"
        lines += [f"Score gap mapped by logistic(gap / T) with T = {gap['temperature']:g}; {fitted}.", ""]
    lines += [f"Equal-width bins over [0, 1] ({len(next(iter(cal.values()))['bins'])}); reliability diagram in "
              "reliability.png.", ""]
    return lines


def _cost(c: dict[str, Any], h: str) -> list[str]:
    header = ["verdicts", "prompt tokens / 1k", "completion tokens / 1k", "wall s / 1k", "mean latency s"]
    row = [str(c["verdicts"]), num(c["prompt_tokens_per_1000"], 0), num(c["completion_tokens_per_1000"], 0),
           num(c["wall_s_per_1000"], 1), num(c["mean_latency_s"], 2)]
    if "money_per_1000" in c:
        header.append("money / 1k")
        row.append(num(c["money_per_1000"], 4))
    return [f"{h} Cost", "", *_table(header, [row]), "", *(f"- {n}" for n in c["notes"]), ""]


def meta_sections(meta: dict[str, Any], level: int = 2) -> list[str]:
    """The meta-evaluation as markdown lines, sections at heading ``level``."""
    h = "#" * level
    lines = [*_position(meta["position"], h), *_length_style(meta, h), *_agreement(meta["agreement"], h),
             *_calibration(meta["calibration"], h), *_cost(meta["cost"], h)]
    return lines + [f"- {n}" for n in meta["notes"]] + ([""] if meta["notes"] else [])


def meta_report(meta: dict[str, Any], info: dict[str, Any]) -> str:
    """A standalone meta-evaluation report (``meta.md``)."""
    who = f"`{info.get('grader', '?')}`" + (f" on `{info['model']}`" if info.get("model") else "")
    lines = [f"# Judge meta-evaluation: {who}", "",
             f"Source: `{info.get('source', '?')}`; {meta['pairs']} pairs ({meta['labelled']} labelled), "
             f"{meta['judgments']} judgments.", "", *meta_sections(meta, 2)]
    return "\n".join(lines).rstrip() + "\n"


def compare_report(result: dict[str, Any]) -> str:
    """Markdown for a judge comparison (``compare.md``)."""
    a, b = result["a"], result["b"]

    def row(name: str, s: dict[str, Any]) -> list[str]:
        diff = "–" if s["diff"] is None else f"{100 * s['diff']:+.1f}"
        return [name, str(s["n"]), pct(s["accuracy_a"]), pct(s["accuracy_b"]), diff, ci_text(s["ci"]),
                str(s["only_a"]), str(s["only_b"]), pvalue(s["p"]), pvalue(s.get("p_holm"))]

    rows = [row("**all**", result["overall"]), *(row(k, s) for k, s in result["subsets"].items())]
    lines = [f"# Judge comparison: A = {a['name']} vs B = {b['name']}", "",
             f"- A: `{a['source']}`", f"- B: `{b['source']}`", "",
             f"**{result['conclusion']}**", "",
             *_table(["subset", "n", "A acc.", "B acc.", "A − B", "95% CI", "A right only", "B right only",
                      "McNemar p", "Holm p"], rows), "",
             f"Unit: {result['unit_text']}. Accuracy is strict (a tie or a failed judgment is wrong), in %. CI: "
             f"paired percentile bootstrap over pairs within subsets ({result['bootstrap']} resamples, seed "
             f"{result['seed']}). McNemar: two-sided exact binomial test on the discordant items. Holm: step-down "
             "correction over the subsets.", ""]
    lines += [f"- {n}" for n in result["notes"]]
    return "\n".join(lines).rstrip() + "\n"
