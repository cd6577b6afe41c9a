"""Probabilities from token logprobs: P(yes)/P(no) for win probability, expected scores for pointwise judges.

Tokens are located by *content* (the token whose text is "yes", the token that starts the number after
``<answer>``), never by a fixed position, so a leading space or a preamble does not shift the read.
Expected scores over whole multi-token numbers live in :mod:`rm_gallery.graders.score_distribution`.
"""

from __future__ import annotations

import math

from rm_gallery.client.completion import Completion, TokenLogprob
from rm_gallery.client.errors import ModelAPIError
from rm_gallery.graders.score_distribution import expected_score
from rm_gallery.types import ParseFailure

__all__ = ["LogprobsUnavailable", "expected_score", "logprob_of", "require_logprobs", "yes_no_probability"]


class LogprobsUnavailable(ModelAPIError):
    """The endpoint returned no token logprobs, which this grader needs."""


def require_logprobs(completion: Completion, grader: str) -> tuple[TokenLogprob, ...]:
    lp = completion.choices[0].logprobs if completion.choices else None
    if not lp:
        raise LogprobsUnavailable(
            f"{grader} needs token logprobs, but the endpoint returned none; use a server that supports "
            "`logprobs` and `top_logprobs` (vLLM, OpenAI chat models) or another grader")
    return lp


def _norm(token: str) -> str:
    return token.strip().strip(".,:;!\"'`*").lower()


def yes_no_probability(tokens: tuple[TokenLogprob, ...], yes: str = "yes", no: str = "no") -> float | ParseFailure:
    """P(yes) / (P(yes) + P(no)) at the first generated position whose alternatives mention yes or no."""
    for tok in tokens:
        p_yes = p_no = 0.0
        for text, prob in tok.top_probs().items():
            word = _norm(text)
            if word == yes:
                p_yes += prob
            elif word == no:
                p_no += prob
        if p_yes + p_no > 0:
            return p_yes / (p_yes + p_no)
    return ParseFailure(reason=f"neither {yes!r} nor {no!r} is among the returned top logprobs",
                        code="no_yes_no_tokens")


def logprob_of(tokens: tuple[TokenLogprob, ...]) -> float:
    """Total log-probability of a generated sequence (for likelihood filters)."""
    return math.fsum(t.logprob for t in tokens)
