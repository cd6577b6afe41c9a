"""Pairwise-RL's yes/no judge: the win probability read from the logprobs of one generated token.

For an order (y, y*): p(y over y*) = P(yes) / (P(yes) + P(no)) over the top logprobs of the answer
token. The symmetric score averages both orders: P(A > B) = (p(A over B) + 1 - p(B over A)) / 2, which
cancels a judge's position bias to first order. An endpoint that returns no logprobs is a clear error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import PAIR_VARIABLES, GradeContext, LLMJudge, pair_variables, parse_error
from rm_gallery.graders.logprobs import require_logprobs, yes_no_probability
from rm_gallery.graders.registry import register_grader
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import ParseFailure, Result, Sample, Verdict

DEFAULT_RULE = ("The better response answers the question correctly, completely and helpfully, follows every "
                "instruction in the question, and contains no harmful or fabricated content.")


def symmetric_win_probability(p_ab: float, p_ba: float) -> float:
    """P(A beats B) from p(A over B) (A shown first) and p(B over A) (B shown first)."""
    return (p_ab + (1.0 - p_ba)) / 2.0


def winner_from_probability(p: float, margin: float = 0.0) -> str:
    return "A" if p > 0.5 + margin else "B" if p < 0.5 - margin else "tie"


@register_grader("win_probability")
class WinProbabilityGrader:
    """Asks 'is response 1 better than response 2? yes or no' in both orders; P(A wins) from logprobs."""

    parser = staticmethod(yes_no_probability)
    default_template = "win_probability"

    def __init__(self, model: ChatModel, *, rule: str = DEFAULT_RULE, symmetric: bool = True,
                 constrain: bool = False, tie_margin: float = 0.0, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str = "win_probability") -> None:
        """``constrain=True`` adds vLLM's structured-output choice ["yes", "no"] (for weak or untrained judges)."""
        self.name, self.rule, self.symmetric, self.tie_margin = name, rule, symmetric, tie_margin
        base: dict[str, Any] = {"temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": 20}
        if constrain:
            base["extra_body"] = {"structured_outputs": {"choice": ["yes", "no"]}}
        self.judge = LLMJudge(model, template or self.default_template, {**base, **(params or {})},
                              provides=PAIR_VARIABLES | {"rule"}, owner=f"grader {name!r}")

    def variables(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> dict[str, Any]:
        return {**pair_variables(sample, order), "rule": sample.metadata.get("rule", self.rule)}

    def render(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample, order))

    async def probability(self, sample: Sample, order: tuple[int, int], ctx: GradeContext | None
                          ) -> tuple[float | ParseFailure, Any]:
        """p(first shown over second shown) for one order, and the completion it came from."""
        completion = await self.judge.ask(self.variables(sample, order), ctx)
        return yes_no_probability(require_logprobs(completion, self.name)), completion

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        orders = [(0, 1), (1, 0)] if self.symmetric else [(0, 1)]
        outs = await asyncio.gather(*(self.probability(sample, o, ctx) for o in orders))
        usage = outs[0][1].usage if len(outs) == 1 else outs[0][1].usage + outs[1][1].usage
        records = {key: self._order_record(p, completion, swapped=key == "ba")
                   for key, (p, completion) in zip(("ab", "ba"), outs, strict=False)}
        meta: dict[str, Any] = {"orders": records, "symmetric": True} if self.symmetric else {}
        for p, completion in outs:
            if isinstance(p, ParseFailure):
                return parse_error(completion, p, metadata=meta).model_copy(update={"usage": usage})
        p_ab = outs[0][0]
        assert isinstance(p_ab, float)
        meta["p_ab"] = prob = p_ab
        if self.symmetric:
            p_ba = outs[1][0]
            assert isinstance(p_ba, float)
            meta["p_ba"] = p_ba
            prob = symmetric_win_probability(p_ab, p_ba)
        return Verdict(winner=winner_from_probability(prob, self.tie_margin), probability=prob,  # type: ignore[arg-type]
                       raw=outs[0][1].text, usage=usage, metadata=meta)

    def _order_record(self, p: float | ParseFailure, completion: Any, *, swapped: bool) -> dict[str, Any]:
        """One order's answer in the original labels (``ba`` shows B first), as the debiasing wrapper records it;
        the benchmark's position statistics read these, while the pair is scored on the symmetric verdict."""
        if isinstance(p, ParseFailure):
            return {"kind": "parse_error", "raw": completion.text, "message": p.reason}
        p_a = 1.0 - p if swapped else p  # P(A beats B) as this order alone says it
        return {"kind": "verdict", "raw": completion.text, "probability": p_a,
                "winner": winner_from_probability(p_a, self.tie_margin)}
