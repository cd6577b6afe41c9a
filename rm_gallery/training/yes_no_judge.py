"""Pairwise-RL's yes/no judge trained on CPU: CE on the answer token + the position-consistency term, top layers only.

The recipe of :func:`rm_gallery.training.pairwise_rl.pairwise_rl_loss` (cross-entropy on P(yes) in both orders
of every pair, plus zeta x (p(y over y*) - (1 - p(y* over y)))^2), made affordable on 2 CPU cores by
:class:`~rm_gallery.training.frozen_prefix.FrozenPrefix`: the lower layers run once per prompt and are cached,
only the top ``trainable_layers`` layers and the final norm are trained, and only the last position's logits
of the tokens the win-probability parser reads as "yes" and "no" are computed.

Prompts are the ``win_probability`` grader's own (``grader.render(sample, order)``), the yes/no token sets
are the ones its parser reads (:func:`~rm_gallery.training.pairwise_rl.yes_no_token_ids`), and the saved
checkpoint is a complete model folder that vLLM serves and the same grader reads back.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rm_gallery.client.completion import TokenLogprob
from rm_gallery.training.splits import PreferencePair
from rm_gallery.types import Label, Message, ParseFailure, Response, Sample


def autocast_bf16(enabled: bool) -> Any:
    """A CPU bfloat16 autocast context when ``enabled`` (matmuls in bf16, weights and optimizer state stay
    float32), else a no-op."""
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def length_grouped_batches(lengths: Sequence[int], batch: int, rng: random.Random, *, window: int = 32
                           ) -> list[list[int]]:
    """One epoch of batches of indices: shuffled windows of ``window`` batches, each window sorted by length,
    then the batches shuffled, so a batch pads to similar lengths (the "group by length" of Hugging Face's
    Trainer). Every index appears exactly once."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch * window
    order = [i for s in range(0, len(order), span) for i in sorted(order[s:s + span], key=lambda i: lengths[i])]
    batches = [order[s:s + batch] for s in range(0, len(order), batch)]
    rng.shuffle(batches)
    return batches


def yes_no_schedule(lengths: Sequence[int], *, epochs: float, batch_pairs: int, seed: int = 0,
                    group_by_length: bool = False) -> list[list[int]]:
    """The batches of pair indices :func:`train_yes_no` takes, in order (``lengths``: one per pair).

    ``round(ceil(n / batch_pairs) x epochs)`` steps (at least one): a shuffled stream of the pairs, reshuffled
    each time it runs short, or with ``group_by_length`` epochs of :func:`length_grouped_batches`. Pure and
    seeded, so a caller can cache only the pairs a short run will see (:func:`used_pairs`).
    """
    rng = random.Random(seed)
    total = max(1, round(math.ceil(len(lengths) / batch_pairs) * epochs))
    order: list[int] = []  # shuffled stream of pair indices (the published runs' sampling)
    pending: list[list[int]] = []  # an epoch of length-grouped batches
    schedule = []
    for _ in range(total):
        if group_by_length:
            if not pending:
                pending = length_grouped_batches(lengths, batch_pairs, rng)
            schedule.append(pending.pop(0))
        else:
            if len(order) < batch_pairs:
                fresh = list(range(len(lengths)))
                rng.shuffle(fresh)
                order.extend(fresh)
            batch, order = order[:batch_pairs], order[batch_pairs:]
            schedule.append(batch)
    return schedule


def pair_lengths(encoded: Sequence[tuple[Any, Any]]) -> list[int]:
    """Each pair's longer prompt in tokens (what a batch pads to): from ids or cached states alike."""
    return [max(ab.shape[1], ba.shape[1]) for ab, ba in encoded]


def used_pairs(schedule: Sequence[Sequence[int]]) -> list[int]:
    """The pair indices a schedule visits at least once, ascending: all a run needs cached."""
    return sorted({i for batch in schedule for i in batch})


def pair_sample(pair: PreferencePair) -> Sample:
    """The pair as a Sample with the chosen response first (label A); orders are chosen by ``render``."""
    return Sample(id=pair.id, messages=(Message(role="user", content=pair.prompt),),
                  responses=(Response(content=pair.chosen), Response(content=pair.rejected)),
                  label=Label(preferred="A"), metadata={"subset": pair.source})


@dataclass
class YesNoModel:
    """A local model split for training, with the yes/no token ids its grader's parser reads."""

    prefix: Any  # FrozenPrefix
    yes: Any
    no: Any
    grader: Any
    model_dir: Path
    answer_prefix: str = ""  # forced start of the answer; the yes/no tokens are read right after it

    @classmethod
    def load(cls, model_dir: str | Path, grader: Any, *, trainable_layers: int = 6, threads: int | None = None
             ) -> YesNoModel:
        import os

        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from rm_gallery.training.frozen_prefix import FrozenPrefix
        from rm_gallery.training.pairwise_rl import yes_no_token_ids

        if threads:
            torch.set_num_threads(threads)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        model.eval()  # no dropout: training here is deterministic given the seed
        yes_ids, no_ids = yes_no_token_ids(tokenizer)
        prefix = FrozenPrefix(model, tokenizer, trainable_layers)
        return cls(prefix, torch.tensor(yes_ids), torch.tensor(no_ids), grader, Path(model_dir))

    def reading(self, first: str, second: str, *, after: str = "") -> YesNoModel:
        """This model read as a choice between two answer tokens after a forced ``after`` (e.g. the ``pairwise``
        grader's letter: ``reading("A", "B", after="<preference>")``): ``first`` plays "yes" (the response
        shown first is better), so the same loss, training and probabilities apply. Shares the weights."""
        import torch

        def token(text: str) -> int:
            ids = self.prefix.tokenizer(text, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"answer {text!r} is {len(ids)} tokens for this tokenizer; need exactly one")
            return ids[0]

        return replace(self, yes=torch.tensor([token(first)]), no=torch.tensor([token(second)]), answer_prefix=after)

    def encode(self, pairs: Sequence[PreferencePair]) -> list[tuple[Any, Any]]:
        """Token ids of both orders of every pair (chosen first, then chosen second): the grader's prompts."""
        def ids(pair: PreferencePair, order: tuple[int, int]) -> Any:
            return self.prefix.encode(self.grader.render(pair_sample(pair), order), self.answer_prefix)

        return [(ids(pair, (0, 1)), ids(pair, (1, 0))) for pair in pairs]

    def cache(self, pairs: Sequence[PreferencePair] | Sequence[tuple[Any, Any]], *, batch: int = 8,
              bf16: bool = False, log: Callable[[str], None] | None = None) -> list[tuple[Any, Any]]:
        """Bottom-layer states of both orders of every pair (chosen first, then chosen second), batched by length.

        ``bf16=True`` runs the frozen layers under bfloat16 autocast (about 1.5x faster on a CPU with AVX512-BF16;
        the states are approximate): meant for *training* pairs only. Evaluation caches stay float32, so in-process
        probabilities keep matching a served float32 model. ``pairs`` may already be :meth:`encode`'d.
        """
        encoded = self.encode(pairs) if pairs and isinstance(pairs[0], PreferencePair) else pairs
        ids = [i for pair in encoded for i in pair]
        out: list[Any] = []
        step = 64 * batch  # report progress every few hundred sequences
        for start in range(0, len(ids), step):
            with autocast_bf16(bf16):
                out.extend(self.prefix.bottom_many(ids[start:start + step], batch=batch))
            if log:
                log(f"cached {min(start + step, len(ids))}/{len(ids)} prompts")
        return [(out[2 * i], out[2 * i + 1]) for i in range(len(encoded))]

    def yes_no_logits(self, hiddens: Sequence[Any]) -> tuple[Any, Any]:
        """log-sum-exp logits of the yes and the no token sets at each sequence's answer position."""
        import torch

        logits = self.prefix.last_logits_many(hiddens, torch.cat([self.yes, self.no]))
        n = len(self.yes)
        return torch.logsumexp(logits[:, :n], dim=-1), torch.logsumexp(logits[:, n:], dim=-1)

    def probabilities(self, cached: Sequence[tuple[Any, Any]], *, batch: int = 8, top_logprobs: int | None = None
                      ) -> tuple[list[float | ParseFailure], list[float | ParseFailure]]:
        """P(yes) = P(first shown is better) in each order: (chosen first, chosen second) for every pair.

        ``top_logprobs=None`` sums over every yes and every no token (what training optimises). With ``k`` the
        answer is read as the grader reads a served model: the ``k`` most likely answer tokens, decoded, through
        the grader's own parser (so a yes/no outside the top ``k`` counts as it does there, and neither side in
        it is a parse failure). :meth:`served_probabilities` uses the grader's ``top_logprobs``.
        """
        import torch

        p_ab: list[float | ParseFailure] = []
        p_ba: list[float | ParseFailure] = []
        with torch.inference_mode():
            for start in range(0, len(cached), batch):
                chunk = [h for pair in cached[start:start + batch] for h in pair]
                if top_logprobs is None:
                    y, n = self.yes_no_logits(chunk)
                    p: list[float | ParseFailure] = torch.sigmoid(y - n).tolist()
                else:
                    p = [self.grader.parser((answer,)) for answer in self._answer_tokens(chunk, top_logprobs)]
                p_ab.extend(p[0::2])
                p_ba.extend(p[1::2])
        return p_ab, p_ba

    def served_probabilities(self, cached: Sequence[tuple[Any, Any]], *, batch: int = 8
                             ) -> tuple[list[float | ParseFailure], list[float | ParseFailure]]:
        """:meth:`probabilities` as the grader reads this model once served (its ``top_logprobs`` alternatives)."""
        return self.probabilities(cached, batch=batch, top_logprobs=int(self.grader.judge.params["top_logprobs"]))

    def _answer_tokens(self, hiddens: Sequence[Any], k: int) -> list[TokenLogprob]:
        """The answer position as a server returns it: the greedy token and the top ``k`` decoded alternatives."""
        import torch

        vocab = self.prefix.model.get_output_embeddings().weight.shape[0]
        logprobs = torch.log_softmax(self.prefix.last_logits_many(hiddens, torch.arange(vocab)), dim=-1)
        values, ids = torch.topk(logprobs, k, dim=-1)
        decode = self.prefix.tokenizer.decode
        out = []
        for row_values, row_ids in zip(values.tolist(), ids.tolist(), strict=True):
            top = tuple((decode([i]), lp) for i, lp in zip(row_ids, row_values, strict=True))
            out.append(TokenLogprob(token=top[0][0], logprob=top[0][1], top=top))
        return out

    def save(self, out: str | Path) -> Path:
        """The whole model (frozen and trained layers) and the base tokenizer files, ready for vLLM."""
        from rm_gallery.training.trainers import copy_tokenizer_files

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        self.prefix.model.save_pretrained(str(out))
        copy_tokenizer_files(self.model_dir, out, self.prefix.tokenizer)
        return out


@dataclass
class YesNoTrainResult:
    """What one training run did: steps, seconds (caching and training apart) and the loss history."""

    steps: int
    epochs: float
    cache_seconds: float
    train_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_yes_no(judge: YesNoModel, cached: Sequence[tuple[Any, Any]] | Mapping[int, tuple[Any, Any]], *,
                 epochs: float = 1.0, batch_pairs: int = 8, learning_rate: float = 1e-4, zeta: float = 0.1,
                 warmup: float = 0.05, seed: int = 0, cache_seconds: float = 0.0, log_every: int = 10,
                 group_by_length: bool = False, bf16: bool = False, schedule: Sequence[Sequence[int]] | None = None,
                 log: Callable[[str], None] | None = None) -> YesNoTrainResult:
    """Pairwise-RL training on cached pairs (chosen first in ``ab``): CE over both orders + zeta x consistency.

    AdamW on the trainable layers, linear warmup then linear decay to 0; batches of ``batch_pairs`` pairs, both
    orders of each pair in the same batch (the consistency term needs both). Two speed options, off by default:
    ``group_by_length`` batches pairs of similar length (less padding: :func:`length_grouped_batches`) and
    ``bf16`` runs the forward under bfloat16 autocast (:func:`autocast_bf16`). The batches are
    :func:`yes_no_schedule`'s; pass ``schedule`` (from every pair's length) with ``cached`` a mapping of only
    the pairs it uses to skip caching the rest, e.g. for a run shorter than an epoch: the same steps either way.
    """
    import torch

    from rm_gallery.training.pairwise_rl import pairwise_rl_loss

    torch.manual_seed(seed)
    if schedule is None:
        if isinstance(cached, Mapping):
            raise ValueError("train_yes_no: a partial cache (a mapping) needs the schedule it was cached for")
        schedule = yes_no_schedule(pair_lengths(cached), epochs=epochs, batch_pairs=batch_pairs, seed=seed,
                                   group_by_length=group_by_length)
    have = cached.keys() if isinstance(cached, Mapping) else range(len(cached))
    missing = [i for i in used_pairs(schedule) if i not in have]
    if missing:
        raise ValueError(f"train_yes_no: the schedule uses pairs {missing[:5]} that are not cached")
    params = judge.prefix.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    total = len(schedule)
    warm = max(1, round(total * warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    history = []
    started = time.perf_counter()
    for step, batch in enumerate(schedule):
        with autocast_bf16(bf16):
            y, n = judge.yes_no_logits([h for i in batch for h in cached[i]])
        loss, parts = pairwise_rl_loss(y[0::2].float(), n[0::2].float(), y[1::2].float(), n[1::2].float(),
                                       torch.ones(len(batch)), zeta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append({"step": step + 1, **parts})
        if log and ((step + 1) % log_every == 0 or step + 1 == total):
            recent = history[-log_every:]
            log(f"step {step + 1}/{total}: loss {sum(h['loss'] for h in recent) / len(recent):.4f} "
                f"({time.perf_counter() - started:.0f}s)")
    return YesNoTrainResult(total, epochs, cache_seconds, time.perf_counter() - started, history)
