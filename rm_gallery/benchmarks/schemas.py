"""Validated benchmark rows. A malformed row is a :class:`DataError` naming the file, the row and the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from rm_gallery.loaders import DataError
from rm_gallery.types import Message

#: RM-Bench domains, and the file names (``<name>_filtered.json``) that map onto them.
RMBENCH_DOMAINS = ("chat", "math", "code", "safety")
_RMBENCH_FILES = {"chat": "chat", "math": "math", "code": "code", "safety-refuse": "safety",
                  "safety-response": "safety", "safety": "safety"}
_TIES_ID = re.compile(r"^(ref|tied):(.+)$")


@dataclass(frozen=True)
class PairRow:
    """RewardBench v1: one prompt, one chosen and one rejected response."""

    id: str
    subset: str
    prompt: str
    chosen: str
    rejected: str


@dataclass(frozen=True)
class StyleRow:
    """RM-Bench: three chosen and three rejected style variants (concise, detailed, detailed markdown)."""

    id: str
    domain: str
    prompt: str
    chosen: tuple[str, str, str]
    rejected: tuple[str, str, str]


@dataclass(frozen=True)
class MultiRow:
    """RewardBench 2: one or more correct (chosen) and several incorrect (rejected) completions."""

    id: str
    subset: str
    prompt: str
    chosen: tuple[str, ...]
    rejected: tuple[str, ...]


@dataclass(frozen=True)
class JudgeRow:
    """JudgeBench: a question, two responses and which one is better."""

    pair_id: str
    source: str
    question: str
    response_a: str
    response_b: str
    label: Literal["A>B", "B>A"]


@dataclass(frozen=True)
class RMBRow:
    """RMB: a conversation, the preferred answer and one (pairwise set) or several (best-of-N set) worse ones."""

    id: str
    set: Literal["pairwise", "bon"]
    goal: str
    category: str
    messages: tuple[Message, ...]
    chosen: str
    rejected: tuple[str, ...]


class _Row:
    """Field access for one raw record, raising DataError with file, row and field."""

    def __init__(self, origin: str, row: int, record: Any) -> None:
        if not isinstance(record, Mapping):
            raise DataError(origin, row, f"expected a JSON object, got {type(record).__name__}")
        self.origin, self.row, self.record = origin, row, record

    def fail(self, name: str, message: str) -> DataError:
        return DataError(self.origin, self.row, f"field '{name}': {message}", field=name)

    def text(self, name: str) -> str:
        value = self.record.get(name)
        if value is None:
            raise self.fail(name, "missing")
        if not isinstance(value, str):
            raise self.fail(name, f"expected a string, got {type(value).__name__}")
        if not value.strip():
            raise self.fail(name, "is empty")
        return value

    def texts(self, name: str, *, exactly: int | None = None, at_least: int = 1) -> tuple[str, ...]:
        value = self.record.get(name)
        if value is None:
            raise self.fail(name, "missing")
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, f"expected a list of strings, got {type(value).__name__}")
        want = f"exactly {exactly}" if exactly is not None else f"at least {at_least}"
        if (exactly is not None and len(value) != exactly) or len(value) < at_least:
            raise self.fail(name, f"expected {want} responses, got {len(value)}")
        for i, v in enumerate(value):
            if not v.strip():
                raise self.fail(f"{name}[{i}]", "is empty")
        return tuple(value)

    def ident(self, *names: str) -> str:
        for name in names:
            value = self.record.get(name)
            if value is not None and not isinstance(value, (dict, list)):
                return str(value)
        return f"row-{self.row}"


def pair_row(origin: str, row: int, record: Any) -> PairRow:
    r = _Row(origin, row, record)
    return PairRow(id=r.ident("id"), subset=r.text("subset"), prompt=r.text("prompt"), chosen=r.text("chosen"),
                   rejected=r.text("rejected"))


def rmbench_domain(origin: str, row_id: str) -> str | None:
    """The domain from an id like ``chat/100`` (official combined file) or from the file name."""
    prefix = row_id.partition("/")[0] if "/" in row_id else ""
    if prefix in RMBENCH_DOMAINS:
        return prefix
    stem = PurePath(origin.split(":")[0]).name.split(".")[0].removesuffix("_filtered")
    return _RMBENCH_FILES.get(stem)


def style_row(origin: str, row: int, record: Any) -> StyleRow:
    r = _Row(origin, row, record)
    row_id = r.ident("id")
    domain = r.record.get("domain") or rmbench_domain(origin, row_id)
    if domain not in RMBENCH_DOMAINS:
        raise r.fail("id", f"cannot tell the RM-Bench domain (expected an id like 'chat/12', a 'domain' field, "
                           f"or a file named {'/'.join(_RMBENCH_FILES)}_filtered.json)")
    chosen, rejected = r.texts("chosen", exactly=3), r.texts("rejected", exactly=3)
    return StyleRow(id=row_id, domain=domain, prompt=r.text("prompt"), chosen=chosen,  # type: ignore[arg-type]
                    rejected=rejected)  # type: ignore[arg-type]


def ties_id(row_id: str) -> tuple[str, str] | None:
    """``("ref", pid)`` or ``("tied", pid)`` for a Ties row id, else None."""
    m = _TIES_ID.match(row_id)
    return (m.group(1), m.group(2)) if m else None


def multi_row(origin: str, row: int, record: Any) -> MultiRow:
    r = _Row(origin, row, record)
    subset = r.text("subset")
    row_id = r.ident("id")
    if subset == "Ties" and ties_id(row_id) is None:
        raise r.fail("id", f"a Ties row id must look like 'ref:<prompt id>' or 'tied:<prompt id>', got {row_id!r}")
    chosen = r.texts("chosen", at_least=1)
    rejected = r.texts("rejected", at_least=1 if subset == "Ties" else 3)
    return MultiRow(id=row_id, subset=subset, prompt=r.text("prompt"), chosen=chosen, rejected=rejected)


def judge_row(origin: str, row: int, record: Any) -> JudgeRow:
    r = _Row(origin, row, record)
    label = r.text("label").strip()
    if label not in ("A>B", "B>A"):
        raise r.fail("label", f"expected 'A>B' or 'B>A', got {label!r}")
    return JudgeRow(pair_id=r.ident("pair_id", "id"), source=r.text("source"), question=r.text("question"),
                    response_a=r.text("response_A"), response_b=r.text("response_B"), label=label)  # type: ignore[arg-type]


#: RMB ``category_path`` prefixes: the pairwise set and the best-of-N set.
RMB_SETS = {"Pairwise_set": "pairwise", "BoN_set": "bon"}
RMB_GOALS = ("Helpfulness", "Harmlessness")
_ROLES = ("system", "user", "assistant")


def rmb_category(origin: str, record: Mapping[str, Any]) -> str | None:
    """The ``category_path`` field, else the path of the file under ``RMB_dataset/`` (``BoN_set/Harmlessness/S1``)."""
    value = record.get("category_path")
    if isinstance(value, str):
        return value
    parts = PurePath(origin).with_suffix("").parts
    starts = [i for i, part in enumerate(parts) if part in RMB_SETS]
    return "/".join(parts[starts[-1]:]) if starts else None


def _rmb_answer(r: _Row, name: str, value: Any) -> str:
    """An answer as the official files hold it (``{"llm_name", "answer"}``) or as a plain string (hub copies).
    Empty answers are kept: the official data has a few and scores them like any other."""
    if isinstance(value, Mapping):
        value = value.get("answer")
        name = f"{name}.answer"
    if not isinstance(value, str):
        raise r.fail(name, "missing" if value is None else f"expected a string or an {{llm_name, answer}} object, "
                                                           f"got {type(value).__name__}")
    return value


def _rmb_conversation(r: _Row) -> tuple[Message, ...]:
    name = "conversation_input" if "conversation_input" in r.record else "conversation"
    value = r.record.get(name)
    if value is None:
        raise r.fail("conversation_input", "missing")
    if not isinstance(value, (list, tuple)) or not value:
        raise r.fail(name, f"expected a non-empty list of {{role, content}} messages, got {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        role = m.get("role") if isinstance(m, Mapping) else None
        content = m.get("content") if isinstance(m, Mapping) else None
        if role not in _ROLES:
            raise r.fail(f"{name}[{i}].role", f"expected one of {', '.join(_ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise r.fail(f"{name}[{i}].content", "missing" if content is None else
                         f"expected a string, got {type(content).__name__}")
        out.append(Message(role=role, content=content))
    return tuple(out)


def rmb_row(origin: str, row: int, record: Any) -> RMBRow:
    """An RMB row: the official ``RMB_dataset`` schema (``conversation_input``, ``chosen``/``reject`` or
    ``bon_best``/``loser_list``) or the flattened hub one (``conversation``, ``chosen``, ``rejected``)."""
    r = _Row(origin, row, record)
    if r.record.get("category_path") is not None and not isinstance(r.record["category_path"], str):
        raise r.fail("category_path", f"expected a string, got {type(r.record['category_path']).__name__}")
    category = rmb_category(origin, r.record)
    parts = (category or "").split("/")
    if parts[0] not in RMB_SETS or len(parts) < 3 or parts[1] not in RMB_GOALS:
        raise r.fail("category_path", f"expected 'Pairwise_set|BoN_set/Helpfulness|Harmlessness/<scenario>' (or a "
                                      f"file under RMB_dataset/), got {category!r}")
    kind = RMB_SETS[parts[0]]
    messages = _rmb_conversation(r)
    if kind == "pairwise":
        name = "reject" if "reject" in r.record else "rejected"
        chosen = _rmb_answer(r, "chosen", r.record.get("chosen"))
        rejected: tuple[str, ...] = (_rmb_answer(r, name, r.record.get(name)),)
    else:
        best, losers = ("bon_best", "loser_list") if "bon_best" in r.record else ("chosen", "rejected")
        chosen = _rmb_answer(r, best, r.record.get(best))
        value = r.record.get(losers)
        if not isinstance(value, (list, tuple)) or not value:
            raise r.fail(losers, "missing" if value is None else f"expected a non-empty list of answers, got "
                                                                  f"{type(value).__name__}")
        rejected = tuple(_rmb_answer(r, f"{losers}[{i}]", v) for i, v in enumerate(value))
    return RMBRow(id=r.ident("pair_uid" if kind == "pairwise" else "bon_uid", "uid", "id"), set=kind,  # type: ignore[arg-type]
                  goal=parts[1], category=category or "", messages=messages, chosen=chosen, rejected=rejected)
