"""RM-Gallery / OpenJudge's relevance judge: how relevant a response is to the query, as an integer 1-5.

The template (``prompts/relevance.j2``) keeps RM-Gallery's criteria, guidance and scale word for word:
5 "Highly relevant with comprehensive information and helpful insights", 4 "Fully relevant with sufficient
information covering key aspects", 3 "Partially relevant but missing important details or components",
2 "Loosely related but lacks meaningful or specific information", 1 "Completely irrelevant or off-topic";
the judge answers ``{"score": <1-5>, "reason": "..."}``. Optional ``context`` and ``reference_response`` come
from the sample's metadata (or :meth:`RelevanceGrader.aevaluate`'s arguments), as in OpenJudge.

It is a pointwise judge, and RM-Gallery's "Generative Training (Pairwise)" runs it on comparison data. So
:meth:`RelevanceGrader.grade` scores *every* response of a sample: one response gives a Score, two give a
Verdict (the higher score wins, equal scores are a tie; both scores and reasons in ``metadata``), more give
a Rank. Any response it cannot score makes the whole result that error: a comparison never rests on one side.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import GradeContext, InvalidSample, LLMJudge, format_constraint, parse_error
from rm_gallery.graders.listwise import rank_by, score_responses
from rm_gallery.graders.registry import register_grader
from rm_gallery.graders.rubric import decide
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import GraderError, Message, ParseFailure, Rank, Response, Result, Sample, Score, Verdict

SCALE = (1.0, 5.0)
RELEVANCE_VARIABLES = frozenset({"query", "conversation", "response", "context", "reference_response"})
_SCORE_KEY = re.compile(r"""["']score["']\s*:\s*""", re.IGNORECASE)
_SCORE_VALUE = re.compile(r"""(["']?)([+-]?\d+(?:\.\d+)?)\1\s*(?=[,}\n]|$)""")
_REASON = re.compile(r"""["']reason["']\s*:\s*"((?:[^"\\]|\\.)*)\"""", re.IGNORECASE)


@dataclass(frozen=True)
class RelevanceJudgment:
    """What the relevance judge said: an integer score on 1-5 and its reason (None if it gave none)."""

    score: int
    reason: str | None


def parse_relevance(text: str) -> RelevanceJudgment | ParseFailure:
    """The score of the judge's last ``"score": n`` (its JSON answer) and the reason beside it; never raises.

    The last score decides: if it is not a number followed by the end of its JSON value, not an integer, or
    outside 1-5, the answer is a parse failure (codes ``missing_score``, ``invalid_score``), never an earlier
    score. Code fences and text around the JSON are ignored.
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}", code="missing_score")
    keys = list(_SCORE_KEY.finditer(text))
    if not keys:
        return ParseFailure(reason='no "score" in the judge\'s answer', code="missing_score")
    last = keys[-1]
    value = _SCORE_VALUE.match(text, last.end())
    if value is None:
        snippet = text[last.end():last.end() + 20].split("\n")[0]
        return ParseFailure(reason=f'the last "score" is not a number: {snippet!r}', code="invalid_score")
    number = float(value.group(2))
    if not number.is_integer() or not SCALE[0] <= number <= SCALE[1]:
        return ParseFailure(reason=f"score {value.group(2)} is not an integer from 1 to 5", code="invalid_score")
    obj_start = text.rfind("{", 0, last.start())
    previous_key = keys[-2].end() if len(keys) > 1 else 0
    reason = _REASON.search(text, max(obj_start, previous_key, 0))
    return RelevanceJudgment(int(number), _unescape(reason.group(1)) if reason else None)


def _unescape(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except ValueError:  # an escape JSON does not know: keep the text as written
        return raw


@register_grader("relevance")
class RelevanceGrader:
    """How relevant a response is to the query, 1-5 (RM-Gallery's relevance judge); two responses -> a Verdict."""

    parser = staticmethod(parse_relevance)
    default_template = "relevance"
    scale = SCALE
    #: The answer format ``constrain=True`` forces: the template's JSON, score 1-5 then a bounded reason (no
    #: quotes of either kind in it, so no ``'score': n`` inside the reason can become the last score read).
    output_regex = r'\{\n    "score": [1-5],\n    "reason": "[^"' + "'" + r'\\\n]{1,400}"\n\}'

    def __init__(self, model: ChatModel, *, constrain: bool = False, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str = "relevance") -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces :attr:`output_regex` on the answer."""
        self.name = name
        forced = format_constraint(self.output_regex) if constrain else {}
        self.judge = LLMJudge(model, template or self.default_template,
                              {"temperature": 0.0, "max_tokens": 512, **forced, **(params or {})},
                              provides=RELEVANCE_VARIABLES, owner=f"grader {name!r}")

    def variables(self, sample: Sample, index: int = 0) -> dict[str, Any]:
        if not 0 <= index < len(sample.responses):
            raise InvalidSample(f"sample {sample.id} has no response #{index}")
        meta = sample.metadata
        return {"query": sample.query, "conversation": [m.model_dump() for m in sample.messages],
                "response": sample.responses[index].content, "context": str(meta.get("context") or ""),
                "reference_response": str(meta.get("reference_response") or "")}

    def render(self, sample: Sample, index: int = 0) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample, index))

    async def score_response(self, sample: Sample, index: int, ctx: GradeContext | None = None) -> Result:
        """The Score of ``sample.responses[index]`` (or the parse error of the judge's answer)."""
        completion = await self.judge.ask(self.variables(sample, index), ctx)
        parsed = parse_relevance(completion.text)
        if isinstance(parsed, ParseFailure):
            return parse_error(completion, parsed)
        return Score(value=float(parsed.score), scale=SCALE, raw=completion.text, reason=parsed.reason,
                     usage=completion.usage)

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        """One response: its Score. Two: a Verdict from the two scores. More: a Rank (see the module doc)."""
        if not sample.responses:
            raise InvalidSample(f"sample {sample.id} has no response to grade")
        if len(sample.responses) == 1:
            return await self.score_response(sample, 0, ctx)
        scored = await score_responses(self, sample, ctx)
        if isinstance(scored, GraderError):
            return scored
        scores, usage = scored
        values = [s.value for s in scores]
        if len(scores) > 2:
            return Rank(order=rank_by(values), scores=tuple(values), usage=usage,
                        metadata={"reasons": [s.reason for s in scores]})
        a, b = scores
        return Verdict(winner=decide(a.value, b.value), raw=f"{a.raw}\n---\n{b.raw}",
                       reason=f"A ({a.value:g}/5): {a.reason}\nB ({b.value:g}/5): {b.reason}", usage=usage,
                       metadata={"score_a": a.value, "score_b": b.value, "reason_a": a.reason, "reason_b": b.reason})

    async def aevaluate(self, query: str, response: str, context: str = "", reference_response: str = "") -> Result:
        """OpenJudge's call: the Score (``.score`` 1-5, ``.reason``) of one response, or a GraderError.

        API failures raise the client's :class:`~rm_gallery.client.errors.ModelError` (the runner, not this
        shortcut, is where exceptions become results).
        """
        sample = Sample(id="aevaluate", messages=(Message(role="user", content=query),),
                        responses=(Response(content=response),),
                        metadata={"context": context, "reference_response": reference_response})
        return await self.score_response(sample, 0)
