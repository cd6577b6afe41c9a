"""Build a tiny, random-weight Qwen2-style chat model that loads fully offline.

The model is meant for tests and local demos where no model hub is reachable:
it is a few hundred KB, builds in seconds on CPU, loads with ``transformers``
(``AutoModelForCausalLM`` / ``AutoTokenizer``) and with vLLM, and speaks
ChatML. Its outputs are random, but its tokenizer was trained on text full of
judge vocabulary (``A``, ``B``, ``tie``, ``yes``, ``no``, ``0``-``10``,
``<preference>``, ``[[A]]`` ...) so those strings tokenize compactly.

Heavy imports (torch, transformers, tokenizers) happen inside the functions.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CHATML_TEMPLATE",
    "SPECIAL_TOKENS",
    "add_arguments",
    "build_tiny_model",
    "generate_corpus",
    "main",
    "run",
]

#: ChatML control tokens, in id order (they get ids 0, 1, 2).
SPECIAL_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: ChatML chat template (Qwen-style) with ``add_generation_prompt`` support.
CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

#: Qwen2's pre-tokenization split (digits are split one by one).
_QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: Written next to the weights; lets a second build with equal settings be a no-op.
MARKER_FILE = "rm_gallery_tiny_model.json"

_JUDGE_WORDS = tuple(
    (
        "A B C tie Tie yes no Yes No YES NO true false better worse equal equally good bad "
        "correct incorrect helpful harmless honest accurate relevant clear concise verdict "
        "score Score rating Rating answer Answer response Response assistant user system "
        "preference reasoning judge"
    ).split()
)
_TAGS = tuple("preference answer score reasoning think verdict rating explanation choice result".split())
_GENERAL_WORDS = tuple(
    (
        "the a an and or but of to in on for with is are was be it this that which because "
        "more less than both neither question prompt output model first second final overall "
        "detail details fact facts error errors reply replies compare compared evaluate "
        "evaluation quality criteria instruction instructions follows follow provides provide "
        "explain explains uses example examples code math step steps result results reason "
        "reasons safe unsafe number value point points scale from between out best worst same "
        "different hello world please thank you what how why when where who can could should "
        "would will not very much some all any each one two three here there me my your we "
        "they write read story poem list summary translate sentence word words language "
        "problem"
    ).split()
)
_VERDICT_TEMPLATES = (
    "<{tag}>{v}</{tag}>",
    "[[{v}]]",
    "Final verdict: [[{v}]]",
    "Answer: {v}",
    "The better response is {v}.",
    "Response {v} is better.",
    "Output ({lv}) is better.",
    "Verdict: {v}",
    '{{"preference": "{v}"}}',
)
_SCORE_TEMPLATES = (
    "Score: {s}",
    "Score: {s}/10",
    "Rating: [[{s}]]",
    "<score>{s}</score>",
    '{{"score": {s}}}',
    "I give it {s} out of 10.",
    "Overall score {s}",
)
_YES_NO_TEMPLATES = (
    "{yn}",
    "Answer: {yn}",
    "<answer>{yn}</answer>",
    "Is it correct? {yn}.",
    '{{"correct": {tf}}}',
)


_SYLLABLES = tuple(
    (
        "ka lo mi ne ru sa ti vo ze ba de fi go hu ja pe qui ro su ta wa xe yo cor len mar "
        "tis ven str ing ion ly er est ed al"
    ).split()
)


def _pseudo_words(rng: random.Random, count: int) -> list[str]:
    """Make ``count`` pronounceable pseudo-words; they give BPE enough distinct merges."""
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))) for _ in range(count)]


def generate_corpus(seed: int = 0, target_chars: int = 40_000) -> str:
    """Return deterministic pseudo-text (about ``target_chars``) rich in judge vocabulary.

    Used to train the tokenizer so verdict words/tags become compact tokens.
    """
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    words = _GENERAL_WORDS * 2 + _JUDGE_WORDS * 2 + tuple(_pseudo_words(rng, 600))
    while size < target_chars:
        kind = rng.random()
        if kind < 0.35:
            n = rng.randint(4, 14)
            sentence = " ".join(rng.choice(words) for _ in range(n))
            line = sentence[0].upper() + sentence[1:] + rng.choice((".", "?", "!", ":"))
        elif kind < 0.6:
            v = rng.choice(("A", "B", "tie", "C"))
            line = rng.choice(_VERDICT_TEMPLATES).format(tag=rng.choice(_TAGS), v=v, lv=v.lower())
        elif kind < 0.8:
            s = rng.randint(0, 10)
            line = rng.choice(_SCORE_TEMPLATES).format(s=s)
        else:
            yn = rng.choice(("yes", "no", "Yes", "No"))
            tf = "true" if yn.lower() == "yes" else "false"
            line = rng.choice(_YES_NO_TEMPLATES).format(yn=yn, tf=tf)
        # Sprinkle ChatML framing so role names and newlines merge sensibly.
        if rng.random() < 0.1:
            line = f"{rng.choice(('user', 'assistant', 'system'))}\n{line}"
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def _train_tokenizer(corpus: str, vocab_size: int) -> Any:
    """Train a byte-level BPE ``tokenizers.Tokenizer`` on ``corpus``.

    Normalizer and pre-tokenizer match Qwen2's, because transformers 5.x loads a
    ``model_type: qwen2`` tokenizer as ``Qwen2Tokenizer``, which imposes them; any
    other choice would make transformers, vLLM and raw ``tokenizers`` disagree.
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus.splitlines(keepends=True), trainer=trainer)
    return tokenizer


def _tokenizer_config(max_positions: int) -> dict[str, Any]:
    """Return a version-neutral ``tokenizer_config.json`` for the ChatML tokenizer."""
    added = {
        str(i): {
            "content": tok,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for i, tok in enumerate(SPECIAL_TOKENS)
    }
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "model_max_length": max_positions,
        "clean_up_tokenization_spaces": False,
        "errors": "replace",
        "split_special_tokens": False,
        "chat_template": CHATML_TEMPLATE,
    }


def _settings(
    *,
    seed: int,
    vocab_size: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    layers: int,
    intermediate: int,
    max_positions: int,
    dtype: str,
) -> dict[str, Any]:
    """Collect build settings (stored in the marker file to detect reusable builds)."""
    return {
        "format": 3,
        "seed": seed,
        "vocab_size": vocab_size,
        "hidden": hidden,
        "heads": heads,
        "kv_heads": kv_heads,
        "layers": layers,
        "intermediate": intermediate,
        "max_positions": max_positions,
        "dtype": dtype,
    }


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    hidden: int = 64,
    heads: int = 2,
    kv_heads: int = 1,
    layers: int = 2,
    intermediate: int = 128,
    max_positions: int = 4096,
    dtype: str = "float32",
    overwrite: bool = False,
) -> Path:
    """Build a tiny random Qwen2ForCausalLM + ChatML tokenizer into ``out_dir``.

    Deterministic for a given ``seed``. If ``out_dir`` already holds a tiny model
    built with the same settings it is reused; any other non-empty ``out_dir``
    raises ``FileExistsError`` unless ``overwrite`` is true. The build is staged in
    a temporary sibling directory and moved into place, so readers never see a
    half-written model. ``hidden // heads`` must be a head size vLLM's CPU
    attention supports (32, 64, 80, 96, 112, 128, ...). Returns ``out_dir``.
    """
    out = Path(out_dir).expanduser().resolve()
    if hidden % heads or heads % kv_heads:
        raise ValueError("hidden must divide by heads, and heads by kv_heads")
    if hidden // heads < 32:
        raise ValueError("head_dim (hidden // heads) must be >= 32 for vLLM CPU attention")
    settings = _settings(
        seed=seed,
        vocab_size=vocab_size,
        hidden=hidden,
        heads=heads,
        kv_heads=kv_heads,
        layers=layers,
        intermediate=intermediate,
        max_positions=max_positions,
        dtype=dtype,
    )

    if out.exists() and any(out.iterdir()):
        marker = out / MARKER_FILE
        if not overwrite:
            if marker.is_file():
                try:
                    if json.loads(marker.read_text()).get("settings") == settings:
                        return out
                except (OSError, ValueError):
                    pass
            raise FileExistsError(f"{out} is not empty; pass overwrite=True to replace it")

    import torch
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    from rm_gallery.local.models import staged_folder

    started = time.perf_counter()
    with staged_folder(out) as staging:
        raw_tokenizer = _train_tokenizer(generate_corpus(seed), vocab_size)
        # Written by hand (not tokenizer.save_pretrained) so the files read the same
        # under transformers 4.x and 5.x: 5.x would write tokenizer_class
        # "TokenizersBackend" and a list-valued extra_special_tokens 4.x rejects.
        raw_tokenizer.save(str(staging / "tokenizer.json"))
        (staging / "tokenizer_config.json").write_text(json.dumps(_tokenizer_config(max_positions), indent=2) + "\n")
        tokenizer = PreTrainedTokenizerFast.from_pretrained(staging)
        real_vocab = len(tokenizer)
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        if (
            tokenizer.apply_chat_template(
                [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
            )
            != "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        ):
            raise RuntimeError("chat template did not round-trip")

        config = Qwen2Config(
            vocab_size=real_vocab,
            hidden_size=hidden,
            intermediate_size=intermediate,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            max_position_embeddings=max_positions,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
            tie_word_embeddings=True,
            use_sliding_window=False,
            bos_token_id=None,
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            dtype=dtype,
        )
        config.architectures = ["Qwen2ForCausalLM"]

        torch_dtype = getattr(torch, dtype)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2ForCausalLM(config).to(torch_dtype).eval()
        model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
        model.generation_config.pad_token_id = ids["<|endoftext|>"]
        model.generation_config.bos_token_id = None
        model.save_pretrained(staging)
        (staging / MARKER_FILE).write_text(
            json.dumps(
                {
                    "settings": settings,
                    "tokenizer_vocab": real_vocab,
                    "parameters": sum(p.numel() for p in model.parameters()),
                    "build_seconds": round(time.perf_counter() - started, 3),
                },
                indent=2,
            )
        )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``build-tiny-model`` options to ``parser``."""
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--vocab-size", type=int, default=1024, help="BPE vocab target")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output directory")


def run(args: argparse.Namespace) -> int:
    """Run the ``build-tiny-model`` subcommand; prints the model directory."""
    try:
        path = build_tiny_model(args.out, seed=args.seed, vocab_size=args.vocab_size, overwrite=args.overwrite)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m rm_gallery.local.tiny_model --out DIR``."""
    parser = argparse.ArgumentParser(
        prog="rm-gallery build-tiny-model",
        description="Build a tiny random ChatML model for offline tests.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
