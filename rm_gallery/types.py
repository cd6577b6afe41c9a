"""Typed data model: what goes into a grader (Sample) and what comes out (a Result).

Results are a discriminated union on ``kind``. A judge output that cannot be parsed is a
``GraderError(kind="parse_error")`` and an API failure is ``GraderError(kind="api_error")``:
neither is ever a score of 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

Role = Literal["system", "user", "assistant", "tool"]
Winner = Literal["A", "B", "tie"]
ErrorKind = Literal["api_error", "timeout", "parse_error", "invalid_input", "internal_error"]
#: Error kinds a run can end with. ``internal_error`` is a bug in grader code (an exception the
#: grader did not expect); it is kept apart from ``api_error`` so that bugs are never blamed on the server.
#: ``invalid_input`` covers bad samples and requests the server rejects (HTTP 400/413/422, e.g. longer than the
#: model's context): retrying or resuming will not fix them.
ERROR_KINDS: tuple[str, ...] = ("api_error", "timeout", "parse_error", "invalid_input", "internal_error")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(_Frozen):
    """One chat turn."""

    role: Role
    content: str


class Response(_Frozen):
    """One candidate response to be judged; ``metadata`` keeps e.g. the generating model's name."""

    content: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class Label(_Frozen):
    """Ground truth for a sample: a pairwise preference with strength, or a score."""

    preferred: Winner | None = None
    preference_strength: int | None = Field(default=None, ge=0, le=2)
    score: float | None = None


class Sample(_Frozen):
    """One item to grade: the conversation so far (the query) and the candidate responses."""

    id: str
    messages: tuple[Message, ...]
    responses: tuple[Response, ...]
    label: Label | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def query(self) -> str:
        """The query as text: the only user turn, or a role-prefixed transcript of a multi-turn conversation."""
        if len(self.messages) == 1:
            return self.messages[0].content
        return "\n\n".join(f"{m.role.capitalize()}: {m.content}" for m in self.messages)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, default_id: str | None = None) -> Sample:
        """Build a Sample from any supported record shape (see :mod:`rm_gallery.records`)."""
        from rm_gallery.records import sample_from_record

        return sample_from_record(record, default_id=default_id)


class Usage(_Frozen):
    """Token usage summed over every request behind one result."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )

    @classmethod
    def total(cls, items: Iterable[Any]) -> Usage:
        """Summed usage of results or completions (anything with a ``usage``)."""
        pt = ct = 0
        for x in items:
            pt += x.usage.prompt_tokens
            ct += x.usage.completion_tokens
        return cls(prompt_tokens=pt, completion_tokens=ct)


class _ResultBase(_Frozen):
    """Fields every result carries: the judge's raw text(s), its reason, usage and latency."""

    raw: str | None = None
    reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    latency_s: float | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return True


class Verdict(_ResultBase):
    """A pairwise decision between response A and response B."""

    kind: Literal["verdict"] = "verdict"
    winner: Winner
    #: P(A beats B) when the grader can estimate it (e.g. from logprobs), else None.
    probability: float | None = Field(default=None, ge=0.0, le=1.0)
    #: The judge's own stated confidence (0..1), when the template asks for one.
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    #: Per-aspect winners for multi-aspect judges (e.g. {"helpfulness": "A"}).
    aspects: dict[str, Winner] | None = None


class Score(_ResultBase):
    """A pointwise score on a stated scale."""

    kind: Literal["score"] = "score"
    value: float
    scale: tuple[float, float] = (0.0, 10.0)

    @property
    def score(self) -> float:
        """RM-Gallery / OpenJudge's name for :attr:`value` (their docs read ``result.score``)."""
        return self.value

    @field_validator("scale")
    @classmethod
    def _scale_ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] >= v[1]:
            raise ValueError(f"scale must be (low, high) with low < high, got {v}")
        return v


class Rank(_ResultBase):
    """A ranking of N responses: ``order[0]`` is the index of the best response."""

    kind: Literal["rank"] = "rank"
    order: tuple[int, ...]
    scores: tuple[float, ...] | None = None

    @field_validator("order")
    @classmethod
    def _is_permutation(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if sorted(v) != list(range(len(v))):
            raise ValueError(f"order must be a permutation of 0..{len(v) - 1}, got {list(v)}")
        return v


class GraderError(_ResultBase):
    """A sample the grader could not grade, and why. Never silently a score."""

    kind: ErrorKind
    message: str

    @property
    def ok(self) -> bool:
        return False


Result = Annotated[Union[Verdict, Score, Rank, GraderError], Field(discriminator="kind")]  # noqa: UP007
RESULT_ADAPTER: TypeAdapter[Result] = TypeAdapter(Result)


def result_from_json(data: str | bytes | Mapping[str, Any]) -> Result:
    """Rebuild a typed result from its JSON form (as written to a results file)."""
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    return RESULT_ADAPTER.validate_python(data)


class ParseFailure(_Frozen):
    """What a parser returns instead of raising: the reason the text held no valid verdict.

    ``code`` is a stable machine-readable category (e.g. ``missing_tag``, ``invalid_score``) that
    training rewards use to grade format errors without re-parsing.
    """

    reason: str
    code: str = "unparseable"

    def __bool__(self) -> bool:  # a failure is falsy so `if parsed:` reads naturally
        return False
