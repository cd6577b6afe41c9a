"""Held-out evaluation of a judge on labelled pairs: accuracy in each order, position consistency, per source, CIs.

Every pair is judged in both presentation orders: ``ab`` shows the chosen response first, ``ba`` second.
A judge's per-order answers are given in the pair's own labels (``"A"`` = chosen, ``"B"`` = rejected,
``"tie"``, or None for an unreadable answer), so ``"A"`` is always correct. The figures:

* ``accuracy`` — the headline, scored as ``rm-gallery bench`` scores a pairwise judge: per pair, the mean over
  the orders judged of 1 (chosen), 0 (rejected) or the error credit for a tie or unreadable answer (0.5,
  chance, by default); for a symmetric judge (one verdict per pair, e.g. the win-probability judge averaging
  both orders) its one verdict is scored instead;
* ``strict_accuracy`` — the same with ties and unreadable answers scored 0;
* ``accuracy_ab`` / ``accuracy_ba``, ``both_correct``, ``consistency`` and ``first_shown_rate`` from
  :func:`rm_gallery.benchmarks.position.position_stats` (an untrained judge often answers the same word in
  every order: its both-order figure alone hides that);
* ``parse_failure_rate`` and per-source accuracies;
* seeded percentile-bootstrap 95% CIs for every number, resampling pairs within each source.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rm_gallery.benchmarks.position import position_stats
from rm_gallery.benchmarks.stats import bootstrap_ci

ORDERS = ("ab", "ba")


@dataclass(frozen=True)
class PairJudgment:
    """One pair's answers: per order (in the pair's labels), and the symmetric verdict when the judge gives one."""

    pair_id: str
    source: str
    orders: Mapping[str, str | None]
    symmetric: str | None = None
    probability: float | None = None  # P(chosen wins), for judges that estimate it
    meta: Mapping[str, Any] = field(default_factory=dict)


def credit(winner: str | None, error_credit: float) -> float:
    """1 for the chosen response, 0 for the rejected one, ``error_credit`` for a tie or an unreadable answer."""
    return 1.0 if winner == "A" else 0.0 if winner == "B" else error_credit


def pair_score(j: PairJudgment, error_credit: float = 0.5) -> float:
    """A pair's credit: a symmetric judge's one verdict (``error_credit`` if it has none), else the mean over
    the orders judged."""
    if j.symmetric is not None or j.meta.get("symmetric") or not j.orders:
        return credit(j.symmetric, error_credit)
    return sum(credit(w, error_credit) for w in j.orders.values()) / len(j.orders)


def _statistic(strata: Mapping[str, Sequence[PairJudgment]], error_credit: float) -> dict[str, float | None]:
    every = [j for v in strata.values() for j in v]
    if not every:
        return {}
    out: dict[str, float | None] = {
        "accuracy": sum(pair_score(j, error_credit) for j in every) / len(every),
        "strict_accuracy": sum(pair_score(j, 0.0) for j in every) / len(every),
    }
    pos = position_stats((j.orders, "A") for j in every)
    for key in ("accuracy_ab", "accuracy_ba", "both_correct", "consistency", "first_shown_rate"):
        out[key] = pos[key]
    answers = [w for j in every for w in j.orders.values()]
    out["parse_failure_rate"] = sum(w is None for w in answers) / len(answers) if answers else None
    for source, items in strata.items():
        if items:
            out[f"source/{source}"] = sum(pair_score(j, error_credit) for j in items) / len(items)
    return out


def summarize(judgments: Sequence[PairJudgment], *, error_credit: float = 0.5, n_boot: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Point estimates, ``ci`` (95% bootstrap intervals) and counts for a judge's answers on held-out pairs."""
    strata: dict[str, list[PairJudgment]] = defaultdict(list)
    for j in judgments:
        strata[j.source].append(j)

    def statistic(s: Mapping[str, Sequence[PairJudgment]]) -> dict[str, float | None]:
        return _statistic(s, error_credit)

    point = statistic(strata)
    ci = bootstrap_ci(strata, statistic, n=n_boot, seed=seed)
    return {"n": len(judgments), "error_credit": error_credit, **point,
            "ci": {k: [round(v[0], 6), round(v[1], 6)] for k, v in ci.items()},
            "sources": {s: len(v) for s, v in sorted(strata.items())}}


def from_probabilities(pair_ids: Sequence[str], sources: Sequence[str], p_ab: Sequence[float | Any],
                       p_ba: Sequence[float | Any]) -> list[PairJudgment]:
    """Judgments of a yes/no judge from P(first shown is better) in each order (Pairwise-RL).

    Per order the answer is the side the judge prefers (p > 0.5 picks the first shown); the symmetric verdict
    uses P(chosen wins) = (p_ab + 1 - p_ba) / 2, as the ``win_probability`` grader does. An order whose answer
    was unreadable (not a float: the parser's ParseFailure) is a None answer, and the pair has no verdict,
    as the grader makes the pair a parse error.
    """
    out = []
    for pid, src, ab, ba in zip(pair_ids, sources, p_ab, p_ba, strict=True):
        readable = {k: v for k, v in (("ab", ab), ("ba", ba)) if isinstance(v, float)}
        orders: dict[str, str | None] = {
            "ab": None if "ab" not in readable else "A" if ab > 0.5 else "B" if ab < 0.5 else "tie",
            "ba": None if "ba" not in readable else "B" if ba > 0.5 else "A" if ba < 0.5 else "tie"}
        if len(readable) < 2:
            out.append(PairJudgment(pid, src, orders, None, None,
                                    {"p_ab": readable.get("ab"), "p_ba": readable.get("ba"), "symmetric": True}))
            continue
        sym = (ab + 1.0 - ba) / 2.0
        verdict = "A" if sym > 0.5 else "B" if sym < 0.5 else "tie"
        out.append(PairJudgment(pid, src, orders, verdict, sym, {"p_ab": ab, "p_ba": ba, "symmetric": True}))
    return out


def from_winners(pair_ids: Sequence[str], sources: Sequence[str], ab: Sequence[str | None],
                 ba: Sequence[str | None]) -> list[PairJudgment]:
    """Judgments of a verdict judge from its parsed winners in each order, *as shown* (A = first shown).

    The ``ba`` answers are mapped back to the pair's labels (shown A is the rejected response there).
    """
    flip = {"A": "B", "B": "A", "tie": "tie", None: None}
    return [PairJudgment(pid, src, {"ab": a, "ba": flip[b]})
            for pid, src, a, b in zip(pair_ids, sources, ab, ba, strict=True)]


def table(summary: Mapping[str, Any], name: str = "") -> str:
    """One markdown row: accuracy [CI], per order, consistency, parse failures."""
    def fmt(key: str) -> str:
        v = summary.get(key)
        if v is None:
            return "n/a"
        ci = summary.get("ci", {}).get(key)
        return f"{100 * v:.1f}" + (f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]" if ci else "")

    return (f"| {name} | {summary['n']} | {fmt('accuracy')} | {fmt('accuracy_ab')} | {fmt('accuracy_ba')} | "
            f"{fmt('consistency')} | {fmt('parse_failure_rate')} |")


TABLE_HEADER = ("| judge | pairs | accuracy % [95% CI] | chosen shown first | chosen shown second | "
                "position consistency | parse failures |\n|---|---|---|---|---|---|---|")


def paired_gain(before: Sequence[PairJudgment], after: Sequence[PairJudgment], *, error_credit: float = 0.5,
                n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Accuracy gain of ``after`` over ``before`` on the same pairs: paired bootstrap CI and McNemar's exact test.

    Pairs are matched by id and resampled together (within each source), so the interval is of the difference
    itself — narrower than comparing two separate intervals. McNemar counts pairs right (symmetric or per-order
    credit of 1) in one run and not in the other.
    """
    from rm_gallery.metaeval.significance import mcnemar_exact

    by_id = {j.pair_id: j for j in before}
    if set(by_id) != {j.pair_id for j in after} or len(by_id) != len(after):
        raise ValueError("paired_gain needs the same pairs, once each, in both runs")
    strata: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for j in after:
        strata[j.source].append((pair_score(by_id[j.pair_id], error_credit), pair_score(j, error_credit)))

    def statistic(s: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, float | None]:
        every = [x for v in s.values() for x in v]
        return {"gain": sum(a - b for b, a in every) / len(every)} if every else {}

    point = statistic(strata)
    ci = bootstrap_ci(strata, statistic, n=n_boot, seed=seed).get("gain")
    every = [x for v in strata.values() for x in v]
    only_after = sum(a == 1.0 and b < 1.0 for b, a in every)
    only_before = sum(b == 1.0 and a < 1.0 for b, a in every)
    return {"n": len(every), "gain": point.get("gain"),
            "ci": None if ci is None else [round(ci[0], 6), round(ci[1], 6)],
            "right_only_after": only_after, "right_only_before": only_before,
            "mcnemar_p": mcnemar_exact(only_after, only_before)}
