"""Benchmark test helpers: paths to the shared data, synthetic RewardBench 2 / JudgeBench rows, oracle judges."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rm_gallery.graders.four_way import FourWayGrader
from rm_gallery.types import GraderError, Rank, Sample, Score, Verdict

from ..conftest import REWARDBENCH, SHARED_DATA, skip_or_fail

RMBENCH_DIR = SHARED_DATA / "rm-bench"


@pytest.fixture(scope="session")
def rewardbench_file() -> Path:
    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found at {REWARDBENCH}")
    return REWARDBENCH


@pytest.fixture(scope="session")
def rmbench_dir() -> Path:
    if not RMBENCH_DIR.is_dir():
        skip_or_fail(f"shared data not found at {RMBENCH_DIR}")
    return RMBENCH_DIR


def rb2_records() -> list[dict]:
    """Synthetic RewardBench 2 rows: every subset, and two Ties prompts with ref and tied sets."""
    rows = []
    for subset, n in (("Factuality", 4), ("Precise IF", 3), ("Math", 3), ("Safety", 3), ("Focus", 3)):
        for i in range(n):
            rows.append({"id": f"{subset[:4].lower()}{i}", "subset": subset, "prompt": f"{subset} question {i}?",
                         "chosen": [f"GOOD answer {subset} {i}"],
                         "rejected": [f"BAD answer {subset} {i} #{k}" for k in range(3)]})
    for pid in ("7", "8"):
        rows.append({"id": f"ref:{pid}", "subset": "Ties", "prompt": f"Name a prime ({pid})",
                     "chosen": [f"GOOD 2 ({pid})"], "rejected": [f"BAD 4 ({pid})", f"BAD 6 ({pid})"]})
        rows.append({"id": f"tied:{pid}", "subset": "Ties", "prompt": f"Name a prime ({pid})",
                     "chosen": [f"GOOD 2 ({pid})", f"GOOD 3 ({pid})", f"GOOD 5 ({pid})"],
                     "rejected": [f"BAD 4 ({pid})", f"BAD 6 ({pid})"]})
    return rows


def judgebench_records() -> list[dict]:
    """Synthetic JudgeBench pairs over the four official source families; 5 of 8 labels are A>B."""
    sources = ["mmlu-pro-law", "mmlu-pro-math", "livebench-reasoning", "livebench-math", "livecodebench",
               "mmlu-pro-history", "livebench-reasoning", "livecodebench"]
    labels = ["A>B", "B>A", "A>B", "A>B", "B>A", "A>B", "B>A", "A>B"]
    rows = []
    for i, (source, label) in enumerate(zip(sources, labels, strict=True)):
        good, bad = f"GOOD reply {i}", f"BAD reply {i}"
        a, b = (good, bad) if label == "A>B" else (bad, good)
        rows.append({"pair_id": f"p{i}", "source": source, "question": f"Question {i}?", "response_A": a,
                     "response_B": b, "label": label})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def is_good(sample: Sample, index: int, chosen: set[tuple[str, str]] | None) -> bool:
    """Synthetic rows mark good answers with GOOD; real ones are good when (prompt, text) is a chosen response."""
    text = sample.responses[index].content
    return (sample.query, text) in chosen if chosen is not None else text.startswith("GOOD")


class OraclePairwise:
    """Always names the good response, whatever the order."""

    name = "oracle"

    def __init__(self, chosen: set[tuple[str, str]] | None = None) -> None:
        self.chosen = chosen

    async def grade(self, sample: Sample, ctx=None) -> Verdict:
        return Verdict(winner="A" if is_good(sample, 0, self.chosen) else "B", raw="oracle")


class OracleScores:
    """Pointwise: 1 for a good response, 0 for a bad one."""

    name = "oracle_scores"

    def __init__(self, chosen: set[tuple[str, str]] | None = None) -> None:
        self.chosen = chosen

    async def score_response(self, sample: Sample, index: int, ctx=None) -> Score:
        return Score(value=float(is_good(sample, index, self.chosen)), scale=(0, 1), raw="s")

    async def grade(self, sample: Sample, ctx=None) -> Score:
        return await self.score_response(sample, 0, ctx)


class FixedFourWay(FourWayGrader):
    """A best-of-four judge without a model: the oracle's pick, or always the slot ``always``."""

    def __init__(self, always: int | None = None) -> None:
        self.name, self.always = "four_way_fixed", always

    async def grade(self, sample: Sample, ctx=None) -> Rank:
        pick = self.always if self.always is not None else next(
            i for i in range(len(sample.responses)) if is_good(sample, i, None))
        return Rank(order=(pick, *(i for i in range(4) if i != pick)), raw=f"[[{'ABCD'[pick]}]]",
                    metadata={"choice": "ABCD"[pick], "best_only": True})


class Unreadable:
    """A pairwise judge whose every answer is a parse error."""

    name = "unreadable"

    async def grade(self, sample: Sample, ctx=None) -> GraderError:
        return GraderError(kind="parse_error", message="no verdict", raw="hmm")


RMB_DIR = Path(os.environ.get("RM_GALLERY_RMB_DATA", "/work/rmb_data/RMB_dataset"))


def _turns(*texts: str) -> list[dict]:
    return [{"role": "user" if i % 2 == 0 else "assistant", "content": t, "language": "English"}
            for i, t in enumerate(texts)]


def rmb_files() -> dict[str, list[dict]]:
    """Synthetic RMB rows in the official schema, by file under ``RMB_dataset/``: both sets and goals, a
    multi-turn conversation, a whitespace-only rejected answer (the official data has two) and 2-3 losers."""
    files: dict[str, list[dict]] = {}
    for goal, scenario in (("Helpfulness", "Chat/Discussion"), ("Helpfulness", "Code/Documentation"),
                           ("Harmlessness", "S1")):
        path = f"Pairwise_set/{goal}/{scenario}"
        files[path] = [{"pair_uid": f"{scenario}-{i}", "conversation_input": _turns(f"{scenario} question {i}?"),
                        "chosen": {"llm_name": "m1", "answer": f"GOOD answer {i}"},
                        "reject": {"llm_name": "m2", "answer": f"BAD answer {i}"}, "category_path": path}
                       for i in range(3)]
        path = f"BoN_set/{goal}/{scenario}"
        files[path] = [{"bon_uid": f"{scenario}-{i}", "conversation_input": _turns(f"{scenario} task {i}"),
                        "bon_best": {"llm_name": "m1", "answer": f"GOOD best {i}"},
                        "loser_list": [{"llm_name": f"m{k}", "answer": f"BAD loser {i}.{k}"} for k in range(2 + i % 2)],
                        "category_path": path} for i in range(2)]
    chat = files["Pairwise_set/Helpfulness/Chat/Discussion"]
    chat[1]["conversation_input"] = _turns("Hi", "Hello! How can I help?", "Tell me a joke.")
    chat[2]["reject"]["answer"] = "\n\n \n \n"
    return files


def rmb_records() -> list[dict]:
    return [r for rows in rmb_files().values() for r in rows]


def write_rmb_dir(root: Path) -> Path:
    """The synthetic files laid out as the repository's ``RMB_dataset/`` directory (one JSON list per file)."""
    for path, rows in rmb_files().items():
        target = root / "RMB_dataset" / f"{path}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(rows, indent=1))
    return root / "RMB_dataset"
