"""ReasonGenRM's data pipeline: sample reasoning chains, score them with log-probabilities, export SFT and DPO.

For each labelled pair, K chains come from the reasoning judge (its template, its parser: the reason is
the text before the last ``[[A]]``/``[[B]]``), sampled in-process (:func:`sample_chains_local`) or from any
served model (:func:`asample_chains`). Each chain gets P(reason | user) and P(verdict | user, reason) from a
scorer: in-process transformers (:class:`TransformersChainScorer`) or a vLLM server's ``prompt_logprobs``
(:class:`VLLMChainScorer`, with :func:`abuild_reasongenrm_data`). Rejection sampling keeps
R* = argmax P(A|U,R) * P(R|U) among chains with the correct verdict (SFT data); DPO pairs take the chains
with the best and worst R_score (:func:`~rm_gallery.training.rewards.reason_score`).

Exports keep ReasonGenRM's User + Reason + Assistant structure: a ``reason`` turn between the user turn and
the verdict, which :data:`REASON_CHAT_TEMPLATE` renders (ChatML with a ``reason`` role).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from rm_gallery.graders.reasoning import parse_bracket_verdict, reasoning_before_verdict
from rm_gallery.training.rewards import reason_score
from rm_gallery.types import ParseFailure, Sample

#: ChatML that renders any role, including ``reason``; ``add_generation_prompt`` opens a reason turn
#: (set ``generation_role`` to "assistant" to open the verdict turn).
REASON_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>' + (generation_role | default('reason')) + '\\n' -}}"
    "{%- endif -%}"
)
_BRACKET = {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}


@dataclass(frozen=True)
class Chain:
    """One sampled reasoning chain: its reason, the verdict it reached, and its probabilities."""

    reason: str
    verdict: str | None
    p_reason: float = 0.0
    p_verdict: float = 0.0  # P(correct verdict | user, reason)

    def r_score(self) -> float:
        return reason_score(self.p_verdict, self.p_reason)


def split_chain(text: str, *, allow_tie: bool = True) -> tuple[str, str | None]:
    """(reason, verdict) of a reasoning-judge answer, read by the reasoning grader's own functions."""
    verdict = parse_bracket_verdict(text, allow_tie=allow_tie)
    return reasoning_before_verdict(text) or "", None if isinstance(verdict, ParseFailure) else verdict


class ChainScorer(Protocol):
    """Gives P(reason | user) and P(verdict text | user, reason) for one chain."""

    def __call__(self, user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[float, float]: ...


class AsyncChainScorer(Protocol):
    """The same, awaited: a scorer behind a server."""

    async def ascore(self, user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[float, float]: ...


@lru_cache(maxsize=1)
def _reason_template() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment().from_string(REASON_CHAT_TEMPLATE)


def render_reason_chat(messages: Sequence[dict[str, str]], *, generation_role: str | None = "reason") -> str:
    """:data:`REASON_CHAT_TEMPLATE` rendered as text (what ``apply_chat_template`` gives with it), opening a
    ``generation_role`` turn at the end unless it is None."""
    kwargs: dict[str, Any] = {"generation_role": generation_role} if generation_role else {}
    return _reason_template().render(messages=list(messages), add_generation_prompt=generation_role is not None,
                                     **kwargs)


def chain_segments(user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[tuple[str, str], ...]:
    """The two (prefix, continuation) texts a chain is scored on: the reason after the user turn, and the
    verdict after the user and reason turns."""
    return ((render_reason_chat(user), reason + "<|im_end|>\n"),
            (render_reason_chat([*user, {"role": "reason", "content": reason}], generation_role="assistant"),
             verdict_text))


def chain_probabilities(lp_reason: Sequence[float], lp_verdict: Sequence[float]) -> tuple[float, float]:
    """(P(R|U), P(verdict|U,R)): the reason's per-token geometric mean (length-normalised, so long and short
    reasons compare) and the product over the verdict's tokens."""
    return math.exp(sum(lp_reason) / max(1, len(lp_reason))), math.exp(sum(lp_verdict))


class TransformersChainScorer:
    """In-process scorer (see :func:`chain_probabilities` for the two probabilities)."""

    def __init__(self, model_dir: str | Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()

    def _logprobs(self, prefix: str, continuation: str) -> list[float]:
        import torch

        pre = self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        cont = self.tokenizer(continuation, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([pre + cont])
        with torch.inference_mode():
            logp = torch.log_softmax(self.model(input_ids=ids).logits[0, :-1].float(), dim=-1)
        targets = ids[0, 1:]
        picked = logp[torch.arange(len(targets)), targets]
        return picked[len(pre) - 1:].tolist()

    def __call__(self, user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[float, float]:
        reason_part, verdict_part = chain_segments(user, reason, verdict_text)
        return chain_probabilities(self._logprobs(*reason_part), self._logprobs(*verdict_part))


class VLLMChainScorer:
    """The same probabilities from a vLLM server's ``prompt_logprobs``: no local model, any size of judge.

    ``scorer`` is a :class:`~rm_gallery.client.prompt_logprobs.PromptLogprobScorer` for the served model.
    """

    def __init__(self, scorer: Any) -> None:
        self.scorer = scorer

    async def ascore(self, user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[float, float]:
        reason_part, verdict_part = chain_segments(user, reason, verdict_text)
        lp_reason, lp_verdict = await asyncio.gather(self.scorer.continuation_logprobs(*reason_part),
                                                     self.scorer.continuation_logprobs(*verdict_part))
        return chain_probabilities(lp_reason, lp_verdict)


def score_chains(user: list[dict[str, str]], texts: Sequence[str], correct: str, scorer: ChainScorer, *,
                 allow_tie: bool = True) -> list[Chain]:
    """Split each sampled answer into (reason, verdict) and score the *correct* verdict given its reason."""
    chains = []
    for text in texts:
        reason, verdict = split_chain(text, allow_tie=allow_tie)
        p_reason, p_verdict = scorer(user, reason, _BRACKET[correct])
        chains.append(Chain(reason, verdict, p_reason, p_verdict))
    return chains


async def ascore_chains(user: list[dict[str, str]], texts: Sequence[str], correct: str, scorer: AsyncChainScorer,
                        *, allow_tie: bool = True) -> list[Chain]:
    """:func:`score_chains` with an awaited scorer; the K chains are scored concurrently."""
    split = [split_chain(text, allow_tie=allow_tie) for text in texts]
    probs = await asyncio.gather(*(scorer.ascore(user, reason, _BRACKET[correct]) for reason, _ in split))
    return [Chain(reason, verdict, *p) for (reason, verdict), p in zip(split, probs, strict=True)]


def best_correct_chain(chains: Sequence[Chain], correct: str) -> Chain | None:
    """Rejection sampling: among chains whose verdict is correct, the argmax of P(A|U,R) * P(R|U)."""
    kept = [c for c in chains if c.verdict == correct]
    return max(kept, key=lambda c: c.p_verdict * c.p_reason) if kept else None


def sft_example(user: list[dict[str, str]], chain: Chain, correct: str) -> dict[str, Any]:
    """An SFT row in User + Reason + Assistant form."""
    return {"messages": [*user, {"role": "reason", "content": chain.reason},
                         {"role": "assistant", "content": _BRACKET[correct]}]}


def dpo_example(user: list[dict[str, str]], chains: Sequence[Chain], correct: str) -> dict[str, Any] | None:
    """TRL's conversational DPO row from R_best / R_worst by R_score; None when they coincide.

    ``chosen`` is the best reason with the correct verdict, ``rejected`` the worst reason with the verdict
    it reached (its own, possibly wrong, answer; the correct one if it reached none).
    """
    if len(chains) < 2:
        return None
    ranked = sorted(chains, key=lambda c: c.r_score())
    worst, best = ranked[0], ranked[-1]
    if best.r_score() == worst.r_score():
        return None
    return {
        "prompt": list(user),
        "chosen": [{"role": "reason", "content": best.reason}, {"role": "assistant", "content": _BRACKET[correct]}],
        "rejected": [{"role": "reason", "content": worst.reason},
                     {"role": "assistant", "content": _BRACKET[worst.verdict or correct]}],
        "chosen_r_score": best.r_score(),
        "rejected_r_score": worst.r_score(),
    }


def _labelled(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]]
              ) -> Iterator[tuple[list[dict[str, str]], Sequence[str], str]]:
    """(rendered user turn, sampled texts, correct verdict) for each sample with an A/B/tie label."""
    if len(samples) != len(chains_by_sample):
        raise ValueError("one list of sampled chains per sample is required")
    for sample, texts in zip(samples, chains_by_sample, strict=True):
        if sample.label is not None and sample.label.preferred is not None:
            yield grader.render(sample), texts, sample.label.preferred


def _collect(user: list[dict[str, str]], chains: Sequence[Chain], correct: str, sft: list[dict[str, Any]],
             dpo: list[dict[str, Any]]) -> None:
    best = best_correct_chain(chains, correct)
    if best is not None:
        sft.append(sft_example(user, best, correct))
    pair = dpo_example(user, chains, correct)
    if pair is not None:
        dpo.append(pair)


def build_reasongenrm_data(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]],
                           scorer: ChainScorer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(SFT rows, DPO rows) from K sampled answers per labelled sample (A or B preferred)."""
    sft: list[dict[str, Any]] = []
    dpo: list[dict[str, Any]] = []
    allow_tie = getattr(grader, "allow_tie", True)
    for user, texts, correct in _labelled(samples, grader, chains_by_sample):
        _collect(user, score_chains(user, texts, correct, scorer, allow_tie=allow_tie), correct, sft, dpo)
    return sft, dpo


async def abuild_reasongenrm_data(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]],
                                  scorer: AsyncChainScorer, *, concurrency: int = 8
                                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """:func:`build_reasongenrm_data` with a served scorer (:class:`VLLMChainScorer`); up to ``concurrency``
    samples are scored at once, and the rows come out in sample order."""
    sft: list[dict[str, Any]] = []
    dpo: list[dict[str, Any]] = []
    allow_tie = getattr(grader, "allow_tie", True)
    items = list(_labelled(samples, grader, chains_by_sample))
    for start in range(0, len(items), max(1, concurrency)):
        batch = items[start:start + max(1, concurrency)]
        scored = await asyncio.gather(*(ascore_chains(user, texts, correct, scorer, allow_tie=allow_tie)
                                        for user, texts, correct in batch))
        for (user, _, correct), chains in zip(batch, scored, strict=True):
            _collect(user, chains, correct, sft, dpo)
    return sft, dpo


async def asample_chains(model: Any, prompts: Sequence[list[dict[str, str]]], k: int, *, max_tokens: int = 256,
                         temperature: float = 1.0, seed: int | None = 0, concurrency: int = 16
                         ) -> list[list[str]]:
    """K sampled judge answers per prompt from a served model (one request with ``n=k`` per prompt)."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(index: int, prompt: list[dict[str, str]]) -> list[str]:
        params: dict[str, Any] = {"n": k, "max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            params["seed"] = seed + index
        async with sem:
            return (await model.complete(prompt, **params)).texts

    return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))


def sample_chains_local(model_dir: str | Path, prompts: Sequence[list[dict[str, str]]], k: int, *,
                        max_new_tokens: int = 64, temperature: float = 1.0, seed: int = 0) -> list[list[str]]:
    """K sampled judge answers per prompt from a local model (the in-process backend)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    out = []
    for prompt in prompts:
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
        with torch.inference_mode():
            gen = model.generate(**ids, do_sample=True, temperature=temperature, max_new_tokens=max_new_tokens,
                                 num_return_sequences=k, pad_token_id=tokenizer.pad_token_id)
        out.append(tokenizer.batch_decode(gen[:, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return out
