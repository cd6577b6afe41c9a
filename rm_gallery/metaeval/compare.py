"""Is judge A better than judge B on the same samples? A paired comparison of two finished runs.

Alignment: a judgment is identified by (sample id, presentation order) — ``ab``, ``ba``, or ``ab`` alone for a
pointwise judge. Both runs must hold the same labelled judgments; otherwise the comparison stops and says
how many judgments each run alone has, unless ``intersect=True``, which compares on the shared judgments and
records the counts left out. Labels must agree between the runs (the same data).

* Unit (``unit``): ``judgment`` (default) compares every aligned judgment; ``pair`` compares pairs, a pair being
  right when every shared order of it is right (a stricter, position-robust accuracy whose items are
  independent, as McNemar's test assumes; the two orders of one pair are not).
* Accuracy is strict: right when the verdict equals the label (tie verdicts and failures are wrong).
* Interval: paired percentile bootstrap of accuracy(A) - accuracy(B), resampling pairs (with all their aligned
  judgments) within each subset, seeded (:func:`rm_gallery.benchmarks.stats.bootstrap_ci`).
* Test: McNemar's exact test on the discordant items, overall and per subset; with several subsets the subset
  p-values are Holm-corrected as one family (the overall test is reported on its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from rm_gallery.benchmarks.stats import bootstrap_ci
from rm_gallery.metaeval.runs import MetaEvalError, Run
from rm_gallery.metaeval.significance import holm, mcnemar_exact

Unit = Literal["judgment", "pair"]
UNITS: tuple[Unit, ...] = ("judgment", "pair")
#: One aligned pair: (A right, B right) per compared item of it.
Item = tuple[tuple[bool, bool], ...]

_UNIT_TEXT = {"judgment": "one judgment = (sample id, presentation order)",
              "pair": "one pair, right when every shared order of it is right"}


def _keyed(run: Run) -> dict[tuple[str, str], tuple[bool, str, str]]:
    """``{(sample id, order): (right, label, stratum)}`` for the labelled judgments of a run."""
    out: dict[tuple[str, str], tuple[bool, str, str]] = {}
    for p in run.pairs:
        if p.label not in ("A", "B", "tie"):
            continue
        for order, verdict in p.judgments():
            key = (p.id, order)
            if key in out:
                raise MetaEvalError(f"{run.source}: sample id {p.id!r} appears twice; compare aligns runs by sample "
                                    "id, so ids must be unique")
            out[key] = (verdict == p.label, p.label, p.stratum)
    return out


def _examples(keys: set[tuple[str, str]]) -> str:
    """`` (id/order, ...)`` for up to three keys; nothing for none."""
    if not keys:
        return ""
    return " (" + ", ".join(f"{i}/{o}" for i, o in sorted(keys)[:3]) + (" ..." if len(keys) > 3 else "") + ")"


def align(a: Run, b: Run, *, unit: Unit = "judgment", intersect: bool = False
          ) -> tuple[dict[str, list[Item]], list[str]]:
    """Aligned items by subset (A's strata), and notes; raises when the runs do not cover the same judgments."""
    if unit not in UNITS:
        raise MetaEvalError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    ka, kb = _keyed(a), _keyed(b)
    shared = ka.keys() & kb.keys()
    only_a, only_b = ka.keys() - shared, kb.keys() - shared
    notes = []
    if only_a or only_b:
        counts = (f"{len(only_a)} judgments only in A{_examples(only_a)}, {len(only_b)} only in B"
                  f"{_examples(only_b)}, {len(shared)} in both")
        if not intersect:
            raise MetaEvalError(f"the runs do not cover the same judgments: {counts}. Compare runs of the same data "
                                "and orders, or pass --intersect to compare on the shared judgments")
        notes.append(f"compared on the intersection only: {counts}")
    if not shared:
        raise MetaEvalError("the runs share no labelled judgment: nothing to compare")
    clash = sorted(k[0] for k in shared if ka[k][1] != kb[k][1])
    if clash:
        raise MetaEvalError(f"the runs label {len(clash)} shared samples differently (e.g. {clash[0]!r}): they were "
                            "not run on the same data")
    by_pair: dict[str, list[tuple[bool, bool]]] = {}
    strata: dict[str, str] = {}
    for key in sorted(shared):
        by_pair.setdefault(key[0], []).append((ka[key][0], kb[key][0]))
        strata[key[0]] = ka[key][2]
    items: dict[str, list[Item]] = {}
    for pid, rights in by_pair.items():
        item = tuple(rights) if unit == "judgment" else ((all(x for x, _ in rights), all(y for _, y in rights)),)
        items.setdefault(strata[pid], []).append(item)
    return dict(sorted(items.items())), notes


def _counts(items: Sequence[Item]) -> dict[str, Any]:
    flat = [x for item in items for x in item]
    n = len(flat)
    right_a = sum(x for x, _ in flat)
    right_b = sum(y for _, y in flat)
    only_a = sum(x and not y for x, y in flat)
    only_b = sum(y and not x for x, y in flat)
    return {"n": n, "accuracy_a": right_a / n if n else None, "accuracy_b": right_b / n if n else None,
            "diff": (right_a - right_b) / n if n else None, "only_a": only_a, "only_b": only_b,
            "p": mcnemar_exact(only_a, only_b)}


def difference_statistic(strata: Mapping[str, Sequence[Item]]) -> dict[str, float | None]:
    """accuracy(A) - accuracy(B) overall (``headline``) and per subset (``subset/<name>``), judgment-weighted."""
    out: dict[str, float | None] = {}
    total = n = 0
    for name, items in strata.items():
        flat = [int(x) - int(y) for item in items for x, y in item]
        out[f"subset/{name}"] = sum(flat) / len(flat) if flat else None
        total += sum(flat)
        n += len(flat)
    out["headline"] = total / n if n else None
    return out


def compare_runs(a: Run, b: Run, *, unit: Unit = "judgment", intersect: bool = False, n_boot: int = 1000,
                 seed: int = 0) -> dict[str, Any]:
    """The comparison as a JSON-ready dict: overall and per-subset rows, CIs, tests, conclusion and notes."""
    strata, notes = align(a, b, unit=unit, intersect=intersect)
    cis = bootstrap_ci(strata, difference_statistic, n=n_boot, seed=seed)

    def ci(key: str) -> list[float] | None:
        return list(cis[key]) if key in cis else None

    overall = {**_counts([i for items in strata.values() for i in items]), "ci": ci("headline")}
    subsets = {name: {**_counts(items), "ci": ci(f"subset/{name}")} for name, items in strata.items()}
    if len(subsets) > 1:
        for name, p in zip(subsets, holm([s["p"] for s in subsets.values()]), strict=True):
            subsets[name]["p_holm"] = p
    else:
        subsets = {}  # one subset is the overall row
    return {"a": {"name": a.name, "source": str(a.source), **a.info},
            "b": {"name": b.name, "source": str(b.source), **b.info},
            "unit": unit, "unit_text": _UNIT_TEXT[unit], "bootstrap": n_boot, "seed": seed,
            "overall": overall, "subsets": subsets, "conclusion": conclusion(overall), "notes": notes}


def conclusion(overall: Mapping[str, Any], alpha: float = 0.05) -> str:
    """One sentence: which judge is more accurate, and whether the difference is significant at ``alpha``."""
    diff, p = overall["diff"], overall["p"]
    if not diff:
        return f"A and B are equally accurate on these {overall['n']} items (McNemar p = {p:.3g})."
    better, worse = ("A", "B") if diff > 0 else ("B", "A")
    ci = overall["ci"]
    span = f" (95% CI [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}])" if ci else ""
    verdict = "significant" if p < alpha else "not significant"
    return (f"{better} is more accurate than {worse} by {100 * abs(diff):.1f} points{span}; McNemar p = {p:.3g}, "
            f"{verdict} at {alpha:g}.")
