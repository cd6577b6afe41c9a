"""Training data: labelled pairs -> GRPO prompts rendered by a grader, and HelpSteer2-style conversion.

A GRPO row is ``{"prompt": chat messages, "preferred", "preference_strength", "sample_id", "order",
"data_source"}``. The prompt comes from ``grader.render(sample, order)`` — the grader's own template — and
``preferred`` is expressed in the order shown, so a row rendered with B first carries the flipped label.
Rendering both orders of every pair balances the labels and teaches the judge to ignore position.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rm_gallery.types import Sample

FLIP = {"A": "B", "B": "A", "tie": "tie"}
ORDERS = {"ab": (0, 1), "ba": (1, 0)}


class TrainingDataError(ValueError):
    """Training data that cannot be used, with the sample and the fix in one line."""


def shown_label(preferred: str, order: str) -> str:
    """The label as seen by a judge shown the pair in ``order`` ("ab" keeps it, "ba" swaps A and B)."""
    return preferred if order == "ab" else FLIP[preferred]


def grpo_rows(samples: Iterable[Sample], grader: Any, *, orders: Sequence[str] = ("ab", "ba"),
              data_source: str = "rm_gallery/pairwise") -> list[dict[str, Any]]:
    """One GRPO row per (labelled sample, order), its prompt rendered by ``grader.render``."""
    rows = []
    for sample in samples:
        label = sample.label
        if label is None or label.preferred is None:
            raise TrainingDataError(f"sample {sample.id} has no preference label; "
                                    "pairwise training needs metadata.preferred (A, B or tie)")
        for order in orders:
            if order not in ORDERS:
                raise ValueError(f"order must be 'ab' or 'ba', got {order!r}")
            rows.append({
                "prompt": grader.render(sample, ORDERS[order]),
                "preferred": shown_label(label.preferred, order),
                "preference_strength": label.preference_strength,
                "sample_id": sample.id,
                "order": order,
                "data_source": str(sample.metadata.get("data_source", data_source)),
            })
    return rows


def check_paired_batch(batch_size: int, generations: int) -> None:
    """GRPO batches must hold both orders of each pair: ``batch_size / generations`` an even whole number."""
    prompts, rest = divmod(batch_size, generations)
    if rest or prompts % 2:
        raise ValueError("grpo_batch_size / grpo_generations must be an even whole number of prompts "
                         "(both orders of each pair share a batch)")


def grouped_order(keys: Sequence[Any], *, group_size: int = 2, seed: int = 0) -> list[int]:
    """Row indices with each group's rows adjacent and the groups shuffled; incomplete groups are dropped.

    Keeps both presentation orders of a pair (or a pair's chosen and rejected halves) in one batch for
    trainers that read rows in order.
    """
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    complete = [g for g in groups.values() if len(g) == group_size]
    random.Random(seed).shuffle(complete)
    return [i for g in complete for i in g]


def verl_rows(rows: Sequence[Mapping[str, Any]], *, seed: int = 0) -> list[dict[str, Any]]:
    """GRPO rows in verl's parquet schema, both orders of a pair adjacent (see :func:`grouped_order`)."""
    order = grouped_order([r["sample_id"] for r in rows], group_size=len({r["order"] for r in rows}), seed=seed)
    out = []
    for i in order:
        r = rows[i]
        out.append({
            "prompt": list(r["prompt"]),
            "data_source": r["data_source"],
            "ability": "preference",
            "reward_model": {"style": "rule", "ground_truth": r["preferred"]},
            "extra_info": {"sample_id": r["sample_id"], "order": r["order"],
                           "preference_strength": r["preference_strength"]},
        })
    return out


def to_dataset(rows: Sequence[Mapping[str, Any]]) -> Any:
    """A Hugging Face ``datasets.Dataset`` from rows (imported lazily: training extra)."""
    from datasets import Dataset

    return Dataset.from_list([dict(r) for r in rows])


# -- HelpSteer2-style per-response scores -> RM-Gallery pairwise records ------------------------------


def preference_from_scores(score_a: float, score_b: float, threshold: float = 1.0) -> tuple[str, int]:
    """(preferred, strength) from two scores, as RM-Gallery's HelpSteer2 conversion decides it::

        if abs(score_diff) < 0.5: preferred, strength = "tie", 0
        elif score_diff > 0:      preferred = "A"; strength = 1 if abs(score_diff) < threshold else 2
        else:                     preferred = "B"; strength = 1 if abs(score_diff) < threshold else 2
    """
    diff = score_a - score_b
    if abs(diff) < 0.5:
        return "tie", 0
    return ("A" if diff > 0 else "B"), (1 if abs(diff) < threshold else 2)


#: Which responses of a prompt are paired: the seed's first two, or every two (an option, not the seed's).
Pairing = Literal["first_two", "all"]


def scored_to_pairwise(rows: Iterable[Mapping[str, Any]], *, prompt_key: str = "prompt",
                       response_key: str = "response", score_key: str = "helpfulness",
                       threshold: float = 1.0, pairing: Pairing = "first_two") -> list[dict[str, Any]]:
    """Group per-response rows by prompt (in input order) and pair their responses into RM-Gallery records.

    ``pairing="first_two"`` (the default) is RM-Gallery's "Convert from HelpSteer2": ``# Compare first two
    responses`` / ``r1, r2 = responses[0], responses[1]``, one record per prompt with at least two responses.
    ``pairing="all"`` (an option, not the seed's) pairs every two responses of a prompt, C(n, 2) records.
    Labels come from :func:`preference_from_scores`.

    Output records: ``{"input": [{"role": "user", "content": prompt}], "output": [{"content": r1},
    {"content": r2}], "metadata": {"preferred", "preference_strength", "score_a", "score_b"}}``.
    """
    if pairing not in ("first_two", "all"):
        raise ValueError(f"pairing must be 'first_two' (the seed's) or 'all', got {pairing!r}")
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for i, row in enumerate(rows):
        for key in (prompt_key, response_key, score_key):
            if key not in row:
                raise TrainingDataError(f"row {i}: missing field {key!r} (set prompt_key/response_key/score_key)")
        groups[str(row[prompt_key])].append(row)
    records = []
    for prompt, group in groups.items():
        pairs = itertools.combinations(group, 2) if pairing == "all" else [tuple(group[:2])] if len(group) > 1 else []
        for r1, r2 in pairs:
            s1, s2 = float(r1[score_key]), float(r2[score_key])
            preferred, strength = preference_from_scores(s1, s2, threshold)
            records.append({
                "input": [{"role": "user", "content": prompt}],
                "output": [{"content": str(r1[response_key])}, {"content": str(r2[response_key])}],
                "metadata": {"preferred": preferred, "preference_strength": strength,
                             "score_a": s1, "score_b": s2},
            })
    return records


def write_parquet(records: Sequence[Mapping[str, Any]], path: str | Path, *, metadata_as_json: bool = False
                  ) -> Path:
    """Write records to parquet (pyarrow); ``metadata_as_json`` stores metadata as a JSON string column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(r) for r in records]
    if metadata_as_json:
        for r in rows:
            r["metadata"] = json.dumps(r.get("metadata", {}))
    pq.write_table(pa.Table.from_pylist(rows), out)
    return out


def split(items: Sequence[Any], held_out: float, seed: int = 0) -> tuple[list[Any], list[Any]]:
    """A seeded (train, held-out) split; ``held_out`` is a fraction in (0, 1)."""
    if not 0 < held_out < 1:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    cut = max(1, round(len(shuffled) * held_out))
    return shuffled[cut:], shuffled[:cut]
