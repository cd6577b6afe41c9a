"""ReasonGenRM-style reasoning judge: free reasoning, then a final ``[[A]]`` / ``[[B]]`` (``[[C]]`` = tie).

The last verdict token decides (:func:`~rm_gallery.graders.verdicts.bracket_verdict`): reasoning that quotes
tokens in earlier sentences never counts, and a final token that is unreadable, out of range (``[[C]]``
when ties are not allowed) or joined to a token for the other side ("[[A]] or [[B]]?") is a parse error,
never a fallback to an earlier token. The reasoning is its own field: the server's ``reasoning_content``
when it sends one, else the text before the final verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import (
    PAIR_VARIABLES,
    GradeContext,
    LLMJudge,
    format_constraint,
    pair_variables,
    parse_error,
)
from rm_gallery.graders.registry import register_grader
from rm_gallery.graders.verdicts import bracket_verdict, last_token_start
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import ParseFailure, Result, Sample, Verdict, Winner

_TOKENS: dict[str, Winner] = {"A": "A", "B": "B", "C": "tie", "tie": "tie"}


def parse_bracket_verdict(text: str, *, allow_tie: bool = True) -> Winner | ParseFailure:
    """The winner named by the last ``[[X]]`` token in ``text``; never raises.

    Natural forms read (``[[a]]``, ``[[tie]]``, ``［［Ｂ］］``, ``[[**A**]]``). With ``allow_tie=False`` a final
    ``[[C]]`` (or ``[[tie]]``) is out of range: a parse error (code ``out_of_range``), not the token before it.
    """
    side = bracket_verdict(text, "ABC")
    if isinstance(side, ParseFailure):
        return side
    winner = _TOKENS[side]
    if winner == "tie" and not allow_tie:
        return ParseFailure(reason="the final verdict is a tie ([[C]]), which this judge may not give",
                            code="out_of_range")
    return winner


def reasoning_before_verdict(text: str) -> str | None:
    """The text before the last verdict token (the judge's reasoning when the server sent none)."""
    start = last_token_start(text)
    head = text[:start] if start is not None else text
    return head.strip() or None


@register_grader("reasoning")
class ReasoningJudgeGrader:
    """Impartial judge that reasons first, then answers [[A]] or [[B]] (or [[C]] for a tie)."""

    parser = staticmethod(parse_bracket_verdict)
    default_template = "reasoning_judge"

    def __init__(self, model: ChatModel, *, allow_tie: bool = True, constrain: bool = False,
                 template: str | PromptTemplate | None = None, params: Mapping[str, Any] | None = None,
                 name: str = "reasoning") -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces :meth:`output_regex` on the answer."""
        self.name = name
        self.allow_tie = allow_tie
        forced = format_constraint(self.output_regex(allow_tie)) if constrain else {}
        self.judge = LLMJudge(model, template or self.default_template,
                              {"temperature": 0.0, "max_tokens": 2048, **forced, **(params or {})},
                              provides=PAIR_VARIABLES | {"allow_tie"}, owner=f"grader {name!r}")

    @staticmethod
    def output_regex(allow_tie: bool = True) -> str:
        """The answer format ``constrain=True`` forces: bounded reasoning without brackets, then one verdict."""
        return r"[^\[\]]{1,1200}\[\[(" + ("A|B|C" if allow_tie else "A|B") + r")\]\]"

    def variables(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> dict[str, Any]:
        return {**pair_variables(sample, order), "allow_tie": self.allow_tie}

    def render(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample, order))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(self.variables(sample), ctx)
        text = completion.text
        winner = parse_bracket_verdict(text, allow_tie=self.allow_tie)
        if isinstance(winner, ParseFailure):
            return parse_error(completion, winner)
        reasoning = completion.choices[0].reasoning or reasoning_before_verdict(text)
        return Verdict(winner=winner, raw=text, reason=reasoning, usage=completion.usage)
