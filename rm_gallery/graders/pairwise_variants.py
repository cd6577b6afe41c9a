"""Documented variants of the pairwise judge: multi-aspect comparison and a stated confidence.

Both read tags like the pairwise judge (:mod:`rm_gallery.graders.verdicts`: the judge's final tag decides,
an unreadable one is never replaced by an earlier one) and land in the same Verdict: per-aspect winners in
``Verdict.aspects`` (the overall one is the winner), the confidence in ``Verdict.confidence``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rm_gallery.graders.base import GradeContext, pair_variables, parse_error
from rm_gallery.graders.pairwise import PairwiseGrader, extract_analysis, parse_preference
from rm_gallery.graders.registry import register_grader
from rm_gallery.graders.tags import MAX_VALUE, final_tag
from rm_gallery.graders.verdicts import plain, tag_verdict
from rm_gallery.types import ParseFailure, Result, Sample, Verdict, Winner

ASPECTS = ("helpfulness", "correctness", "clarity")


@dataclass(frozen=True)
class AspectJudgment:
    """The overall winner, the readable per-aspect winners, and why each other aspect could not be read."""

    overall: Winner
    aspects: dict[str, Winner]
    unreadable: dict[str, str] = field(default_factory=dict)


def parse_aspects(text: str, aspects: tuple[str, ...] = ASPECTS) -> AspectJudgment | ParseFailure:
    """Per-aspect winners plus the overall one, each from the judge's final tag of that name; never raises.

    The final ``<overall>`` is the verdict: unreadable or missing, it is a failure. An aspect whose final tag
    is missing or unreadable is left out of ``aspects`` and its reason kept in ``unreadable`` (an earlier tag
    of the same aspect never stands in for it).
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}")
    overall = tag_verdict(text, "overall")
    if isinstance(overall, ParseFailure):
        return overall
    found: dict[str, Winner] = {}
    unreadable: dict[str, str] = {}
    for aspect in aspects:
        w = tag_verdict(text, aspect)
        if isinstance(w, ParseFailure):
            unreadable[aspect] = w.reason
        else:
            found[aspect] = w
    return AspectJudgment(overall, found, unreadable)


_CONF = re.compile(r"(\d{1,3}(?:\.\d{1,8})?|\.\d{1,8})\s{0,3}(%?)")


def parse_confidence(text: str) -> float | ParseFailure:
    """The confidence in the judge's final ``<confidence>`` tag, in [0, 1]; never raises.

    The rule: "values in [0, 1] as is, a percentage only with '%' (0-100%), anything else is a parse_error".
    So ``0.8`` -> 0.8 and ``80%`` -> 0.8, while ``1.5``, ``80`` and ``high`` are failures (code
    ``invalid_confidence``); no ``<confidence>`` tag is code ``missing_tag``.
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}")
    value = final_tag(text, "confidence")
    if isinstance(value, ParseFailure):
        return value
    bad = ParseFailure(reason=f"the final <confidence> holds {value[:MAX_VALUE]!r}: expected a number in [0, 1] "
                              "or a percentage with '%'", code="invalid_confidence")
    if len(value) > MAX_VALUE:
        return bad
    m = _CONF.fullmatch(plain(value).strip(" *_`'\""))
    if m is None:
        return bad
    v = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
    return v if 0.0 <= v <= 1.0 else bad


@dataclass(frozen=True)
class ConfidentPreference:
    """The confidence grader's verdict: the winner and the judge's stated confidence in it."""

    winner: Winner
    confidence: float


def parse_confident_preference(text: str) -> ConfidentPreference | ParseFailure:
    """The final ``<preference>`` and the final ``<confidence>``, both required; never raises.

    The confidence grader's one parser, read by its ``grade`` and by training rewards alike: a reply without a
    readable confidence fails the format the template asks for, so it is a parse error in evaluation and earns
    no reward in training (its reason starts "confidence: ").
    """
    winner = parse_preference(text)
    if isinstance(winner, ParseFailure):
        return winner
    confidence = parse_confidence(text)
    if isinstance(confidence, ParseFailure):
        return confidence.model_copy(update={"reason": f"confidence: {confidence.reason}"})
    return ConfidentPreference(winner, confidence)


_ANALYSIS = r"<analysis>[^<]{1,600}</analysis>\n"
_WINNER = "(A|B|tie)"


@register_grader("pairwise_aspects")
class MultiAspectPairwiseGrader(PairwiseGrader):
    """Pairwise judge with per-aspect preferences (helpfulness, correctness, clarity) plus an overall one."""

    parser = staticmethod(parse_aspects)
    default_template = "pairwise_aspects"
    output_regex = _ANALYSIS + r"\n".join(f"<{t}>{_WINNER}</{t}>" for t in (*ASPECTS, "overall"))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(pair_variables(sample), ctx)
        parsed = parse_aspects(completion.text)
        if isinstance(parsed, ParseFailure):
            return parse_error(completion, parsed)
        return Verdict(winner=parsed.overall, aspects=parsed.aspects, raw=completion.text,
                       reason=extract_analysis(completion.text), usage=completion.usage,
                       metadata={"unreadable_aspects": parsed.unreadable} if parsed.unreadable else {})


@register_grader("pairwise_confidence")
class ConfidencePairwiseGrader(PairwiseGrader):
    """Pairwise judge that also states its confidence (0.0-1.0) in the verdict.

    The template asks for both, so a missing or unreadable ``<confidence>`` is the judge failing the format:
    a parse error (message "confidence: ..."), like an unreadable preference, in evaluation and in training
    rewards alike (both read :func:`parse_confident_preference`).
    """

    parser = staticmethod(parse_confident_preference)
    default_template = "pairwise_confidence"
    output_regex = (_ANALYSIS + f"<preference>{_WINNER}</preference>" r"\n"
                    r"<confidence>(0|1|0\.[0-9]{1,2}|1\.0)</confidence>")

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(pair_variables(sample), ctx)
        parsed = parse_confident_preference(completion.text)
        if isinstance(parsed, ParseFailure):
            return parse_error(completion, parsed)
        return Verdict(winner=parsed.winner, confidence=parsed.confidence, raw=completion.text,
                       reason=extract_analysis(completion.text), usage=completion.usage)
