"""The meta-evaluation of one judge on labelled pairs: every section in one JSON-ready dict.

What is compared with what:

* **Agreement** is counted in presentation order: a judgment of the swapped order ``ba`` is read as the judge
  saw it (its verdict and the label both flipped), and a pointwise decision, which does not depend on order,
  counts once in each orientation. Data whose chosen response is always A (RewardBench-style files) then still
  has both classes, where in original labels kappa would be 0 (or undefined) by construction.
* **Calibration**, for whatever the results hold:

  - ``probability``: the pair's P(A beats B) (``Verdict.probability``; the mean over orders for a both-order
    judge) against the label (1 if A is preferred, 0 if B; tie labels left out);
  - ``confidence``: each judgment's stated confidence in its own verdict (``Verdict.confidence``) against
    whether that verdict equals the label;
  - ``score_gap``: two pointwise scores (e.g. rubric ``score_mode="expected"``) mapped to P(A beats B) by the
    Bradley-Terry logistic of their difference at a fixed temperature, against the label; the in-sample
    maximum-likelihood temperature and the calibration it gives are reported beside it as an option.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from rm_gallery.metaeval.agreement import agreement_summary
from rm_gallery.metaeval.bias import length_section, markdown_section, position_section, style_section
from rm_gallery.metaeval.calibration import (
    DEFAULT_BINS,
    TEMPERATURE_RANGE,
    calibration_summary,
    fit_temperature,
    score_gap_probability,
)
from rm_gallery.metaeval.cost import cost_section
from rm_gallery.metaeval.pairs import Pair
from rm_gallery.metaeval.style import LENGTH_MARGIN
from rm_gallery.types import Winner

_FLIP: dict[Any, Any] = {"A": "B", "B": "A", "tie": "tie", None: None}

#: What each calibration section compares, in words (shown in reports).
CALIBRATION_TARGETS = {
    "probability": "P(A wins) against the label",
    "first_shown": "P(first shown wins), per order, against the label",
    "confidence": "stated confidence against whether the verdict was right",
    "score_gap": "logistic of the score gap against the label",
}


def presented(pairs: Sequence[Pair]) -> Iterator[tuple[Winner, Winner | None]]:
    """``(label, verdict)`` per judgment of a labelled pair, in presentation order (see the module docstring)."""
    for p in pairs:
        if p.label not in ("A", "B", "tie"):
            continue
        for order, verdict in p.judgments():
            if p.pointwise:
                yield p.label, verdict
                yield _FLIP[p.label], _FLIP[verdict]
            elif order == "ba":
                yield _FLIP[p.label], _FLIP[verdict]
            else:
                yield p.label, verdict


def calibration_sections(pairs: Sequence[Pair], *, bins: int = DEFAULT_BINS, temperature: float = 1.0
                         ) -> dict[str, dict[str, Any]]:
    """One calibration summary per kind of probability the pairs carry (none: an empty dict)."""
    out: dict[str, dict[str, Any]] = {}
    binary = [p for p in pairs if p.label in ("A", "B")]
    probs = [(p.probability, float(p.label == "A")) for p in binary if p.probability is not None]
    if probs:
        out["probability"] = calibration_summary([x for x, _ in probs], [y for _, y in probs], bins)
    # In presentation order: on data whose chosen response is always A, "P(A wins)" has one outcome only (ECE is then
    # 1 - mean p); the first-shown side is A in one order and B in the other, so both outcomes occur.
    first = [(q, float(p.label == ("A" if order == "ab" else "B"))) for p in binary
             for order, q in p.order_probabilities.items()]
    if first:
        out["first_shown"] = calibration_summary([x for x, _ in first], [y for _, y in first], bins)
    conf = [(c, float(p.verdicts.get(order) == p.label)) for p in pairs if p.label in ("A", "B", "tie")
            for order, c in p.confidences.items()]
    if conf:
        out["confidence"] = calibration_summary([x for x, _ in conf], [y for _, y in conf], bins)
    gaps = [(p.scores[0] - p.scores[1], float(p.label == "A")) for p in binary if p.scores is not None]
    if gaps:
        outcomes = [y for _, y in gaps]
        section = calibration_summary([score_gap_probability(g, 0.0, temperature) for g, _ in gaps], outcomes, bins)
        fitted = fit_temperature([g for g, _ in gaps], outcomes)
        refit = None
        if fitted is not None:
            refit = calibration_summary([score_gap_probability(g, 0.0, fitted) for g, _ in gaps], outcomes, bins)
            refit = {k: refit[k] for k in ("ece", "brier")}
        at_bound = fitted is not None and any(math.isclose(fitted, b, rel_tol=1e-3) for b in TEMPERATURE_RANGE)
        out["score_gap"] = {**section, "temperature": temperature, "fitted_temperature": fitted,
                            "fitted_at_bound": at_bound, "fitted_in_sample": refit}
    for kind, section in out.items():
        section["against"] = CALIBRATION_TARGETS[kind]
    return out


def meta_summary(pairs: Sequence[Pair], *, run: Mapping[str, Any] | None = None, bins: int = DEFAULT_BINS,
                 length_margin: int = LENGTH_MARGIN, temperature: float = 1.0, price_in: float | None = None,
                 price_out: float | None = None) -> dict[str, Any]:
    """Position, length and style, agreement, calibration and cost of the judge behind ``pairs``."""
    labelled = [p for p in pairs if p.label in ("A", "B", "tie")]
    notes = []
    if len(labelled) < len(pairs):
        notes.append(f"{len(pairs) - len(labelled)} pairs have no label: only position, length, markdown and cost "
                     "use them")
    agreement = agreement_summary(presented(pairs))
    agreement["errors_by_kind"] = dict(sorted(Counter(k for p in pairs for k in p.errors.values()).items()))
    if any(p.pointwise for p in labelled):
        notes.append("pointwise decisions are counted in both orientations for agreement (they do not depend on "
                     "order); position statistics do not apply")
    return {
        "pairs": len(pairs), "labelled": len(labelled), "judgments": sum(len(p.verdicts) for p in pairs),
        "strata": dict(sorted(Counter(p.stratum for p in pairs).items())),
        "position": position_section(pairs),
        "length": length_section(pairs, length_margin),
        "markdown": markdown_section(pairs),
        "styles": style_section(pairs),
        "agreement": agreement,
        "calibration": calibration_sections(pairs, bins=bins, temperature=temperature),
        "cost": cost_section(pairs, run, price_in=price_in, price_out=price_out),
        "settings": {"bins": bins, "length_margin": length_margin, "score_temperature": temperature},
        "notes": notes,
    }
