"""Train only the top layers of a causal LM on CPU: the lower layers are frozen and their outputs computed once.

On 2 CPU cores a full forward + backward of a 135M-parameter model costs about 4.4 s per 512-token sequence
(``../shared/REAL_JUDGE.md``), so a judge-training recipe that fits 30 minutes cannot backpropagate through
every layer. :class:`FrozenPrefix` splits a decoder-only model at layer ``k``: the embeddings and layers
``0..k-1`` are frozen and run once per sequence (:meth:`bottom`, no grad); layers ``k..`` and the final norm
are trained on those cached states (:meth:`top`). The output embedding stays frozen too (it is tied to the
input embedding in SmolLM2 and Qwen2, so training it would invalidate the cache). Exact, not approximate:
``top(bottom(x))`` equals the full model's final hidden states.

It works by temporarily swapping the model's layer list, so it needs a ``model.model.layers`` /
``model.model.norm`` layout (Llama, Qwen2, Mistral...) that feeds ``inputs_embeds`` straight into the layers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any


class FrozenPrefix:
    """A causal LM whose lower ``len(layers) - trainable_layers`` layers are frozen and computed once."""

    def __init__(self, model: Any, tokenizer: Any, trainable_layers: int) -> None:
        import torch

        inner = model.model
        total = len(inner.layers)
        if not 0 < trainable_layers <= total:
            raise ValueError(f"trainable_layers must be in 1..{total}, got {trainable_layers}")
        self.model, self.tokenizer = model, tokenizer
        self.split = total - trainable_layers
        self._all_layers = inner.layers
        from rm_gallery.training.trainers import freeze_below

        freeze_below(model, trainable_layers)
        self._torch = torch
        self.check()

    def check(self, text: str = "Is response 1 better than response 2? Answer yes or no.") -> None:
        """Raise unless ``top(bottom(x))`` reproduces the full model (guards against layouts this cannot split)."""
        torch = self._torch
        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            full = self.model.model(input_ids=ids, use_cache=False).last_hidden_state
            split = self.top(self.bottom(ids))
        if not torch.allclose(full, split, atol=1e-4, rtol=1e-4):
            raise ValueError(f"{type(self.model).__name__} cannot be split at layer {self.split}: the split forward "
                             f"differs from the full one by {float((full - split).abs().max()):.3g}")

    def trainable_parameters(self) -> list[Any]:
        """The top layers and the final norm: what an optimizer should update."""
        return [p for p in self.model.parameters() if p.requires_grad]

    @contextmanager
    def _only(self, start: int, end: int, *, final_norm: bool) -> Iterator[None]:
        import torch.nn as nn

        inner = self.model.model
        config = inner.config
        saved = (inner.layers, config.num_hidden_layers, inner.norm, getattr(config, "layer_types", None))
        inner.layers = nn.ModuleList(list(self._all_layers)[start:end])
        config.num_hidden_layers = end - start
        if saved[3] is not None:
            config.layer_types = list(saved[3])[start:end]
        if not final_norm:
            inner.norm = nn.Identity()
        try:
            yield
        finally:
            inner.layers, config.num_hidden_layers, inner.norm = saved[0], saved[1], saved[2]
            if saved[3] is not None:
                config.layer_types = saved[3]

    def encode(self, messages: Sequence[Mapping[str, str]], answer_prefix: str = "") -> Any:
        """Token ids (1 x T) of a chat prompt with the generation prompt appended, as a server would build it,
        then ``answer_prefix``: the start of the answer, forced (e.g. ``<preference>`` before a verdict letter)."""
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
        text += answer_prefix
        return self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]

    def bottom(self, input_ids: Any) -> Any:
        """Hidden states after the frozen layers (1 x T x H), without gradients: compute once, then cache."""
        with self._torch.inference_mode(), self._only(0, self.split, final_norm=False):
            return self.model.model(input_ids=input_ids, use_cache=False).last_hidden_state.clone()

    def bottom_many(self, sequences: Sequence[Any], batch: int = 8) -> list[Any]:
        """:meth:`bottom` for many ``1 x T`` id tensors, batched by length with right padding (exact: attention
        is causal, so no real position sees the padding after it); one unpadded ``1 x T x H`` tensor each."""
        torch = self._torch
        out: list[Any] = [None] * len(sequences)
        order = sorted(range(len(sequences)), key=lambda i: sequences[i].shape[1])
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            lengths = [sequences[i].shape[1] for i in chunk]
            ids = torch.zeros((len(chunk), max(lengths)), dtype=sequences[chunk[0]].dtype)
            for row, i in enumerate(chunk):
                ids[row, :lengths[row]] = sequences[i][0]
            hidden = self.bottom(ids)
            for row, i in enumerate(chunk):
                out[i] = hidden[row:row + 1, :lengths[row]].clone()
        return out

    def last_logits_many(self, hiddens: Sequence[Any], token_ids: Any) -> Any:
        """``N x len(token_ids)`` logits at each sequence's last position, the top layers run once on the batch."""
        torch = self._torch
        lengths = [h.shape[1] for h in hiddens]
        padded = torch.zeros((len(hiddens), max(lengths), hiddens[0].shape[2]), dtype=hiddens[0].dtype)
        for row, h in enumerate(hiddens):
            padded[row, :lengths[row]] = h[0]
        final = self.top(padded)[torch.arange(len(hiddens)), torch.tensor(lengths) - 1]
        weight = self.model.get_output_embeddings().weight
        return final @ weight[token_ids].T

    def top(self, hidden: Any) -> Any:
        """Final normalised hidden states (1 x T x H) from cached bottom states, through the trainable layers."""
        with self._only(self.split, len(self._all_layers), final_norm=True):
            return self.model.model(inputs_embeds=hidden, use_cache=False).last_hidden_state

    def last_logits(self, hidden: Any, token_ids: Any) -> Any:
        """Logits of ``token_ids`` at the last position only (the answer token of a yes/no judge)."""
        final = self.top(hidden)[:, -1, :]
        weight = self.model.get_output_embeddings().weight
        return final @ weight[token_ids].T
