"""RM-Gallery's generative pairwise judge: ``<analysis>...</analysis><preference>A|B|tie</preference>``.

The parser is a pure function shared by evaluation and RL rewards (:mod:`rm_gallery.training`). The last
verdict the judge writes decides: the judge's final ``<preference>`` tag, read by
:func:`~rm_gallery.graders.verdicts.read_side`. An analysis that quotes a response's own
``<preference>A</preference>`` is overridden by the judge's final tag; a final tag that is unreadable,
unclosed or names both sides is a parse error, never a fallback to an earlier tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

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
from rm_gallery.graders.tags import ascii_lower, last_block
from rm_gallery.graders.verdicts import normalize_winner, tag_verdict
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import ParseFailure, Result, Sample, Verdict, Winner

__all__ = ["PairwiseComparisonTemplate", "PairwiseGrader", "extract_analysis", "normalize_winner", "parse_preference"]


def parse_preference(text: str) -> Winner | ParseFailure:
    """The winner named by the judge's final ``<preference>`` tag; never raises.

    "The last verdict the judge writes decides": ``<preference>B</preference> ... <preference>not sure
    </preference>`` is a failure, not B. The tag may hold natural forms ("Response B is better", "**A**",
    "<b>A</b>", "Both are equally good"); it must name exactly one of A, B or tie.
    """
    return tag_verdict(text, "preference")


def extract_analysis(text: str) -> str | None:
    """The judge's reasoning: the last ``<analysis>`` block, or the text before the final verdict tag."""
    block = last_block(text, "analysis")
    if block is not None:
        return block or None
    cut = ascii_lower(text).rfind("<preference>")
    head = text[:cut] if cut >= 0 else ""
    return head.strip() or None


@register_grader("pairwise")
class PairwiseGrader:
    """Compares responses A and B; answers <analysis> then <preference>A|B|tie</preference>."""

    #: The pure parser, exposed so training rewards reuse exactly this logic.
    parser = staticmethod(parse_preference)
    default_template = "pairwise"
    #: The answer format ``constrain=True`` forces: a bounded analysis, then one preference.
    output_regex = r"<analysis>[^<]{1,600}</analysis>\n<preference>(A|B|tie)</preference>"

    def __init__(self, model: ChatModel, *, constrain: bool = False, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str | None = None) -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces :attr:`output_regex` on the answer.

        ``name`` defaults to the template's name (``pairwise``; the variants in :mod:`.pairwise_variants` reuse
        this constructor with their own template, parser and format).
        """
        self.name = name or self.default_template
        forced = format_constraint(self.output_regex) if constrain else {}
        self.judge = LLMJudge(model, template or self.default_template,
                              {"temperature": 0.0, "max_tokens": 1024, **forced, **(params or {})},
                              provides=PAIR_VARIABLES, owner=f"grader {self.name!r}")

    def render(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> list[dict[str, str]]:
        """The chat messages this grader sends for ``sample`` (used by training to build prompts)."""
        return self.judge.render(pair_variables(sample, order))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(pair_variables(sample), ctx)
        text = completion.text
        winner = parse_preference(text)
        if isinstance(winner, ParseFailure):
            return parse_error(completion, winner)
        reason = completion.choices[0].reasoning or extract_analysis(text)
        return Verdict(winner=winner, raw=text, reason=reason, usage=completion.usage)


class PairwiseComparisonTemplate(BaseModel):
    """RM-Gallery's documented output template: ``PairwiseComparisonTemplate.parse(text).preference``.

    ``preference`` is "A", "B", "tie" or None when the text holds no readable verdict; parsing goes
    through :func:`parse_preference`, the same function the grader and the training rewards use.
    """

    analysis: str | None = None
    preference: Winner | None = None

    @classmethod
    def parse(cls, text: str) -> PairwiseComparisonTemplate:
        winner = parse_preference(text)
        return cls(analysis=extract_analysis(text) if isinstance(text, str) else None,
                   preference=None if isinstance(winner, ParseFailure) else winner)
