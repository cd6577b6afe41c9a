"""Position debiasing and voting for any pairwise grader (composition: it wraps the grader).

Modes:
* ``single``: one judgment in the given order.
* ``both``: judge (A, B) and (B, A); agreeing orders give that verdict, disagreeing ones follow
  ``on_disagree`` (``tie`` by default, or ``first`` to keep the first order's verdict).
* ``swap``: one judgment in an order chosen by a coin seeded on (seed, sample id), so a run is
  reproducible while positions are balanced across the dataset.

``votes=n`` repeats each judgment n times as distinct rollouts (use temperature > 0) and takes the
majority. Every per-order outcome and raw output is kept in ``metadata["orders"]``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from typing import Any, Literal

from rm_gallery.graders.base import NO_CACHE, GradeContext, Grader
from rm_gallery.graders.registry import create_grader, register_grader
from rm_gallery.types import GraderError, Result, Sample, Usage, Verdict, Winner

Mode = Literal["single", "both", "swap"]
OnDisagree = Literal["tie", "first"]
_FLIP: dict[Winner, Winner] = {"A": "B", "B": "A", "tie": "tie"}


def swap_sample(sample: Sample) -> Sample:
    """The same sample with responses A and B exchanged (and its label flipped to match)."""
    if len(sample.responses) != 2:
        return sample
    label = sample.label
    if label is not None and label.preferred is not None:
        label = label.model_copy(update={"preferred": _FLIP[label.preferred]})
    return sample.model_copy(update={"responses": sample.responses[::-1], "label": label})


def seeded_swap(seed: int, sample_id: str) -> bool:
    """A reproducible fair coin per (seed, sample): True means present B first."""
    return hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[0] & 1 == 1



def majority(winners: list[Winner]) -> Winner:
    """Most common winner; a tie for first place between A and B is a tie."""
    counts = Counter(winners).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"
    return counts[0][0]


class PositionDebiasedGrader:
    """Wraps a pairwise grader with order control and voting; see the module docstring."""

    def __init__(self, grader: Grader, *, mode: Mode = "both", on_disagree: OnDisagree = "tie", votes: int = 1,
                 seed: int | None = None, name: str | None = None) -> None:
        if mode not in ("single", "both", "swap"):
            raise ValueError(f"mode must be single, both or swap, got {mode!r}")
        if on_disagree not in ("tie", "first"):
            raise ValueError(f"on_disagree must be 'tie' or 'first', got {on_disagree!r}")
        if votes < 1:
            raise ValueError("votes must be >= 1")
        self.grader = grader
        self.mode = mode
        self.on_disagree = on_disagree
        self.votes = votes
        self.seed = seed
        self.name = name or f"{grader.name}[{mode}]"

    async def _one_order(self, sample: Sample, swapped: bool, ctx: GradeContext) -> Result:
        """Judge one presentation order (with voting); the verdict is mapped back to the original labels."""
        shown = swap_sample(sample) if swapped else sample
        if self.votes == 1:
            runs = [await self.grader.grade(shown, ctx)]
        else:
            runs = list(await asyncio.gather(*(self.grader.grade(shown, ctx.for_rollout(ctx.rollout + i))
                                               for i in range(self.votes))))
        ok = [r for r in runs if isinstance(r, Verdict)]
        if not ok:
            return runs[0].model_copy(update={"usage": Usage.total(runs)})
        winners = [_FLIP[r.winner] if swapped else r.winner for r in ok]
        probs = [r.probability for r in ok if r.probability is not None]
        p = sum(probs) / len(probs) if len(probs) == len(ok) else None
        if p is not None and swapped:
            p = 1.0 - p
        confs = [r.confidence for r in ok if r.confidence is not None]  # about its own verdict: no flip
        conf = sum(confs) / len(confs) if len(confs) == len(ok) else None
        meta = {"votes": winners} if self.votes > 1 else {}
        return Verdict(winner=majority(winners), probability=p, confidence=conf, raw=ok[0].raw, reason=ok[0].reason,
                       usage=Usage.total(runs), metadata=meta)

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        ctx = ctx or NO_CACHE
        seed = ctx.seed if self.seed is None else self.seed
        if self.mode == "both":
            ab, ba = await asyncio.gather(self._one_order(sample, False, ctx), self._one_order(sample, True, ctx))
            orders = {"ab": ab, "ba": ba}
        else:
            swapped = self.mode == "swap" and seeded_swap(seed, sample.id)
            orders = {"ba" if swapped else "ab": await self._one_order(sample, swapped, ctx)}
        meta: dict[str, Any] = {"orders": {k: _order_record(v) for k, v in orders.items()}}
        usage = Usage.total(list(orders.values()))
        failed = [v for v in orders.values() if not isinstance(v, Verdict)]
        if failed:
            err = failed[0]
            assert isinstance(err, GraderError)
            return err.model_copy(update={"usage": usage, "metadata": {**err.metadata, **meta}})
        verdicts = [v for v in orders.values() if isinstance(v, Verdict)]
        if len(verdicts) == 1:
            v = verdicts[0]
            return v.model_copy(update={"metadata": meta})
        ab_v, ba_v = verdicts
        consistent = ab_v.winner == ba_v.winner
        meta["consistent"] = consistent
        winner: Winner = ab_v.winner if consistent or self.on_disagree == "first" else "tie"
        probs = [v.probability for v in verdicts]
        p = None if None in probs else (probs[0] + probs[1]) / 2  # type: ignore[operator]
        return Verdict(winner=winner, probability=p, raw=ab_v.raw, reason=ab_v.reason, usage=usage, metadata=meta)


def _order_record(r: Result) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": r.kind, "raw": r.raw}
    if isinstance(r, Verdict):
        out["winner"] = r.winner
        if "votes" in r.metadata:
            out["votes"] = r.metadata["votes"]
        if r.probability is not None:
            out["probability"] = r.probability
        if r.confidence is not None:
            out["confidence"] = r.confidence
    elif isinstance(r, GraderError):
        out["message"] = r.message
    return out


@register_grader("debiased")
def debiased(grader: str | Grader = "pairwise", *, model: Any = None, mode: Mode = "both",
             on_disagree: OnDisagree = "tie", votes: int = 1, seed: int | None = None, name: str | None = None,
             **grader_kwargs: Any) -> PositionDebiasedGrader:
    """Any pairwise grader judged in both orders (or a seeded order), with optional majority voting."""
    if model is not None:
        grader_kwargs["model"] = model
    inner = create_grader(grader, **grader_kwargs) if isinstance(grader, str) else grader
    return PositionDebiasedGrader(inner, mode=mode, on_disagree=on_disagree, votes=votes, seed=seed, name=name)
