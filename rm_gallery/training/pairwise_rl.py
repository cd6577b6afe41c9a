"""Pairwise-RL: a policy reward from the win-probability judge, and training that judge generatively.

(a) :class:`WinProbabilityPolicyReward` — an async TRL reward: the symmetric probability that the policy's
    response beats a ground-truth anchor, P = (p(y over y*) + 1 - p(y* over y)) / 2, as computed by
    :class:`~rm_gallery.graders.win_probability.WinProbabilityGrader`. :func:`select_anchor` picks the anchor
    by best-of-n among a reference model's responses, and reports the comparisons the judge failed.
(b) :func:`train_pairwise_rm` — cross-entropy on the yes/no answer token plus zeta x a position-consistency
    term (p(y over y*) - (1 - p(y* over y)))^2, with both orders of every pair in each batch; CPU-friendly.
    Prompts are ``grader.render(sample, order)``; which tokens count as "yes" and "no" is decided by the
    grader's own parser (:func:`~rm_gallery.graders.logprobs.yes_no_probability`).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rm_gallery.client.completion import TokenLogprob
from rm_gallery.client.errors import ModelError
from rm_gallery.graders.logprobs import yes_no_probability
from rm_gallery.graders.win_probability import symmetric_win_probability
from rm_gallery.training.judgments import completion_text
from rm_gallery.types import GraderError, Message, Response, Sample, Verdict


def _sample(prompt: Any, first: str, second: str, sample_id: str) -> Sample:
    if isinstance(prompt, str):
        messages: tuple[Message, ...] = (Message(role="user", content=prompt),)
    else:
        messages = tuple(Message(role=m["role"], content=m["content"]) for m in prompt)
    return Sample(id=sample_id, messages=messages, responses=(Response(content=first), Response(content=second)))


class WinProbabilityPolicyReward:
    """Async TRL reward: P(policy response beats the row's ``anchor``) from a symmetric win-probability judge.

    The dataset needs an ``anchor`` column (see :func:`select_anchor`); ``prompt`` is the policy's prompt
    (the user query). A judge error gives None, which TRL leaves out of the advantage.
    """

    def __init__(self, grader: Any, *, anchor_column: str = "anchor", concurrency: int = 16,
                 name: str = "win_probability_reward") -> None:
        if not getattr(grader, "symmetric", False):
            raise ValueError("the policy reward needs a symmetric win-probability grader (symmetric=True)")
        self.grader, self.anchor_column = grader, anchor_column
        self.semaphore: asyncio.Semaphore | None = None
        self.concurrency = concurrency
        self.__name__ = name

    async def _one(self, i: int, prompt: Any, completion: Any, anchor: str) -> float | None:
        assert self.semaphore is not None
        async with self.semaphore:
            result = await self.grader.grade(_sample(prompt, completion_text(completion), anchor, f"policy-{i}"))
        return result.probability if isinstance(result, Verdict) else None

    async def __call__(self, prompts: Sequence[Any] = (), completions: Sequence[Any] = (),
                       **kwargs: Any) -> list[float | None]:
        anchors = kwargs.get(self.anchor_column)
        if anchors is None:
            raise KeyError(f"win-probability reward needs the dataset column {self.anchor_column!r}")
        self.semaphore = asyncio.Semaphore(self.concurrency)
        return list(await asyncio.gather(*(self._one(i, p, c, a) for i, (p, c, a)
                                           in enumerate(zip(prompts, completions, anchors, strict=True)))))


@dataclass(frozen=True)
class AnchorChoice:
    """Best-of-n's answer: the anchor's index, each candidate's mean win probability, and the failed comparisons.

    ``win_rates[k]`` is candidate k's mean symmetric win probability over the comparisons the judge answered
    (None if it answered none); ``errors`` holds ``(i, j, error)`` for every comparison of candidates i and j
    it did not answer. ``index`` is None when no comparison was answered; a choice made with errors rests on
    fewer comparisons, so check :attr:`complete` before trusting it.
    """

    index: int | None
    win_rates: tuple[float | None, ...]
    errors: tuple[tuple[int, int, GraderError], ...] = ()

    @property
    def complete(self) -> bool:
        return not self.errors


async def _compare(grader: Any, prompt: Any, first: str, second: str, sample_id: str) -> float | GraderError:
    """P(first beats second), or the error that stands in its place (an API failure, an unread answer)."""
    try:
        result = await grader.grade(_sample(prompt, first, second, sample_id))
    except ModelError as exc:
        return GraderError(kind=exc.kind, message=str(exc))  # type: ignore[arg-type]
    if isinstance(result, GraderError):
        return result
    if isinstance(result, Verdict) and result.probability is not None:
        return result.probability
    return GraderError(kind="parse_error", message=f"{getattr(grader, 'name', 'judge')} gave no win probability",
                       raw=getattr(result, "raw", None))


async def select_anchor(prompt: Any, candidates: Sequence[str], grader: Any) -> AnchorChoice:
    """Best-of-n: the candidate with the highest mean symmetric win probability against the others.

    Every pair is judged once. A comparison the judge fails is reported in ``errors`` and left out of both
    candidates' means; it never counts as a draw (0.5).
    """
    if not candidates:
        raise ValueError("select_anchor needs at least one candidate")
    if len(candidates) == 1:
        return AnchorChoice(0, (None,))
    pairs = list(itertools.combinations(range(len(candidates)), 2))
    results = await asyncio.gather(*(_compare(grader, prompt, candidates[i], candidates[j], f"anchor-{i}-{j}")
                                     for i, j in pairs))
    wins: list[list[float]] = [[] for _ in candidates]
    errors = []
    for (i, j), r in zip(pairs, results, strict=True):
        if isinstance(r, GraderError):
            errors.append((i, j, r))
            continue
        wins[i].append(r)
        wins[j].append(1.0 - r)
    rates = tuple(math.fsum(w) / len(w) if w else None for w in wins)
    readable = {k: rate for k, rate in enumerate(rates) if rate is not None}
    index = max(readable, key=readable.__getitem__) if readable else None   # ties: the lower index
    return AnchorChoice(index, rates, tuple(errors))


# -- (b) training the generative pairwise reward model --------------------------------------------------


def yes_no_token_ids(tokenizer: Any) -> tuple[list[int], list[int]]:
    """Vocabulary ids the grader's parser reads as "yes" and as "no" (e.g. "yes", " Yes", "no.")."""
    yes, no = [], []
    for token_id in range(len(tokenizer)):
        text = tokenizer.decode([token_id])
        p = yes_no_probability((TokenLogprob(token=text, logprob=0.0),))
        if isinstance(p, float):
            (yes if p == 1.0 else no).append(token_id)
    if not yes or not no:
        raise ValueError("the tokenizer has no token the win-probability parser reads as yes or as no")
    return yes, no


def consistency_loss_terms(p_ab: Any, p_ba: Any) -> Any:
    """(p(y over y*) - (1 - p(y* over y)))^2 per pair: zero when the two orders agree."""
    return (p_ab - (1.0 - p_ba)) ** 2


def pairwise_rl_loss(logit_yes_ab: Any, logit_no_ab: Any, logit_yes_ba: Any, logit_no_ba: Any, first_wins: Any,
                     zeta: float = 0.1) -> tuple[Any, dict[str, float]]:
    """CE on the yes/no token over both orders + zeta x the consistency term; returns (loss, parts).

    ``logit_yes_ab`` etc. are the (log-sum-exp) logits of the yes/no token sets for the pair shown as
    (y, y*) and as (y*, y); ``first_wins`` is 1.0 where y is the better response.
    """
    import torch
    import torch.nn.functional as F

    diff_ab = logit_yes_ab - logit_no_ab  # log p(yes)/p(no): a binary logit
    diff_ba = logit_yes_ba - logit_no_ba
    ce = (F.binary_cross_entropy_with_logits(diff_ab, first_wins)
          + F.binary_cross_entropy_with_logits(diff_ba, 1.0 - first_wins)) / 2
    consistency = consistency_loss_terms(torch.sigmoid(diff_ab), torch.sigmoid(diff_ba)).mean()
    loss = ce + zeta * consistency
    return loss, {"ce": float(ce.detach()), "consistency": float(consistency.detach()), "loss": float(loss.detach())}


@dataclass
class PairwiseRMResult:
    output_dir: Path
    steps: int
    history: list[dict[str, float]]


def _yes_no_logits(model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], yes: Any, no: Any
                   ) -> tuple[Any, Any]:
    import torch

    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    logits = model(**enc).logits[:, -1, :]  # left padding: the last position is the answer token
    return torch.logsumexp(logits[:, yes], dim=-1), torch.logsumexp(logits[:, no], dim=-1)


def train_pairwise_rm(model_dir: str | Path, samples: Sequence[Sample], grader: Any, output_dir: str | Path, *,
                      zeta: float = 0.1, steps: int = 50, batch_pairs: int = 4, learning_rate: float = 1e-3,
                      seed: int = 0) -> PairwiseRMResult:
    """Train a yes/no judge on labelled pairs (A or B preferred), both orders per batch, on CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pairs = [s for s in samples if s.label is not None and s.label.preferred in ("A", "B")]
    if not pairs:
        raise ValueError("no sample with a preference A or B to train on")
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir))
    model.train()
    yes_ids, no_ids = yes_no_token_ids(tokenizer)
    yes, no = torch.tensor(yes_ids), torch.tensor(no_ids)
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    rng = random.Random(seed)
    history = []
    for _ in range(steps):
        batch = rng.sample(pairs, min(batch_pairs, len(pairs)))
        y_ab, n_ab = _yes_no_logits(model, tokenizer, [grader.render(s, (0, 1)) for s in batch], yes, no)
        y_ba, n_ba = _yes_no_logits(model, tokenizer, [grader.render(s, (1, 0)) for s in batch], yes, no)
        first = torch.tensor([1.0 if s.label.preferred == "A" else 0.0 for s in batch])  # type: ignore[union-attr]
        loss, parts = pairwise_rl_loss(y_ab, n_ab, y_ba, n_ba, first, zeta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(parts)
    out = Path(output_dir)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return PairwiseRMResult(out, steps, history)


def pairwise_rm_probability(model_dir: str | Path, samples: Sequence[Sample], grader: Any) -> list[float]:
    """Symmetric P(A beats B) for each sample from a local yes/no judge (in-process, no server)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    yes_ids, no_ids = yes_no_token_ids(tokenizer)
    yes, no = torch.tensor(yes_ids), torch.tensor(no_ids)
    with torch.inference_mode():
        y_ab, n_ab = _yes_no_logits(model, tokenizer, [grader.render(s, (0, 1)) for s in samples], yes, no)
        y_ba, n_ba = _yes_no_logits(model, tokenizer, [grader.render(s, (1, 0)) for s in samples], yes, no)
    p_ab, p_ba = torch.sigmoid(y_ab - n_ab).tolist(), torch.sigmoid(y_ba - n_ba).tolist()
    return [symmetric_win_probability(a, b) for a, b in zip(p_ab, p_ba, strict=True)]
