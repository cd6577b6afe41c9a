"""Real preference data for judge training: labelled pairs from RewardBench and RM-Bench files, split by problem.

A train / held-out split "by prompt" must keep every copy of a problem on one side, or the held-out figure
measures memory. Copies here: each HumanEval problem appears in six hep languages (``task_id`` ``Python/0``,
``CPP/0``... with different prompt text) and again in RM-Bench code (same ``task_id``); RM-Bench's three style
variants of a row share one prompt; a prompt can occur in two RewardBench subsets or twice in one RM-Bench
file. So a pair's *group* is ``humaneval/<number>`` when it has a ``task_id``, else its prompt text, and
:func:`split_pairs` assigns whole groups. One source can be kept out of training entirely (``transfer``)
to measure transfer to data of another kind.

Files are read through the benchmarks' validated row parsers, so a bad row is a one-line error naming the
file, the row and the field. Splits are written in RewardBench's row shape (``prompt``, ``chosen``,
``rejected``, ``subset``), which ``rm-gallery grade``, ``rm-gallery bench pairs`` and the loaders all read.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rm_gallery.loaders import DataError, iter_records

#: RM-Bench style variants: 0 concise, 1 detailed plain text, 2 detailed markdown.
RMBENCH_STYLES = ("concise", "detailed", "markdown")


@dataclass(frozen=True)
class PreferencePair:
    """One labelled pair: ``chosen`` is the better response; ``source`` names the file/subset it came from."""

    id: str
    prompt: str
    chosen: str
    rejected: str
    source: str
    group: str

    def to_row(self) -> dict[str, Any]:
        """RewardBench's row shape (``subset`` = source), plus the group for auditing the split."""
        return {"id": self.id, "prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "subset": self.source, "group": self.group}


def problem_group(prompt: str, task_id: Any = None) -> str:
    """``humaneval/<n>`` for a HumanEval(Pack) task id like ``CPP/8``, else a digest of the prompt text."""
    if isinstance(task_id, str) and "/" in task_id:
        number = task_id.rsplit("/", 1)[1]
        if number.isdigit():
            return f"humaneval/{int(number)}"
    return "prompt/" + hashlib.sha256(" ".join(prompt.split()).encode()).hexdigest()[:16]


def rewardbench_pairs(path: str | Path) -> list[PreferencePair]:
    """Pairs from a RewardBench v1 file (``prompt``, ``chosen``, ``rejected``, ``subset``; ``task_id`` for hep)."""
    from rm_gallery.benchmarks.schemas import pair_row

    pairs = []
    for row_no, record in iter_records(path):
        row = pair_row(str(path), row_no, record)
        group = problem_group(row.prompt, record.get("task_id"))
        pairs.append(PreferencePair(f"{row.subset}/{row.id}", row.prompt, row.chosen, row.rejected, row.subset,
                                    group))
    return pairs


def rmbench_pairs(path: str | Path, *, style: int = 0) -> list[PreferencePair]:
    """Pairs from one RM-Bench ``<domain>_filtered.json`` file: style variant ``style`` of chosen and rejected.

    The source is ``rmbench-<file stem>`` (``rmbench-safety-refuse`` ...), since the two safety files differ in
    which response is preferred (a refusal, or a helpful answer to a harmless question).
    """
    from rm_gallery.benchmarks.schemas import style_row

    if style not in range(3):
        raise ValueError(f"style must be 0 (concise), 1 (detailed) or 2 (markdown), got {style}")
    stem = Path(path).name.split(".")[0].removesuffix("_filtered")
    pairs = []
    for row_no, record in iter_records(path):
        row = style_row(str(path), row_no, record)
        group = problem_group(row.prompt, record.get("task_id"))
        pairs.append(PreferencePair(f"rmbench-{stem}/{row.id}", row.prompt, row.chosen[style], row.rejected[style],
                                    f"rmbench-{stem}", group))
    return pairs


def load_pairs(rewardbench: Iterable[str | Path] = (), rmbench: Iterable[str | Path] = (), *,
               style: int = 0) -> list[PreferencePair]:
    """Pairs from RewardBench files and RM-Bench files or folders (``*_filtered.json``), in order."""
    pairs: list[PreferencePair] = []
    for path in rewardbench:
        pairs.extend(rewardbench_pairs(path))
    for source in rmbench:
        p = Path(source)
        files = sorted(p.glob("*_filtered.json")) if p.is_dir() else [p]
        if not files:
            raise DataError(p, None, "holds no RM-Bench *_filtered.json files")
        for f in files:
            pairs.extend(rmbench_pairs(f, style=style))
    return pairs


def within_length(pairs: Sequence[PreferencePair], count_tokens: Callable[[PreferencePair], int],
                  max_tokens: int) -> list[PreferencePair]:
    """The pairs whose judge prompt (as ``count_tokens`` measures it, in the longer order) fits ``max_tokens``."""
    return [p for p in pairs if count_tokens(p) <= max_tokens]


def write_pairs(pairs: Iterable[PreferencePair], path: str | Path) -> Path:
    """Pairs as RewardBench rows, one JSON object per line (what the loaders and ``bench pairs`` read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p.to_row(), ensure_ascii=False) + "\n")
    return path


@dataclass
class Split:
    """Train, held-out and transfer pairs; no group is on two sides, and transfer sources are never trained on."""

    train: list[PreferencePair]
    held_out: list[PreferencePair]
    transfer: list[PreferencePair]
    seed: int
    held_out_fraction: float
    transfer_sources: tuple[str, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """Pairs per source on each side."""
        return {name: dict(sorted(Counter(p.source for p in part).items()))
                for name, part in (("train", self.train), ("held_out", self.held_out), ("transfer", self.transfer))}

    def check(self) -> None:
        """Raise if a group appears on two sides (the property the split exists for)."""
        sides: dict[str, set[str]] = defaultdict(set)
        for name, part in (("train", self.train), ("held_out", self.held_out), ("transfer", self.transfer)):
            for p in part:
                sides[p.group].add(name)
        leaked = {g: s for g, s in sides.items() if len(s) > 1}
        if leaked:
            group, where = next(iter(leaked.items()))
            raise AssertionError(f"{len(leaked)} problem group(s) on two sides, e.g. {group} in {sorted(where)}")

    def write(self, folder: str | Path) -> dict[str, Path]:
        """``train.jsonl``, ``held_out.jsonl``, ``transfer.jsonl`` (RewardBench rows) and ``split.json``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, part in (("train", self.train), ("held_out", self.held_out), ("transfer", self.transfer)):
            paths[name] = write_pairs(part, folder / f"{name}.jsonl")
        info = {"seed": self.seed, "held_out_fraction": self.held_out_fraction,
                "transfer_sources": list(self.transfer_sources), "counts": self.counts(),
                "groups": {name: len({p.group for p in part}) for name, part in
                           (("train", self.train), ("held_out", self.held_out), ("transfer", self.transfer))}}
        (folder / "split.json").write_text(json.dumps(info, indent=2))
        return paths


#: Sources whose problems overlap (by HumanEval number) are split together, as one family.
def _family(source: str) -> str:
    if source.startswith("hep-") or source == "rmbench-code":
        return "humaneval"
    return source.split("-")[0] if source.startswith("llmbar") else source


def split_pairs(pairs: Sequence[PreferencePair], *, held_out_fraction: float = 0.3, seed: int = 0,
                transfer_sources: Sequence[str] = ()) -> Split:
    """Split by problem group: within each family of sources, a seeded ``held_out_fraction`` of the groups is held out.

    Pairs from ``transfer_sources`` go to the transfer side whole; any other pair sharing a group with them goes
    there too, so no transfer problem is trained on. Families (hep + RM-Bench code; llmbar; each other source)
    are split separately so every source is represented on both sides in about the stated proportion.
    """
    if not 0.0 < held_out_fraction < 1.0:
        raise ValueError(f"held_out_fraction must be in (0, 1), got {held_out_fraction}")
    transfer_set = set(transfer_sources)
    unknown = transfer_set - {p.source for p in pairs}
    if unknown:
        raise ValueError(f"transfer source(s) {sorted(unknown)} not in the data (sources: "
                         f"{sorted({p.source for p in pairs})})")
    transfer_groups = {p.group for p in pairs if p.source in transfer_set}
    transfer = [p for p in pairs if p.group in transfer_groups]
    rest = [p for p in pairs if p.group not in transfer_groups]
    family_of_group: dict[str, str] = {}
    for p in rest:
        family_of_group.setdefault(p.group, _family(p.source))
    by_family: dict[str, list[str]] = defaultdict(list)
    for group, family in family_of_group.items():
        by_family[family].append(group)
    held_groups: set[str] = set()
    rng = random.Random(seed)
    for family in sorted(by_family):
        groups = sorted(by_family[family])
        rng.shuffle(groups)
        held_groups.update(groups[: round(len(groups) * held_out_fraction)])
    split = Split([p for p in rest if p.group not in held_groups], [p for p in rest if p.group in held_groups],
                  transfer, seed, held_out_fraction, tuple(transfer_sources))
    split.check()
    return split


def extend_train(split: Split, extra: Iterable[PreferencePair]) -> int:
    """Add ``extra`` pairs to the train side when their problem group is on no other side; returns how many.

    For training on pairs longer than the evaluation cap without touching held-out or transfer: a pair of a
    held-out or transfer group is dropped (training on it would leak its problem), a pair of a train group or
    of a group seen nowhere else joins train, as does nothing from a transfer source. The held-out and transfer
    sides are unchanged, pair for pair.
    """
    closed = {p.group for p in (*split.held_out, *split.transfer)}
    present = {p.id for p in split.train}
    added = [p for p in extra if p.group not in closed and p.source not in split.transfer_sources
             and p.id not in present]
    split.train.extend(added)
    split.check()
    return len(added)


def read_split(folder: str | Path) -> dict[str, list[PreferencePair]]:
    """The parts written by :meth:`Split.write`, back as pairs."""
    out = {}
    for name in ("train", "held_out", "transfer"):
        path = Path(folder) / f"{name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        out[name] = [PreferencePair(r["id"], r["prompt"], r["chosen"], r["rejected"], r["subset"], r["group"])
                     for r in rows]
    return out


def as_dicts(pairs: Iterable[PreferencePair]) -> list[Mapping[str, Any]]:
    return [asdict(p) for p in pairs]
