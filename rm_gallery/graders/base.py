"""What a grader is, and the small pieces LLM graders compose.

A grader is any object with a ``name`` and one async method ``grade(sample, ctx) -> Result``. It owns
its template, its request parameters and its parser, and nothing else: HTTP belongs to the model client,
caching to the :class:`GradeContext` the runner passes in, and turning unexpected exceptions into
GraderErrors to the runner. Graders raise :class:`InvalidSample` for input they cannot grade and return
``GraderError(kind="parse_error")`` for judge output they cannot read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from rm_gallery.cache import ResponseCache
from rm_gallery.client.completion import Completion
from rm_gallery.client.model import ChatModel
from rm_gallery.prompts import PromptTemplate, load_template
from rm_gallery.types import GraderError, ParseFailure, Result, Sample, Usage


class InvalidSample(ValueError):
    """The sample cannot be graded by this grader (e.g. a pairwise judge given one response)."""


@runtime_checkable
class Grader(Protocol):
    """The one contract every grader meets."""

    name: str

    async def grade(self, sample: Sample, ctx: GradeContext | None = None) -> Result: ...


class GradeContext:
    """Services the runner lends a grader for one run: the response cache, a seed and a rollout index.

    ``complete`` is how graders call a model: it consults the cache first, so a re-run makes zero
    requests, and stores every fresh answer. ``rollout`` tells repeated samples of the same prompt apart
    (voting, test-time scaling); wrappers derive a context per rollout with :meth:`for_rollout`.
    """

    def __init__(self, cache: ResponseCache | None = None, *, seed: int = 0, rollout: int = 0) -> None:
        self.cache = cache
        self.seed = seed
        self.rollout = rollout

    def for_rollout(self, rollout: int) -> GradeContext:
        """The same services, answering as rollout number ``rollout`` (a distinct cache entry)."""
        return GradeContext(self.cache, seed=self.seed, rollout=rollout)

    async def complete(self, model: ChatModel, messages: list[dict[str, str]], params: Mapping[str, Any],
                       *, rollout: int | None = None) -> Completion:
        cache = self.cache
        if cache is None:
            return await model.complete(messages, **params)
        key = cache.key(model.cache_identity, messages, dict(params), self.rollout if rollout is None else rollout)
        hit = cache.get(key)
        if hit is not None:
            return hit
        completion = await model.complete(messages, **params)
        cache.put(key, completion)
        return completion


NO_CACHE = GradeContext()


def pair_variables(sample: Sample, order: tuple[int, int] = (0, 1)) -> dict[str, Any]:
    """Template variables for a pairwise judge; ``order=(1, 0)`` shows response B first."""
    if len(sample.responses) < 2:
        raise InvalidSample(f"sample {sample.id}: a pairwise grader needs 2 responses, got {len(sample.responses)}")
    return {
        "query": sample.query,
        "conversation": [m.model_dump() for m in sample.messages],
        "response_a": sample.responses[order[0]].content,
        "response_b": sample.responses[order[1]].content,
    }


PAIR_VARIABLES = frozenset({"query", "conversation", "response_a", "response_b"})


class LLMJudge:
    """Template + model + request parameters: renders variables, sends them, returns the Completion.

    Composed by LLM graders; it checks at construction time that the template only reads variables
    the grader provides, so a typo in a user template fails before any request is sent.
    """

    def __init__(self, model: ChatModel, template: str | PromptTemplate, params: Mapping[str, Any] | None,
                 *, provides: frozenset[str], owner: str) -> None:
        self.model = model
        self.template = load_template(template)
        self.template.check_variables(provides, owner=owner)
        self.params = dict(params or {})

    def render(self, variables: Mapping[str, Any]) -> list[dict[str, str]]:
        return self.template.render(**variables)

    async def ask(self, variables: Mapping[str, Any], ctx: GradeContext | None, *, rollout: int | None = None,
                  params: Mapping[str, Any] | None = None) -> Completion:
        ctx = ctx or NO_CACHE
        messages = self.template.render(**variables)
        p = self.params if not params else {**self.params, **params}
        r = ctx.rollout if rollout is None else rollout
        if r and "seed" in p:  # seeded sampling: each rollout gets its own, reproducible seed
            p = {**p, "seed": p["seed"] + r}
        return await ctx.complete(self.model, messages, p, rollout=r)


def format_constraint(regex: str) -> dict[str, Any]:
    """Request parameters that make vLLM decode only text matching ``regex`` (its structured outputs).

    An option beside a grader's faithful prompt, for weak judges that cannot hold a tag format on their own
    (SmolLM2-135M repeats the prompt until ``max_tokens``): the format is forced, the decision stays the model's,
    and the grader's own parser reads the answer as always. Servers without structured outputs reject it.
    """
    return {"extra_body": {"structured_outputs": {"regex": regex}}}


def parse_error(completion: Completion | None, failure: ParseFailure, **extra: Any) -> GraderError:
    """The typed result for a judge answer the parser could not read (keeps the raw text)."""
    return GraderError(kind="parse_error", message=failure.reason, raw=completion.text if completion else None,
                       usage=completion.usage if completion else Usage(), **extra)


Parser = Callable[[str], Any]
