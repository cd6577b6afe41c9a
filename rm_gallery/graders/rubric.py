"""PaTaRM-style rubric judges: primary rubrics per domain plus rubrics the judge generates per instance.

The judge answers ``<think>``, ``<generate_rubrics>``, ``<eval>``, ``<answer>``. Three graders share one
template family and one parser module:

* ``rubric``: a 0-10 Score for one response (several rollouts -> mean or majority; PaTaRM's
  test-time scaling). ``score_mode="expected"`` (an option beside the paper's parsed score) reads the
  score as an expectation over whole numbers from the logprobs of the score's tokens
  (:mod:`~rm_gallery.graders.score_distribution`: exact along the generated digits; an unchosen ``1``
  that could be 1 or 10 is split by a one-token follow-up request when ``resolve_ambiguous``).
* ``rubric_pair``: a Verdict from two pointwise scores (strict >, equal scores are a tie; a majority vote
  pairs rollouts by index and reports the pairs a failed rollout left without a vote).
* ``rubric_pairwise``: the judge answers ``<answer>A or B</answer>`` directly.

Both parsers read the judge's final ``<answer>`` tag only: the last verdict the judge writes decides, and an
invalid final answer is a failure, never a fallback to an earlier answer.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rm_gallery.client.completion import Completion, TokenLogprob
from rm_gallery.client.model import ChatModel
from rm_gallery.graders.base import (
    PAIR_VARIABLES,
    GradeContext,
    InvalidSample,
    LLMJudge,
    format_constraint,
    pair_variables,
    parse_error,
)
from rm_gallery.graders.debias import majority
from rm_gallery.graders.logprobs import require_logprobs
from rm_gallery.graders.registry import register_grader
from rm_gallery.graders.rubrics import load_rubrics, route_domain
from rm_gallery.graders.score_distribution import (
    CONTINUE_PARAMS,
    MAX_AMBIGUITY,
    ScoreDistribution,
    resolve_open_prefixes,
    score_distribution,
)
from rm_gallery.graders.tags import MAX_VALUE, final_tag, last_block
from rm_gallery.graders.verdicts import plain, tag_verdict
from rm_gallery.prompts import PromptTemplate
from rm_gallery.types import GraderError, ParseFailure, Result, Sample, Score, Usage, Verdict, Winner

TAGS = ("think", "generate_rubrics", "eval", "answer")
SCALE = (0.0, 10.0)
_SCORE = re.compile(r"^(?:score\s*[:=]?\s*)?(\d+(?:\.\d+)?)\s*(?:/\s*10)?\.?$", re.IGNORECASE)
_RUBRIC_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s+(\S.*)")

Aggregate = Literal["mean", "majority"]


def tags_in_order(text: str, tags: tuple[str, ...] = TAGS) -> bool:
    """True when every ``<tag>...</tag>`` block is present, complete, and in the given order (linear scan)."""
    pos = 0
    low = text.lower()
    for tag in tags:
        start = low.find(f"<{tag}>", pos)
        if start < 0:
            return False
        end = low.find(f"</{tag}>", start)
        if end < 0:
            return False
        pos = end + len(tag) + 3
    return True


#: How many rubrics the judge must generate per instance (the template asks for 1 to 3).
GENERATED_RUBRICS = (1, 3)


@dataclass(frozen=True)
class RubricJudgment:
    """What a rubric judge said: the score (or winner), its generated rubrics, and whether the format held.

    ``format_ok`` is ``tags_ok`` (the four tags complete and in order) and 1-3 generated rubrics. A wrong
    rubric count is a format flag, not a parse error: the verdict in ``<answer>`` is still readable, and
    PaTaRM's format reward (:func:`rm_gallery.training.rewards.format_penalty`) is where format faults are
    charged.
    """

    score: float | None
    winner: Winner | None
    generated_rubrics: tuple[str, ...]
    evaluation: str | None
    format_ok: bool
    tags_ok: bool = True


def output_regex(answer: str) -> str:
    """The PaTaRM answer format ``constrain=True`` forces (an option for weak judges, vLLM only): the four tags in
    order, 1-3 generated rubrics as list items, bounded text without tags, then ``answer`` in ``<answer>``."""
    return (r"<think>[^<]{1,200}</think>\n<generate_rubrics>\n(- [A-Za-z][^<\n]{0,100}\n){1,3}</generate_rubrics>\n"
            r"<eval>[^<]{1,200}</eval>\n<answer>" + answer + r"</answer>")


#: What ``<answer>`` holds under ``constrain=True``: a whole score 0-10, or A/B (PaTaRM's pairwise has no tie).
SCORE_ANSWER, CHOICE_ANSWER = r"(10|[0-9])", r"(A|B)"


def generated_rubric_items(block: str) -> tuple[str, ...]:
    """The rubrics in a ``<generate_rubrics>`` block: its top-level list items, else its non-empty lines."""
    marked = [(len(line) - len(line.lstrip()), m.group(1).strip()) for line in block.splitlines()
              if (m := _RUBRIC_ITEM.match(line))]
    if marked:
        top = min(indent for indent, _ in marked)
        return tuple(item for indent, item in marked if indent == top)
    return tuple(line.strip() for line in block.splitlines() if line.strip())


def _judgment(text: str, score: float | None, winner: Winner | None) -> RubricJudgment:
    items = generated_rubric_items(last_block(text, "generate_rubrics") or "")
    tags_ok = tags_in_order(text)
    count_ok = GENERATED_RUBRICS[0] <= len(items) <= GENERATED_RUBRICS[1]
    return RubricJudgment(score, winner, items, last_block(text, "eval"), tags_ok and count_ok, tags_ok)


def parse_rubric_score(text: str, scale: tuple[float, float] = SCALE) -> RubricJudgment | ParseFailure:
    """The score in the judge's final ``<answer>`` tag, a number within ``scale``; never raises.

    The last verdict the judge writes decides: ``<answer>6</answer> ... <answer>11</answer>`` is invalid, not 6.
    Failure codes: ``missing_tag`` (no answer tag), ``unclosed_tag`` (the final one never closed) and
    ``invalid_score`` (the final answer holds no number within ``scale``), which PaTaRM's format reward
    (:func:`~rm_gallery.training.rewards.format_penalty`) tells apart.
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}", code="missing_tag")
    value = final_tag(text, "answer")
    if isinstance(value, ParseFailure):
        return value
    num = _SCORE.match(plain(value).replace("*", "").strip()) if len(value) <= MAX_VALUE else None
    if num and scale[0] <= float(num.group(1)) <= scale[1]:
        return _judgment(text, float(num.group(1)), None)
    return ParseFailure(reason=f"the final <answer> holds {value[:MAX_VALUE]!r}, not a number between "
                               f"{scale[0]:g} and {scale[1]:g}", code="invalid_score")


def parse_rubric_choice(text: str) -> RubricJudgment | ParseFailure:
    """The A or B in the judge's final ``<answer>`` tag, read like the pairwise judge's; never raises.

    PaTaRM's pairwise format is ``<answer>A or B</answer>``: it has no tie, so a final "tie" is out of range.
    A final answer that is unreadable, names both sides or is a tie is ``invalid_score`` (never an earlier answer).
    """
    if not isinstance(text, str):
        return ParseFailure(reason=f"expected text, got {type(text).__name__}", code="missing_tag")
    winner = tag_verdict(text, "answer")
    if isinstance(winner, ParseFailure):
        code = winner.code if winner.code in ("missing_tag", "unclosed_tag") else "invalid_score"
        return winner.model_copy(update={"code": code})
    if winner == "tie":
        return ParseFailure(reason="the final <answer> is a tie; PaTaRM's pairwise answer is A or B",
                            code="invalid_score")
    return _judgment(text, None, winner)


def rubric_variables(sample: Sample, domain: str | None) -> dict[str, Any]:
    rub = load_rubrics(domain or route_domain(sample))
    return {"domain": rub.domain, "domain_description": rub.description,
            "rubrics": [{"name": r.name, "description": r.description, "bands": list(r.bands)} for r in rub.primary]}


RUBRIC_VARIABLES = frozenset({"domain", "domain_description", "rubrics"})



def aggregate_scores(values: list[float], how: Aggregate) -> float:
    """Mean, or the most frequent score (ties between modes resolved by their mean)."""
    if how == "mean":
        return sum(values) / len(values)
    counts = Counter(values).most_common()
    top = [v for v, c in counts if c == counts[0][1]]
    return sum(top) / len(top)


@register_grader("rubric")
class RubricPointwiseGrader:
    """Scores one response 0-10 against domain rubrics plus rubrics it generates (PaTaRM pointwise)."""

    parser = staticmethod(parse_rubric_score)
    default_template = "rubric_pointwise"

    def __init__(self, model: ChatModel, *, domain: str | None = None, rollouts: int = 1,
                 aggregate: Aggregate = "mean", score_mode: Literal["parsed", "expected"] = "parsed",
                 response_index: int | None = None, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str = "rubric", resolve_ambiguous: bool = True,
                 max_ambiguity: float = MAX_AMBIGUITY, constrain: bool = False) -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces ``output_regex(SCORE_ANSWER)``.

        ``grade`` scores a one-response sample, or ``sample.responses[response_index]`` when that is given; a sample
        with several responses and no index is an ``InvalidSample`` (never a silent score of the first one):
        ``rubric_pair`` compares two, ``listwise`` ranks many.
        """
        if rollouts < 1 or aggregate not in ("mean", "majority") or score_mode not in ("parsed", "expected"):
            raise ValueError("rollouts must be >= 1, aggregate mean|majority, score_mode parsed|expected")
        self.name, self.domain, self.rollouts, self.aggregate = name, domain, rollouts, aggregate
        self.score_mode, self.response_index = score_mode, response_index
        self.resolve_ambiguous, self.max_ambiguity = resolve_ambiguous, max_ambiguity
        defaults: dict[str, Any] = {"temperature": 0.0 if rollouts == 1 else 0.7, "max_tokens": 1024}
        if score_mode == "expected":
            defaults |= {"logprobs": True, "top_logprobs": 20}
        if constrain:
            defaults |= format_constraint(output_regex(SCORE_ANSWER))
        self.judge = LLMJudge(model, template or self.default_template, {**defaults, **(params or {})},
                              provides=RUBRIC_VARIABLES | {"query", "response", "conversation"},
                              owner=f"grader {name!r}")

    def variables(self, sample: Sample, index: int) -> dict[str, Any]:
        if not 0 <= index < len(sample.responses):
            raise InvalidSample(f"sample {sample.id} has no response #{index}")
        return {"query": sample.query, "conversation": [m.model_dump() for m in sample.messages],
                "response": sample.responses[index].content, **rubric_variables(sample, self.domain)}

    def render(self, sample: Sample, index: int = 0) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample, index))

    async def _once(self, variables: dict[str, Any], ctx: GradeContext) -> Result:
        completion = await self.judge.ask(variables, ctx)
        text = completion.text
        parsed = parse_rubric_score(text)
        if isinstance(parsed, ParseFailure):
            return parse_error(completion, parsed)
        value, usage, extra = parsed.score, completion.usage, {}
        if self.score_mode == "expected":
            dist, usage = await self._distribution(variables, completion, ctx)
            exp = dist if isinstance(dist, ParseFailure) else dist.expected(self.max_ambiguity)
            if isinstance(exp, ParseFailure):
                return parse_error(completion, exp).model_copy(update={"usage": usage})
            assert isinstance(dist, ScoreDistribution)
            value, extra = exp, {"score_probabilities": {f"{v:g}": p for v, p in dist.probabilities().items()},
                                 "expected_exact": dist.exact, "parsed_score": parsed.score}
        assert value is not None
        return Score(value=value, scale=SCALE, raw=text, reason=parsed.evaluation, usage=usage,
                     metadata={"generated_rubrics": list(parsed.generated_rubrics), "format_ok": parsed.format_ok,
                               "domain": variables["domain"], **extra})

    async def _distribution(self, variables: dict[str, Any], completion: Completion, ctx: GradeContext
                            ) -> tuple[ScoreDistribution | ParseFailure, Usage]:
        """The score distribution of one judgment; ambiguous prefixes settled by one-token continuations."""
        dist = score_distribution(require_logprobs(completion, self.name), *SCALE)
        usage = completion.usage
        if isinstance(dist, ParseFailure) or dist.exact or not self.resolve_ambiguous:
            return dist, usage
        messages = self.judge.render(variables)
        params = {**CONTINUE_PARAMS, "top_logprobs": self.judge.params.get("top_logprobs", 20)}

        async def continue_after(text: str) -> tuple[TokenLogprob, ...]:
            nonlocal usage
            more = await ctx.complete(self.judge.model, [*messages, {"role": "assistant", "content": text}], params)
            usage = usage + more.usage
            return require_logprobs(more, self.name)

        return await resolve_open_prefixes(dist, continue_after), usage

    async def score_rollouts(self, sample: Sample, index: int, ctx: GradeContext | None = None) -> list[Result]:
        """One result per rollout for ``sample.responses[index]``, in rollout order (a failed one is a GraderError)."""
        ctx = ctx or GradeContext()
        variables = self.variables(sample, index)
        if self.rollouts == 1:
            return [await self._once(variables, ctx)]
        return list(await asyncio.gather(*(self._once(variables, ctx.for_rollout(ctx.rollout + i))
                                           for i in range(self.rollouts))))

    def aggregate_rollouts(self, runs: list[Result]) -> Result:
        """The rollouts' scores by mean or majority; an error only if every rollout failed."""
        if len(runs) == 1:
            return runs[0]
        scores = [r for r in runs if isinstance(r, Score)]
        usage = Usage.total(runs)
        if not scores:
            return runs[0].model_copy(update={"usage": usage})
        value = aggregate_scores([s.value for s in scores], self.aggregate)
        return Score(value=value, scale=SCALE, raw=scores[0].raw, reason=scores[0].reason, usage=usage,
                     metadata={"rollout_scores": [s.value for s in scores], "failed_rollouts": len(runs) - len(scores),
                               "domain": scores[0].metadata.get("domain")})

    async def score_response(self, sample: Sample, index: int, ctx: GradeContext | None = None) -> Result:
        """Score ``sample.responses[index]``, aggregating rollouts; an error only if every rollout failed."""
        return self.aggregate_rollouts(await self.score_rollouts(sample, index, ctx))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        index = self.response_index
        if index is None:
            if len(sample.responses) != 1:
                raise InvalidSample(f"sample {sample.id} has {len(sample.responses)} responses and the rubric grader "
                                    "scores one: pass response_index=N, or use rubric_pair (A vs B) or listwise")
            index = 0
        return await self.score_response(sample, index, ctx)


def decide(score_a: float, score_b: float) -> Winner:
    """A pair decided from two pointwise scores: strict >, equal scores are a tie."""
    return "A" if score_a > score_b else "B" if score_b > score_a else "tie"


@register_grader("rubric_pair")
class RubricPairGrader:
    """Decides A vs B from two rubric scores (strict >; equal is a tie).

    With ``aggregate="majority"`` and several rollouts, rollout i of A is paired with rollout i of B and each
    pair votes; a rollout that failed on either side casts no vote. Those pairs are listed in
    ``metadata["unpaired_rollouts"]`` (indices) and the vote counts in ``metadata["votes"]``; no complete
    pair at all is a parse error. With ``"mean"`` the two mean scores decide. Either way
    ``failed_rollouts_a``/``failed_rollouts_b`` count the rollouts that failed (parse or API errors).
    """

    def __init__(self, model: ChatModel | None = None, *, scorer: RubricPointwiseGrader | None = None,
                 name: str = "rubric_pair", **scorer_kwargs: Any) -> None:
        if scorer is None:
            if model is None:
                raise ValueError("rubric_pair needs a model or a scorer")
            scorer = RubricPointwiseGrader(model, **scorer_kwargs)
        self.scorer = scorer
        self.judge = scorer.judge
        self.name = name

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        if len(sample.responses) < 2:
            raise InvalidSample(f"sample {sample.id}: rubric_pair needs 2 responses")
        runs_a, runs_b = await asyncio.gather(self.scorer.score_rollouts(sample, 0, ctx),
                                              self.scorer.score_rollouts(sample, 1, ctx))
        a, b = self.scorer.aggregate_rollouts(runs_a), self.scorer.aggregate_rollouts(runs_b)
        usage = a.usage + b.usage
        for r in (a, b):
            if isinstance(r, GraderError):
                return r.model_copy(update={"usage": usage})
        assert isinstance(a, Score) and isinstance(b, Score)
        raw = f"{a.raw}\n---\n{b.raw}"
        metadata: dict[str, Any] = {"score_a": a.value, "score_b": b.value,
                                    "failed_rollouts_a": sum(not isinstance(r, Score) for r in runs_a),
                                    "failed_rollouts_b": sum(not isinstance(r, Score) for r in runs_b)}
        if self.scorer.aggregate == "majority" and len(runs_a) > 1:
            pairs = list(zip(runs_a, runs_b, strict=True))
            votes = [decide(x.value, y.value) for x, y in pairs if isinstance(x, Score) and isinstance(y, Score)]
            unpaired = [i for i, (x, y) in enumerate(pairs) if not (isinstance(x, Score) and isinstance(y, Score))]
            if not votes:
                return GraderError(kind="parse_error", raw=raw, usage=usage, metadata=metadata,
                                   message=f"majority vote: none of the {len(pairs)} rollouts has a readable "
                                           "score for both A and B")
            winner = majority(votes)
            metadata |= {"votes": dict(Counter(votes)), "unpaired_rollouts": unpaired}
        else:
            winner = decide(a.value, b.value)
        return Verdict(winner=winner, raw=raw, reason=a.reason, usage=usage, metadata=metadata)


@register_grader("rubric_pairwise")
class RubricPairwiseGrader:
    """Compares A and B against domain rubrics and answers <answer>A or B</answer> (PaTaRM pairwise)."""

    parser = staticmethod(parse_rubric_choice)
    default_template = "rubric_pairwise"

    def __init__(self, model: ChatModel, *, domain: str | None = None, template: str | PromptTemplate | None = None,
                 params: Mapping[str, Any] | None = None, name: str = "rubric_pairwise",
                 constrain: bool = False) -> None:
        """``constrain=True`` (an option for weak judges, vLLM only) forces ``output_regex(CHOICE_ANSWER)``."""
        self.name, self.domain = name, domain
        forced = format_constraint(output_regex(CHOICE_ANSWER)) if constrain else {}
        self.judge = LLMJudge(model, template or self.default_template,
                              {"temperature": 0.0, "max_tokens": 1024, **forced, **(params or {})},
                              provides=PAIR_VARIABLES | RUBRIC_VARIABLES, owner=f"grader {name!r}")

    def variables(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> dict[str, Any]:
        return {**pair_variables(sample, order), **rubric_variables(sample, self.domain)}

    def render(self, sample: Sample, order: tuple[int, int] = (0, 1)) -> list[dict[str, str]]:
        return self.judge.render(self.variables(sample, order))

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result:
        completion = await self.judge.ask(self.variables(sample), ctx)
        parsed = parse_rubric_choice(completion.text)
        if isinstance(parsed, ParseFailure):
            return parse_error(completion, parsed)
        assert parsed.winner is not None
        return Verdict(winner=parsed.winner, raw=completion.text, reason=parsed.evaluation, usage=completion.usage,
                       metadata={"generated_rubrics": list(parsed.generated_rubrics), "format_ok": parsed.format_ok})
