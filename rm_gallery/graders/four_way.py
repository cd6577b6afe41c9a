"""RewardBench 2's generative protocol: the judge sees four answers and names the best as ``[[A]]``..``[[D]]``.

The parser is pure and the last verdict token decides (:func:`~rm_gallery.graders.verdicts.bracket_verdict`):
reasoning that quotes other tokens never decides, and a final token that is unreadable (``[[E]]``) or joined to
another letter ("[[A]] or [[C]]") is a parse error, never a fallback to an earlier token.
The result is a :class:`Rank` whose ``order[0]`` is the pick; the rest of the order carries no information
(``metadata["best_only"]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import GradeContext, InvalidSample, LLMJudge, format_constraint, parse_error
from rm_gallery.graders.registry import register_grader
from rm_gallery.graders.verdicts import bracket_verdict
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import ParseFailure, Rank, Result, Sample

LETTERS = "ABCD"
VARIABLES = frozenset({"query", "conversation", "response_a", "response_b", "response_c", "response_d"})


def parse_four_way(text: str) -> int | ParseFailure:
    """Index (0-3) of the answer named by the last ``[[A]]``..``[[D]]`` token (``[[c]]``, ``［［Ｄ］］`` read
    too); never raises."""
    side = bracket_verdict(text, LETTERS)
    if isinstance(side, ParseFailure):
        return side
    if side not in LETTERS:
        return ParseFailure(reason="the final verdict is a tie; name one of [[A]]..[[D]]", code="out_of_range")
    return LETTERS.index(side)


@register_grader("four_way")
class FourWayGrader:
    """RewardBench 2 judge: picks the best of four responses, answering [[A]], [[B]], [[C]] or [[D]]."""

    parser = staticmethod(parse_four_way)
    default_template = "four_way"
    #: The answer format ``constrain=True`` forces: a bounded explanation without brackets, then one pick.
    output_regex = r"[^\[\]]{1,1200}\[\[(A|B|C|D)\]\]"

    def __init__(self, model: ChatModel, *, constrain: bool = False, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str = "four_way") -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces :attr:`output_regex` on the answer."""
        self.name = name
        forced = format_constraint(self.output_regex) if constrain else {}
        self.judge = LLMJudge(model, template or self.default_template, {"temperature": 0.0, "max_tokens": 1024,
                                                                 **forced, **(params or {})},
                              provides=VARIABLES, owner=f"grader {name!r}")

    def variables(self, sample: Sample) -> dict[str, Any]:
        if len(sample.responses) != 4:
            raise InvalidSample(f"sample {sample.id}: the four-way judge needs 4 responses, "
                                f"got {len(sample.responses)}")
        out: dict[str, Any] = {"query": sample.query, "conversation": [m.model_dump() for m in sample.messages]}
        for letter, response in zip(LETTERS, sample.responses, strict=True):
            out[f"response_{letter.lower()}"] = response.content
        return out

    def render(self, sample: Sample) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(self.variables(sample), ctx)
        picked = parse_four_way(completion.text)
        if isinstance(picked, ParseFailure):
            return parse_error(completion, picked)
        order = (picked, *(i for i in range(4) if i != picked))
        return Rank(order=order, raw=completion.text, usage=completion.usage,
                    metadata={"choice": LETTERS[picked], "best_only": True})
