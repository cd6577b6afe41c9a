"""The demo's figures and its report, in words a newcomer can follow.

Every labelled pair is judged in each presentation order (``ab`` as given, ``ba`` swapped), read back as a
:class:`~rm_gallery.metaeval.pairs.Pair`. The figures:

* accuracy: the share of judgments that picked the labelled response (a pair scores the mean over its orders;
  a tie or an unreadable answer counts as a miss), with a seeded percentile-bootstrap 95% CI over pairs;
* the same split by where the better response was shown (first or second), and the first-shown pick rate;
* position consistency: among pairs with a readable verdict in both orders, the share with the same verdict;
* parse failures: judgments whose answer the grader could not read (other errors are counted apart);
* for judges that give P(A better): the decision from that probability averaged over both orders (Pairwise-RL's
  symmetric score), which cancels a fixed preference for one position.

Chance is 50%: a judge that guesses, or always picks the same position, gets one of a pair's two orders right.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_gallery.benchmarks.stats import bootstrap_ci
from rm_gallery.graders.win_probability import winner_from_probability
from rm_gallery.metaeval.pairs import Pair, pairs_from
from rm_gallery.types import Result, Sample

CHANCE = 0.5
#: From this parse-failure rate on, the report's summary line says that unreadable answers weigh on accuracy.
UNREADABLE_NOTE = 0.2
BOOTSTRAP = {"replicates": 2000, "seed": 0, "level": 0.95}
_FIRST_SHOWN = {"ab": "A", "ba": "B"}  # the original label shown first in each order


@dataclass(frozen=True)
class PairOutcome:
    """One labelled pair's contribution to every figure."""

    domain: str
    #: Share of its judgments (orders) that picked the labelled response.
    credit: float
    #: Same verdict in both orders; None unless both orders gave a readable verdict.
    consistent: bool | None
    #: 1.0/0.0 for the decision from the mean P(A better); None when the judge gives no probability.
    combined: float | None
    #: (picked the labelled response, it was shown first) per judgment, for the position split.
    judgments: tuple[tuple[bool, bool], ...]
    #: Readable verdicts that named a side: (picked the one shown first) per judgment.
    first_picks: tuple[bool, ...]


def pair_outcome(pair: Pair, *, with_probability: bool) -> PairOutcome:
    """The figures of one labelled pair (``with_probability``: the judge reports P(A better) at all)."""
    assert pair.label is not None
    hits = tuple((w == pair.label, pair.label == _FIRST_SHOWN.get(order)) for order, w in pair.verdicts.items())
    readable = [w for w in pair.verdicts.values() if w is not None]
    consistent = readable[0] == readable[1] if len(pair.verdicts) == 2 and len(readable) == 2 else None
    combined = None
    if with_probability:
        p = pair.probability
        combined = float(p is not None and winner_from_probability(p) == pair.label)
    first = tuple(w == _FIRST_SHOWN[o] for o, w in pair.verdicts.items() if w in ("A", "B") and o in _FIRST_SHOWN)
    credit = sum(h for h, _ in hits) / len(hits) if hits else 0.0
    return PairOutcome(pair.stratum, credit, consistent, combined, hits, first)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _figures(units: Sequence[PairOutcome]) -> dict[str, float | None]:
    """The bootstrapped statistics of a set of pairs (also the point estimates)."""
    return {"accuracy": _mean([u.credit for u in units]),
            "position_consistency": _mean([float(u.consistent) for u in units if u.consistent is not None]),
            "combined_accuracy": _mean([u.combined for u in units if u.combined is not None])}


def summarise(samples: Sequence[Sample], results: Sequence[Result]) -> dict[str, Any]:
    """Every figure of the report (see the module docstring), JSON-ready."""
    pairs = pairs_from(samples, results)
    labelled = [p for p in pairs if p.label is not None]
    with_probability = any(p.probability is not None for p in labelled)
    units = [pair_outcome(p, with_probability=with_probability) for p in labelled]
    point = _figures(units)
    ci = bootstrap_ci({"pairs": units}, lambda m: _figures(m["pairs"]), n=BOOTSTRAP["replicates"],
                      seed=BOOTSTRAP["seed"], level=BOOTSTRAP["level"]) if units else {}
    judgments = [j for u in units for j in u.judgments]
    errors: Counter[str] = Counter(kind for p in labelled for kind in p.errors.values())
    first_picks = [f for u in units for f in u.first_picks]
    by_domain: dict[str, list[PairOutcome]] = defaultdict(list)
    for u in units:
        by_domain[u.domain].append(u)
    return {
        "samples": len(samples), "pairs": len(units), "judgments": len(judgments),
        "orders_per_pair": max((len(u.judgments) for u in units), default=0),
        "accuracy": point["accuracy"], "accuracy_ci": ci.get("accuracy"),
        "accuracy_better_first": _mean([float(h) for h, first in judgments if first]),
        "accuracy_better_second": _mean([float(h) for h, first in judgments if not first]),
        "first_shown_rate": _mean([float(f) for f in first_picks]),
        "position_consistency": point["position_consistency"],
        "position_consistency_ci": ci.get("position_consistency"),
        "consistency_pairs": sum(u.consistent is not None for u in units),
        "parse_failures": errors.get("parse_error", 0),
        "parse_failure_rate": errors.get("parse_error", 0) / len(judgments) if judgments else None,
        "other_errors": {k: v for k, v in sorted(errors.items()) if k != "parse_error"},
        "combined_accuracy": point["combined_accuracy"], "combined_accuracy_ci": ci.get("combined_accuracy"),
        "by_domain": {d: {"pairs": len(us), **{k: v for k, v in _figures(us).items() if v is not None}}
                      for d, us in sorted(by_domain.items())},
        "outcomes": dict(Counter(r.kind for r in results)),
        "bootstrap": dict(BOOTSTRAP),
    }


def pct(x: float | None) -> str:
    """A share as a whole percentage (``n/a`` when there is none)."""
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _ci(ci: Sequence[float] | None) -> str:
    return "" if not ci else f" (95% CI {100 * ci[0]:.0f}–{100 * ci[1]:.0f}%)"


def verdict_on_chance(value: float | None, ci: Sequence[float] | None, pairs: int) -> str:
    """Whether a measured accuracy is above, below or indistinguishable from chance, by its 95% CI."""
    if value is None or not ci:
        return "nothing was judged, so there is nothing to compare with chance"
    if ci[0] > CHANCE:
        return f"better than chance (the whole 95% CI lies above {pct(CHANCE)})"
    if ci[1] < CHANCE:
        return f"worse than chance (the whole 95% CI lies below {pct(CHANCE)})"
    return f"not distinguishable from chance on {pairs} pairs (the 95% CI includes {pct(CHANCE)})"


def plain_words(s: Mapping[str, Any]) -> list[str]:
    """The figures as sentences (one per bullet)."""
    n, j = s["pairs"], s["judgments"]
    both = s["orders_per_pair"] == 2
    shown = (f"Each of the {n} pairs was shown twice, once in each order: {j} judgments. " if both
             else f"{n} pairs, one judgment each. ")
    chance = ("Chance is 50%: a judge that guesses, or that always picks the response in the same position, "
              "gets one of the two orders of each pair right." if both else "Chance is 50% (a coin flip).")
    out = [f"**Accuracy.** The judge picked the better response in **{pct(s['accuracy'])}** of its judgments"
           f"{_ci(s['accuracy_ci'])}. {shown}{chance} A tie or an unreadable answer counts as a miss."]
    if both:
        out.append(f"**Position.** When the better response was shown first, the judge picked it in "
                   f"{pct(s['accuracy_better_first'])} of those judgments; when it was shown second, in "
                   f"{pct(s['accuracy_better_second'])}. Of the verdicts that named a side, "
                   f"{pct(s['first_shown_rate'])} went to whichever response was shown first (no position "
                   "preference: 50%).")
        if s["position_consistency"] is None:
            out.append("**Consistency.** No pair got a readable verdict in both orders.")
        else:
            changed = 1 - s["position_consistency"]
            ci = s["position_consistency_ci"]
            out.append(f"**Consistency.** Shown the same pair in the other order, the judge changed its mind in "
                       f"**{pct(changed)}** of the {s['consistency_pairs']} pairs with a readable verdict in both "
                       f"orders{_ci(None if not ci else (1 - ci[1], 1 - ci[0]))}. A judge that reads only the "
                       "content never changes its mind.")
    others = ", ".join(f"{k}: {v}" for k, v in s["other_errors"].items())
    out.append(f"**Parse failures.** {s['parse_failures']} of {j} judgments ({pct(s['parse_failure_rate'])}) "
               "gave an answer the grader could not read as a verdict."
               + (f" Other errors: {others}." if others else ""))
    if s["combined_accuracy"] is not None:
        out.append(f"**Both orders combined.** The judge also gives the probability that A is better. Averaged "
                   "over both orders (Pairwise-RL's symmetric score, which cancels a fixed preference for one "
                   f"position), it picks the better response in **{pct(s['combined_accuracy'])}** of the {n} "
                   f"pairs{_ci(s['combined_accuracy_ci'])}; chance is 50% here too.")
    return out


def write_report(out: Path, summary: Mapping[str, Any], info: Mapping[str, Any]) -> Path:
    """Write ``summary.json`` and ``report.md`` into ``out``; returns the report's path.

    ``info``: ``judge`` (what the model is), ``random_weights``, ``grader``, ``grader_about``, ``data``,
    ``timings`` (stage -> seconds) and optionally ``tokens`` (prompt, completion per judgment).
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({**summary, "run": dict(info)}, indent=2))
    s = summary
    lines = ["# rm_gallery demo report", "",
             f"**Judge:** {info['judge']}.", f"**Grader:** `{info['grader']}` — {info['grader_about']}",
             f"**Data:** {info['data']}.", ""]
    if info.get("random_weights"):
        lines += ["> This judge has random weights: its verdicts demonstrate the pipeline (rendering, HTTP, "
                  "parsing, both orders, reports), not judging quality.", ""]
    lines += ["## What the judge did", ""]
    lines += [f"- {x}" for x in plain_words(s)]
    short = f"the judge's accuracy is {verdict_on_chance(s['accuracy'], s['accuracy_ci'], s['pairs'])}"
    if s["combined_accuracy"] is not None:
        combined = verdict_on_chance(s["combined_accuracy"], s["combined_accuracy_ci"], s["pairs"])
        short += f"; with both orders combined it is {combined}"
    if (s["parse_failure_rate"] or 0) >= UNREADABLE_NOTE:
        short += f"; {pct(s['parse_failure_rate'])} of its answers could not be read, and each counts as a miss"
    lines += ["", f"**In short:** {short}."]
    lines += ["", "## By domain", "", "| domain | pairs | accuracy | changed its mind |", "|---|---|---|---|"]
    for d, f in s["by_domain"].items():
        cons = f.get("position_consistency")
        lines.append(f"| {d} | {f['pairs']} | {pct(f.get('accuracy'))} | {pct(None if cons is None else 1 - cons)} |")
    boot = s["bootstrap"]
    lines += ["", "## How it was run", "",
              f"- 95% CIs: percentile bootstrap over pairs, {boot['replicates']} replicates, seed {boot['seed']}."]
    if info.get("tokens"):
        pt, ct = info["tokens"]
        lines.append(f"- Tokens per judgment: {pt:.0f} prompt, {ct:.1f} generated (mean).")
    if info.get("timings"):
        lines.append("- Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in info["timings"].items()) + ".")
    lines.append("- Per-pair verdicts, raw answers and probabilities: `results.jsonl`; these figures: "
                 "`summary.json`.")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
