"""ReasonGenRM's data pipeline: sample reasoning chains, score them with log-probabilities, export SFT and DPO.

For each labelled pair, K chains come from the reasoning judge (its template, its parser: the reason is
the text before the last ``[[A]]``/``[[B]]``), sampled in-process (:func:`sample_chains_local`) or from any
served model (:func:`asample_chains`). Each chain gets P(R|U) = P(reason | user) and P(A|U,R) = P(correct
verdict | user, reason) from a scorer: in-process transformers (:class:`TransformersChainScorer`) or a vLLM
server's ``prompt_logprobs`` (:class:`VLLMChainScorer`, with :func:`abuild_reasongenrm_data`).

The seed's selection, per labelled sample, over the chains' *own* verdicts (a chain's verdict is never
rewritten):

* SFT (rejection sampling): R* = argmax P(A|U,R) * P(R|U) among chains whose verdict is correct.
* DPO chosen, "correct and fluent": the max R_score among chains whose verdict is correct, with R_score =
  (2P(A|U,R) - 1) * P(R|U) if P(A|U,R) >= P(R|U), else -P(R|U)
  (:func:`~rm_gallery.training.rewards.reason_score`).
* DPO rejected, "incorrect and fluent": among chains whose verdict is wrong,
  R_worst = argmin -(1 - P(A|U,R)) * P(R|U).

A sample with no correct chain gives neither row; one with no incorrect chain gives no DPO pair; both are
counted in :class:`ReasonGenRMData`. A chain with no readable verdict is neither correct nor incorrect.

P(R|U) is the seed's joint probability of the reason (the product over its tokens) unless a scorer is built
with ``reason_probability="per_token"`` (an option, not the seed's: the per-token geometric mean, which
does not penalise long reasons). Scores travel as log-probabilities and the selections compare them in log
space, so a long reason whose joint probability underflows a float is still ranked exactly.

Exports keep ReasonGenRM's User + Reason + Assistant structure: a ``reason`` turn between the user turn and
the verdict, which :data:`REASON_CHAT_TEMPLATE` renders (ChatML with a ``reason`` role).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

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

#: How P(R|U) is computed from the reason's token log-probabilities: ``joint`` (the seed's) or ``per_token``.
ReasonProbability = Literal["joint", "per_token"]


@dataclass(frozen=True)
class Chain:
    """One sampled reasoning chain: its reason, the verdict it reached itself, and its log-probabilities.

    ``logp_reason`` is log P(R|U); ``logp_verdict`` is log P(A|U,R), A being the *correct* verdict (whatever
    this chain concluded). ``verdict`` is None when the chain has no readable final verdict.
    """

    reason: str
    verdict: str | None
    logp_reason: float = 0.0
    logp_verdict: float = 0.0

    @property
    def p_reason(self) -> float:
        return math.exp(self.logp_reason)

    @property
    def p_verdict(self) -> float:
        return math.exp(self.logp_verdict)

    def r_score(self) -> float:
        """ReasonGenRM's R_score as a float (0.0 when P(R|U) underflows; rankings use :func:`r_score_key`)."""
        return reason_score(self.p_verdict, self.p_reason)


def r_score_key(chain: Chain) -> tuple[int, float]:
    """A sort key that orders chains exactly as R_score does, computed in log space: (sign, signed log size)."""
    lv, lr = chain.logp_verdict, chain.logp_reason
    if lr == -math.inf:
        return 0, 0.0
    if lv < lr:                                         # P(A|U,R) < P(R|U): R_score = -P(R|U)
        return -1, -lr
    gain = 2.0 * math.exp(lv) - 1.0                     # R_score = (2 P(A|U,R) - 1) * P(R|U)
    if gain == 0.0:
        return 0, 0.0
    return (1, math.log(gain) + lr) if gain > 0 else (-1, -(math.log(-gain) + lr))


def r_star_key(chain: Chain) -> float:
    """log(P(A|U,R) * P(R|U)): rejection sampling keeps the correct chain that maximises it."""
    return chain.logp_verdict + chain.logp_reason


def r_worst_key(chain: Chain) -> float:
    """log((1 - P(A|U,R)) * P(R|U)): the seed's R_worst = argmin -(1 - P(A|U,R)) * P(R|U) maximises it."""
    lv = chain.logp_verdict
    return (math.log(-math.expm1(lv)) if lv < 0 else -math.inf) + chain.logp_reason


def split_chain(text: str, *, allow_tie: bool = True) -> tuple[str, str | None]:
    """(reason, verdict) of a reasoning-judge answer, read by the reasoning grader's own functions."""
    verdict = parse_bracket_verdict(text, allow_tie=allow_tie)
    return reasoning_before_verdict(text) or "", None if isinstance(verdict, ParseFailure) else verdict


class ChainScorer(Protocol):
    """Gives (log P(reason | user), log P(verdict text | user, reason)) for one chain."""

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


def chain_logprobs(lp_reason: Sequence[float], lp_verdict: Sequence[float], *,
                   reason_probability: ReasonProbability = "joint") -> tuple[float, float]:
    """(log P(R|U), log P(verdict|U,R)) from the tokens' log-probabilities.

    P(R|U) is the seed's joint probability (the sum of the reason's token log-probabilities), or with
    ``reason_probability="per_token"`` (an option, not the seed's) their mean: the log of the per-token
    geometric mean, which compares long and short reasons. P(verdict|U,R) is the joint probability of the
    verdict's tokens either way.
    """
    if reason_probability not in ("joint", "per_token"):
        raise ValueError(f"reason_probability must be 'joint' or 'per_token', got {reason_probability!r}")
    logp_reason = math.fsum(lp_reason)
    if reason_probability == "per_token":
        logp_reason /= max(1, len(lp_reason))
    return logp_reason, math.fsum(lp_verdict)


class TransformersChainScorer:
    """In-process scorer (see :func:`chain_logprobs` for the two log-probabilities)."""

    def __init__(self, model_dir: str | Path, *, reason_probability: ReasonProbability = "joint") -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        chain_logprobs((), (), reason_probability=reason_probability)  # validates the option
        self.reason_probability = reason_probability
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
        return chain_logprobs(self._logprobs(*reason_part), self._logprobs(*verdict_part),
                              reason_probability=self.reason_probability)


class VLLMChainScorer:
    """The same log-probabilities from a vLLM server's ``prompt_logprobs``: no local model, any size of judge.

    ``scorer`` is a :class:`~rm_gallery.client.prompt_logprobs.PromptLogprobScorer` for the served model.
    """

    def __init__(self, scorer: Any, *, reason_probability: ReasonProbability = "joint") -> None:
        chain_logprobs((), (), reason_probability=reason_probability)  # validates the option
        self.scorer = scorer
        self.reason_probability = reason_probability

    async def ascore(self, user: list[dict[str, str]], reason: str, verdict_text: str) -> tuple[float, float]:
        reason_part, verdict_part = chain_segments(user, reason, verdict_text)
        lp_reason, lp_verdict = await asyncio.gather(self.scorer.continuation_logprobs(*reason_part),
                                                     self.scorer.continuation_logprobs(*verdict_part))
        return chain_logprobs(lp_reason, lp_verdict, reason_probability=self.reason_probability)


def score_chains(user: list[dict[str, str]], texts: Sequence[str], correct: str, scorer: ChainScorer, *,
                 allow_tie: bool = True) -> list[Chain]:
    """Split each sampled answer into (reason, verdict) and score the *correct* verdict given its reason."""
    chains = []
    for text in texts:
        reason, verdict = split_chain(text, allow_tie=allow_tie)
        chains.append(Chain(reason, verdict, *scorer(user, reason, _BRACKET[correct])))
    return chains


async def ascore_chains(user: list[dict[str, str]], texts: Sequence[str], correct: str, scorer: AsyncChainScorer,
                        *, allow_tie: bool = True) -> list[Chain]:
    """:func:`score_chains` with an awaited scorer; the K chains are scored concurrently."""
    split = [split_chain(text, allow_tie=allow_tie) for text in texts]
    probs = await asyncio.gather(*(scorer.ascore(user, reason, _BRACKET[correct]) for reason, _ in split))
    return [Chain(reason, verdict, *p) for (reason, verdict), p in zip(split, probs, strict=True)]


def best_correct_chain(chains: Sequence[Chain], correct: str) -> Chain | None:
    """Rejection sampling: among chains whose verdict is correct, R* = argmax P(A|U,R) * P(R|U)."""
    kept = [c for c in chains if c.verdict == correct]
    return max(kept, key=r_star_key) if kept else None


def dpo_chains(chains: Sequence[Chain], correct: str) -> tuple[Chain, Chain] | None:
    """(chosen, rejected) as the seed selects them, or None when either side has no chain.

    chosen = "correct and fluent": the max R_score among chains whose own verdict is correct;
    rejected = "incorrect and fluent": among chains whose own verdict is wrong,
    R_worst = argmin -(1 - P(A|U,R)) * P(R|U).
    """
    right = [c for c in chains if c.verdict == correct]
    wrong = [c for c in chains if c.verdict is not None and c.verdict != correct]
    if not right or not wrong:
        return None
    return max(right, key=r_score_key), max(wrong, key=r_worst_key)


def sft_example(user: list[dict[str, str]], chain: Chain) -> dict[str, Any]:
    """An SFT row in User + Reason + Assistant form; the assistant turn is the chain's own verdict."""
    return {"messages": [*user, {"role": "reason", "content": chain.reason},
                         {"role": "assistant", "content": _BRACKET[_own_verdict(chain)]}]}


def dpo_example(user: list[dict[str, str]], chains: Sequence[Chain], correct: str) -> dict[str, Any] | None:
    """TRL's conversational DPO row from :func:`dpo_chains`, each side with its own verdict; None if skipped."""
    picked = dpo_chains(chains, correct)
    if picked is None:
        return None
    chosen, rejected = picked
    return {
        "prompt": list(user),
        "chosen": [{"role": "reason", "content": chosen.reason},
                   {"role": "assistant", "content": _BRACKET[_own_verdict(chosen)]}],
        "rejected": [{"role": "reason", "content": rejected.reason},
                     {"role": "assistant", "content": _BRACKET[_own_verdict(rejected)]}],
        "chosen_r_score": chosen.r_score(),
        "rejected_r_score": rejected.r_score(),
    }


def _own_verdict(chain: Chain) -> str:
    if chain.verdict is None:
        raise ValueError("a chain without a verdict cannot be exported (its verdict is never made up)")
    return chain.verdict


@dataclass
class ReasonGenRMData:
    """The exported rows, and how many labelled samples gave none (and why)."""

    sft: list[dict[str, Any]] = field(default_factory=list)
    dpo: list[dict[str, Any]] = field(default_factory=list)
    #: Labelled samples seen.
    samples: int = 0
    #: Samples where no chain reached the correct verdict: no SFT row and no DPO pair.
    no_correct_chain: int = 0
    #: Samples with a correct chain but no chain that reached a wrong verdict: no DPO pair.
    no_incorrect_chain: int = 0

    @property
    def dpo_skipped(self) -> int:
        return self.no_correct_chain + self.no_incorrect_chain

    def add(self, user: list[dict[str, str]], chains: Sequence[Chain], correct: str) -> None:
        self.samples += 1
        best = best_correct_chain(chains, correct)
        if best is None:
            self.no_correct_chain += 1
            return
        self.sft.append(sft_example(user, best))
        pair = dpo_example(user, chains, correct)
        if pair is None:
            self.no_incorrect_chain += 1
        else:
            self.dpo.append(pair)


def _labelled(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]]
              ) -> Iterator[tuple[list[dict[str, str]], Sequence[str], str]]:
    """(rendered user turn, sampled texts, correct verdict) for each sample with an A/B/tie label."""
    if len(samples) != len(chains_by_sample):
        raise ValueError("one list of sampled chains per sample is required")
    for sample, texts in zip(samples, chains_by_sample, strict=True):
        if sample.label is not None and sample.label.preferred is not None:
            yield grader.render(sample), texts, sample.label.preferred


def build_reasongenrm_data(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]],
                           scorer: ChainScorer) -> ReasonGenRMData:
    """SFT rows, DPO pairs and skip counts from K sampled answers per labelled sample."""
    data = ReasonGenRMData()
    allow_tie = getattr(grader, "allow_tie", True)
    for user, texts, correct in _labelled(samples, grader, chains_by_sample):
        data.add(user, score_chains(user, texts, correct, scorer, allow_tie=allow_tie), correct)
    return data


async def abuild_reasongenrm_data(samples: Sequence[Sample], grader: Any, chains_by_sample: Sequence[Sequence[str]],
                                  scorer: AsyncChainScorer, *, concurrency: int = 8) -> ReasonGenRMData:
    """:func:`build_reasongenrm_data` with a served scorer (:class:`VLLMChainScorer`); up to ``concurrency``
    samples are scored at once, and the rows come out in sample order."""
    data = ReasonGenRMData()
    allow_tie = getattr(grader, "allow_tie", True)
    items = list(_labelled(samples, grader, chains_by_sample))
    for start in range(0, len(items), max(1, concurrency)):
        batch = items[start:start + max(1, concurrency)]
        scored = await asyncio.gather(*(ascore_chains(user, texts, correct, scorer, allow_tie=allow_tie)
                                        for user, texts, correct in batch))
        for (user, _, correct), chains in zip(batch, scored, strict=True):
            data.add(user, chains, correct)
    return data


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
