"""Fuzz targets for every judge-output parser, shared by the CI fuzz tests and ``perf/fuzz_parsers.py``.

A parser's contract: it is pure and never raises; it returns a value or a :class:`ParseFailure`. Each
:class:`FuzzTarget` pairs a parser with a hypothesis strategy for its input and a ``check`` of what a valid
output looks like, plus, since the last verdict the judge writes decides, a ``suffix`` whose appending must
decide the result (a readable verdict, or a failure when the appended final verdict is out of range).

:func:`discover_parsers` finds the parsers a target list must cover: every ``parse_*`` function in
:mod:`rm_gallery.graders` and every registered grader's ``parser``; a new parser without a target fails the
coverage test instead of going unfuzzed. :func:`hostile_texts` builds the inputs that expose super-linear
(backtracking) regexes: an opening tag followed by a long run of one character.

Needs ``hypothesis`` (a dev dependency); nothing in the package imports this module.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from rm_gallery.client.completion import Completion, MalformedResponse, TokenLogprob, completion_from_response
from rm_gallery.types import ParseFailure

#: Verdict-shaped pieces, so generated text reaches the parsers' interesting branches.
PIECES = [*"<>/[]ABCD0123456789.%:=abcxyz _\n\t*", "\u00a0", "Ａ", "\u0000",
          "<preference>", "</preference>", "<analysis>", "</analysis>", "<answer>", "</answer>", "<think>",
          "</think>", "<generate_rubrics>", "</generate_rubrics>", "<eval>", "</eval>", "<overall>", "</overall>",
          "<helpfulness>", "</helpfulness>", "<correctness>", "</correctness>", "<clarity>", "</clarity>",
          "<confidence>", "</confidence>", "[[A]]", "[[B]]", "[[C]]", "[[D]]", "[[", "]]", "Response A",
          "response_b", "tie", "Equal.", "**B**", "Score: ", "/10", "7.5", "-1", "1e309", "100%", "1.", "- item",
          "［［", "］］", "Ｂ", "<b>", "</b>", " or ", " not ", "?", "Response B is better", "both", "a"]
PIECES += ['{"score": ', '"score":"', '"reason": "', "'score':", "\\", "\"", "}", "```json"]   # JSON judges
TAGGY = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)
#: Any text: unicode, verdict-shaped pieces, and lone surrogates (undecodable bytes read with surrogateescape).
TEXT = st.one_of(st.text(), TAGGY, st.binary(max_size=80).map(lambda b: b.decode("utf-8", "surrogateescape")))
#: Logprobs as an OpenAI-compatible server may send them: <= 0, including -inf.
LOGPROB = st.floats(max_value=0.0, allow_nan=False)
TOKEN_TEXT = st.sampled_from(["yes", "no", " Yes", "NO.", "<answer>", "<ans", "wer>", "5", " 7", "10", "3.5",
                              "11", "-1", "x", "", " ", "1e3"])
TOKEN = st.builds(TokenLogprob, TOKEN_TEXT, LOGPROB, st.lists(st.tuples(TOKEN_TEXT, LOGPROB), max_size=4).map(tuple))
TOKENS = st.lists(TOKEN, max_size=8).map(tuple)
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
JSON = st.recursive(_LEAF, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                    max_leaves=12)
_MESSAGE = st.fixed_dictionaries({}, optional={"role": JSON, "content": st.one_of(st.text(), JSON),
                                               "reasoning_content": JSON})
_CONTENT_LP = st.fixed_dictionaries({"token": st.one_of(st.text(max_size=5), JSON), "logprob": JSON},
                                    optional={"top_logprobs": st.one_of(JSON, st.lists(st.fixed_dictionaries(
                                        {"token": st.text(max_size=5), "logprob": JSON}), max_size=3))})
_CHOICE = st.fixed_dictionaries({}, optional={
    "index": JSON, "message": st.one_of(_MESSAGE, JSON), "finish_reason": JSON,
    "logprobs": st.one_of(JSON, st.fixed_dictionaries({"content": st.one_of(JSON, st.lists(_CONTENT_LP,
                                                                                          max_size=3))}))})
#: Response bodies: chat-completion shaped, with any JSON where a field's value goes.
BODY = st.one_of(JSON, st.fixed_dictionaries({}, optional={
    "choices": st.one_of(JSON, st.lists(st.one_of(_CHOICE, JSON), max_size=3)), "usage": JSON, "model": JSON,
    "prompt_logprobs": JSON}))


@dataclass(frozen=True)
class FuzzTarget:
    """One parser under fuzzing: how to call it, what to feed it, what a valid answer looks like."""

    name: str
    parse: Callable[[Any], Any]
    strategy: Any
    check: Callable[[Any, Any], None]
    #: A text whose appending must make the parser return ``expect(result)`` (last-verdict binding).
    suffix: str | None = None
    expect: Callable[[Any], bool] | None = None
    #: The underlying functions this target covers (for the coverage check).
    covers: tuple[Callable[..., Any], ...] = ()


def _is(*types: type) -> Callable[[Any, Any], None]:
    def check(_: Any, out: Any) -> None:
        assert isinstance(out, types), f"returned {type(out).__name__}: {out!r}"
    return check


def _among(*allowed: Any) -> Callable[[Any, Any], None]:
    """The output is a ParseFailure or one of ``allowed``."""
    def check(_: Any, out: Any) -> None:
        assert isinstance(out, ParseFailure) or any(out == a and type(out) is type(a) for a in allowed), repr(out)
    return check


_winner_or_failure = _among("A", "B", "tie")


def _probability(_: Any, out: Any) -> None:
    assert isinstance(out, ParseFailure) or (isinstance(out, float) and 0.0 <= out <= 1.0), repr(out)


def _in_scale(lo: float, hi: float) -> Callable[[Any, Any], None]:
    def check(_: Any, out: Any) -> None:
        if isinstance(out, ParseFailure):
            return
        score = getattr(out, "score", out)
        assert isinstance(score, float) and lo <= score <= hi and not math.isnan(score), repr(out)
    return check


def targets() -> list[FuzzTarget]:
    """Every parser in the judge catalogue, with its strategy and output contract."""
    from rm_gallery.graders.four_way import parse_four_way
    from rm_gallery.graders.logprobs import expected_score, yes_no_probability
    from rm_gallery.graders.pairwise import PairwiseComparisonTemplate, extract_analysis, parse_preference
    from rm_gallery.graders.pairwise_variants import (
        AspectJudgment,
        ConfidentPreference,
        parse_aspects,
        parse_confidence,
        parse_confident_preference,
    )
    from rm_gallery.graders.reasoning import parse_bracket_verdict, reasoning_before_verdict
    from rm_gallery.graders.relevance import RelevanceJudgment, parse_relevance
    from rm_gallery.graders.rubric import RubricJudgment, parse_rubric_choice, parse_rubric_score, tags_in_order
    from rm_gallery.graders.tags import final_tag
    from rm_gallery.graders.verdicts import bracket_verdict, normalize_winner, read_side, tag_verdict

    def rubric_score(text: str) -> Any:
        out = parse_rubric_score(text)
        if not isinstance(out, ParseFailure):
            assert out.winner is None and isinstance(out.generated_rubrics, tuple)
        return out

    def aspects(_: Any, out: Any) -> None:
        assert isinstance(out, (AspectJudgment, ParseFailure)), repr(out)
        if isinstance(out, AspectJudgment):
            assert out.overall in ("A", "B", "tie") and not set(out.aspects) & set(out.unreadable)

    def confident(_: Any, out: Any) -> None:
        assert isinstance(out, (ConfidentPreference, ParseFailure)), repr(out)
        if isinstance(out, ConfidentPreference):
            assert out.winner in ("A", "B", "tie") and 0.0 <= out.confidence <= 1.0, repr(out)

    def relevance(_: Any, out: Any) -> None:
        assert isinstance(out, ParseFailure) or (isinstance(out, RelevanceJudgment) and out.score in (1, 2, 3, 4, 5)
                                                 and (out.reason is None or isinstance(out.reason, str))), repr(out)

    def template(_: Any, out: Any) -> None:
        assert out.preference in ("A", "B", "tie", None)
        assert out.analysis is None or isinstance(out.analysis, str)

    def completion(_: Any, out: Any) -> None:
        assert isinstance(out, (Completion, MalformedResponse)), repr(out)
        if isinstance(out, Completion):
            assert out.choices and all(isinstance(c.text, str) for c in out.choices)

    def body(data: Any) -> Any:
        try:
            return completion_from_response(data)
        except MalformedResponse as e:  # the documented way to refuse a body
            return e

    return [
        FuzzTarget("parse_preference", parse_preference, TEXT, _winner_or_failure, "<preference>B</preference>",
                   lambda out: out == "B", (parse_preference,)),
        FuzzTarget("normalize_winner", normalize_winner, TEXT, _among("A", "B", "tie", None),
                   covers=(normalize_winner,)),
        FuzzTarget("extract_analysis", extract_analysis, TEXT, _is(str, type(None)), covers=(extract_analysis,)),
        FuzzTarget("PairwiseComparisonTemplate.parse", PairwiseComparisonTemplate.parse, TEXT, template,
                   "<preference>tie</preference>", lambda out: out.preference == "tie"),
        FuzzTarget("read_side", read_side, TEXT, _among("A", "B", "tie"), covers=(read_side,)),
        FuzzTarget("tag_verdict", lambda t: tag_verdict(t, "preference"), TEXT, _winner_or_failure,
                   "<preference>**Response A**</preference>", lambda out: out == "A", (tag_verdict,)),
        FuzzTarget("final_tag", lambda t: final_tag(t, "answer"), TEXT, _is(str, ParseFailure),
                   "<answer> x </answer>", lambda out: out == "x", (final_tag,)),
        FuzzTarget("bracket_verdict", lambda t: bracket_verdict(t, "ABCD"), TEXT, _among("A", "B", "C", "D", "tie"),
                   "\n［［ｃ］］", lambda out: out == "C", (bracket_verdict,)),
        # a verdict token ends its sentence only where one ends: "[[A]] or" + "[[B]]" would name both sides
        FuzzTarget("parse_bracket_verdict", parse_bracket_verdict, TEXT, _winner_or_failure, "\n[[B]]",
                   lambda out: out == "B", (parse_bracket_verdict,)),
        FuzzTarget("parse_bracket_verdict(allow_tie=False)",
                   lambda t: parse_bracket_verdict(t, allow_tie=False), TEXT, _winner_or_failure, "\n[[A]]\n[[C]]",
                   lambda out: isinstance(out, ParseFailure) and out.code == "out_of_range"),
        FuzzTarget("reasoning_before_verdict", reasoning_before_verdict, TEXT, _is(str, type(None)),
                   covers=(reasoning_before_verdict,)),
        FuzzTarget("parse_relevance", parse_relevance, TEXT, relevance, '{"score": 3, "reason": "ok"}',
                   lambda out: out.score == 3 and out.reason == "ok", (parse_relevance,)),
        FuzzTarget("parse_four_way", parse_four_way, TEXT, _among(0, 1, 2, 3), "\n[[D]]", lambda out: out == 3,
                   (parse_four_way,)),
        FuzzTarget("parse_rubric_score", rubric_score, TEXT, _in_scale(0.0, 10.0), "<answer>7</answer>",
                   lambda out: out.score == 7.0, (parse_rubric_score,)),
        FuzzTarget("parse_rubric_score(final 11)", rubric_score, TEXT, _in_scale(0.0, 10.0),
                   "<answer>7</answer><answer>11</answer>",
                   lambda out: isinstance(out, ParseFailure) and out.code == "invalid_score"),
        FuzzTarget("parse_rubric_score(scale=1..5)", lambda t: parse_rubric_score(t, (1.0, 5.0)), TEXT,
                   _in_scale(1.0, 5.0), "<answer>Score: 2/10</answer>", lambda out: out.score == 2.0),
        FuzzTarget("parse_rubric_choice", parse_rubric_choice, TEXT, _is(RubricJudgment, ParseFailure),
                   "<answer>Response B</answer>", lambda out: out.winner == "B", (parse_rubric_choice,)),
        FuzzTarget("tags_in_order", tags_in_order, TEXT, _is(bool), covers=(tags_in_order,)),
        FuzzTarget("parse_aspects", parse_aspects, TEXT, aspects, "<clarity>A</clarity><overall>B</overall>",
                   lambda out: out.overall == "B" and out.aspects.get("clarity") == "A", (parse_aspects,)),
        FuzzTarget("parse_confidence", parse_confidence, TEXT, _probability, "<confidence>40%</confidence>",
                   lambda out: out == 0.4, (parse_confidence,)),
        FuzzTarget("parse_confidence(final 1.5)", parse_confidence, TEXT, _probability,
                   "<confidence>0.9</confidence><confidence>1.5</confidence>",
                   lambda out: isinstance(out, ParseFailure) and out.code == "invalid_confidence"),
        FuzzTarget("parse_confident_preference", parse_confident_preference, TEXT, confident,
                   "<preference>B</preference><confidence>0.7</confidence>",
                   lambda out: out == ConfidentPreference("B", 0.7), (parse_confident_preference,)),
        FuzzTarget("parse_confident_preference(no confidence)", parse_confident_preference, TEXT, confident,
                   "<preference>B</preference>", lambda out: isinstance(out, ParseFailure)
                   and out.reason.startswith("confidence: ")),
        FuzzTarget("yes_no_probability", yes_no_probability, TOKENS, _probability, covers=(yes_no_probability,)),
        FuzzTarget("expected_score", lambda toks: expected_score(toks, 0.0, 10.0), TOKENS, _in_scale(0.0, 10.0),
                   covers=(expected_score,)),
        FuzzTarget("completion_from_response", body, BODY, completion, covers=(completion_from_response,)),
    ]


def run_case(target: FuzzTarget, value: Any) -> None:
    """Call the parser once and check its contract (raises AssertionError, or the parser's own exception)."""
    out = target.parse(value)
    target.check(value, out)
    again = target.parse(value)
    assert type(again) is type(out) and repr(again) == repr(out), "not deterministic"
    if target.suffix is not None and isinstance(value, str):
        decided = target.parse(value + target.suffix)
        assert target.expect is not None and target.expect(decided), f"the appended verdict lost: {decided!r}"


def discover_parsers() -> dict[str, Callable[..., Any]]:
    """Every ``parse_*`` function in :mod:`rm_gallery.graders` plus every registered grader's ``parser``."""
    import rm_gallery.graders as graders
    from rm_gallery.graders.registry import list_graders

    found: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.iter_modules(graders.__path__):
        module = importlib.import_module(f"{graders.__name__}.{info.name}")
        for name, fn in vars(module).items():
            if name.startswith("parse_") and name != "parse_error" and inspect.isfunction(fn) \
                    and fn.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = fn
    for spec in list_graders():
        parser = getattr(spec.factory, "parser", None)
        if parser is not None:
            found[f"{spec.name}.parser"] = parser
    return found


#: Characters that overlapping regex quantifiers (``\s*([^<]*?)\s*``, ``[0-9]*\.?[0-9]+``) backtrack over.
FILLERS = (" ", "\n", "1", "A", "x")
#: What a parser looks for before such a run: every tag and verdict opener the catalogue reads.
OPENERS = ("<preference>", "<analysis>", "<answer>", "<eval>", "<think>", "<generate_rubrics>", "<overall>",
           "<helpfulness>", "<confidence>", "[[", "<")
OPENERS += ('"score": ', '"reason": "', '"score": "')


def hostile_texts(n: int) -> Iterator[tuple[str, str]]:
    """``(label, text)`` pairs (a run of ``n`` characters or ``n`` tags) that make a backtracking regex take
    quadratic time."""
    for opener in OPENERS:
        for filler in FILLERS:
            yield f"{opener!r}+{filler!r}*n", opener + filler * n
        yield f"{opener!r}*n", opener * n
