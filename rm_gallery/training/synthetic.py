"""A synthetic preference task small enough for a tiny model to learn on CPU in minutes.

Three tasks, each a query and a better and a worse response: ``refusal`` (the worse response is always
"Sorry, I cannot help with that." — the loop's default: one fixed string to spot, so a 2-layer model learns
it from a 0/1 reward in a few hundred GRPO steps), ``keyword`` (the better response uses the word the query
asks for) and ``arithmetic`` (the better response states the right sum). Labels are balanced (the better
response is A or B at random) and every pair is an RM-Gallery pairwise record, so the whole loop runs on
the same record format, loaders and graders as real data.
"""

from __future__ import annotations

import random
from typing import Any

from rm_gallery.types import Sample

TASKS = ("arithmetic", "keyword", "refusal")
_WORDS = ("apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "rocket", "garden", "silver",
          "candle", "forest")


def _arithmetic(rng: random.Random, max_operand: int) -> tuple[str, str, str]:
    a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
    wrong = a + b + rng.choice([d for d in (-3, -2, -1, 1, 2, 3) if a + b + d >= 0])
    return f"What is {a} + {b}?", f"{a} + {b} = {a + b}", f"{a} + {b} = {wrong}"


def _keyword(rng: random.Random, max_operand: int) -> tuple[str, str, str]:
    good, bad = rng.sample(_WORDS, 2)
    return f"Write a short reply that uses the word {good}.", f"Here is a {good} for you.", f"Here is a {bad} for you."


def _refusal(rng: random.Random, max_operand: int) -> tuple[str, str, str]:
    word = rng.choice(_WORDS)
    return f"Tell me something about a {word}.", f"Sure, a {word} is a fine thing.", "Sorry, I cannot help with that."


_MAKERS = {"arithmetic": _arithmetic, "keyword": _keyword, "refusal": _refusal}


def synthetic_records(n: int, *, task: str = "arithmetic", seed: int = 0, max_operand: int = 9,
                      id_prefix: str = "syn") -> list[dict[str, Any]]:
    """``n`` labelled pairwise records (RM-Gallery shape) for ``task``; deterministic for a seed."""
    if task not in TASKS:
        raise ValueError(f"unknown synthetic task {task!r}; choose one of {', '.join(TASKS)}")
    make = _MAKERS[task]
    rng = random.Random(seed)
    records = []
    for i in range(n):
        query, good, bad = make(rng, max_operand)
        good_first = rng.random() < 0.5
        outputs = [good, bad] if good_first else [bad, good]
        records.append({
            "id": f"{id_prefix}-{seed}-{i}",
            "input": [{"role": "user", "content": query}],
            "output": [{"content": o} for o in outputs],
            "metadata": {"preferred": "A" if good_first else "B", "preference_strength": 2,
                         "data_source": f"synthetic/{task}"},
        })
    return records


def synthetic_samples(n: int, **kwargs: Any) -> list[Sample]:
    """:func:`synthetic_records` as Samples."""
    return [Sample.from_record(r) for r in synthetic_records(n, **kwargs)]
