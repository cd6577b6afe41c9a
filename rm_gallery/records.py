"""Turn raw records (dicts from JSON, JSONL or parquet) into Samples.

Accepted shapes, tried in this order:

* native: ``{"id", "messages" | "query" | "prompt", "responses": [str | {"content": ...}], "label", "metadata"}``
* RM-Gallery pairwise: ``{"input": [chat messages], "output": [{"content": ...} | {"answer": {"content": ...}}],
  "metadata": {"preferred": "A"|"B"|"tie", "preference_strength": 0..2}}`` (``metadata`` may be a JSON string)
* preference pair (RewardBench style): ``{"prompt", "chosen", "rejected"}``; chosen becomes response A, label A.

A record that fits none of them raises :class:`RecordError` naming the offending field.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from rm_gallery.types import Label, Message, Response, Sample

_PREFERRED_ALIASES = {
    "a": "A",
    "b": "B",
    "tie": "tie",
    "equal": "tie",
    "response_a": "A",
    "response_b": "B",
    "response a": "A",
    "response b": "B",
    "0": "A",
    "1": "B",
}


#: A lone surrogate: not Unicode text (undecodable bytes read with ``surrogateescape``, or a bad ``\ud800`` escape).
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _short(value: Any, limit: int = 80) -> str:
    """A repr for error messages, cut to ``limit`` characters so one bad value cannot flood a line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


#: The accepted shapes in one line, for the error when a record lacks a field its shape needs.
SHAPES = ("accepted record shapes: native {messages|query|prompt, responses}, RM-Gallery {input, output}, "
          "preference pair {prompt|messages|query, chosen, rejected}")


class RecordError(ValueError):
    """A record that cannot become a Sample; ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


def _missing(field: str, record: Mapping[str, Any]) -> RecordError:
    """A field the record's shape needs is absent: say so, and list the shapes that are accepted."""
    hint = ("; RMB rows (conversation_input, chosen, reject) are read by `rm-gallery bench rmb`"
            if "conversation_input" in record else "")
    return RecordError(field, f"missing ({SHAPES}){hint}")


def _require_str(value: Any, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RecordError(field, f"expected a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError(field, "is empty")
    bad = LONE_SURROGATE.search(value)
    if bad:
        raise RecordError(field, f"is not valid Unicode (a lone surrogate {bad.group()!r} at character {bad.start()})")
    return value


def _messages(value: Any, field: str) -> tuple[Message, ...]:
    if isinstance(value, str):
        return (Message(role="user", content=_require_str(value, field)),)
    if not isinstance(value, list) or not value:
        raise RecordError(field, "expected a non-empty list of chat messages or a string")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, Mapping):
            raise RecordError(f"{field}[{i}]", f"expected a {{role, content}} object, got {type(m).__name__}")
        role = m.get("role", "user")
        if role not in ("system", "user", "assistant", "tool"):
            raise RecordError(f"{field}[{i}].role", f"unknown role {_short(role)}")
        out.append(Message(role=role, content=_require_str(m.get("content"), f"{field}[{i}].content",
                                                           allow_empty=role != "user")))
    return tuple(out)


def _response(value: Any, field: str) -> Response:
    if isinstance(value, str):
        return Response(content=_require_str(value, field))
    if isinstance(value, Mapping):
        if "answer" in value and isinstance(value["answer"], Mapping):  # RM-Gallery DataOutput shape
            value = value["answer"]
        if "content" not in value:
            raise RecordError(f"{field}.content", "missing")
        meta = {k: v for k, v in value.items() if k != "content"}
        return Response(content=_require_str(value["content"], f"{field}.content"), metadata=meta)
    raise RecordError(field, f"expected a string or an object with 'content', got {type(value).__name__}")


def _responses(value: Any, field: str) -> tuple[Response, ...]:
    if not isinstance(value, list) or not value:
        raise RecordError(field, "expected a non-empty list of responses")
    return tuple(_response(r, f"{field}[{i}]") for i, r in enumerate(value))


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as e:
            raise RecordError("metadata", f"is a string but not valid JSON ({e.msg} at char {e.pos})") from None
    if not isinstance(value, Mapping):
        raise RecordError("metadata", f"expected an object or a JSON string, got {type(value).__name__}")
    return dict(value)


def _label(value: Any, meta: Mapping[str, Any], field: str) -> Label | None:
    """A label from an explicit ``label`` object, or from ``preferred``/``preference_strength`` in metadata."""
    src: Mapping[str, Any]
    if value is not None:
        if isinstance(value, str):
            value = {"preferred": value}
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = {"score": value}
        if not isinstance(value, Mapping):
            raise RecordError(field, f"expected an object, a preference string or a score, got {type(value).__name__}")
        src = value
    elif "preferred" in meta or "preference_strength" in meta:
        src, field = meta, "metadata"
    else:
        return None
    preferred = src.get("preferred")
    if preferred is not None:
        key = str(preferred).strip().lower()
        if key not in _PREFERRED_ALIASES:
            raise RecordError(f"{field}.preferred", f"expected A, B or tie, got {_short(preferred)}")
        preferred = _PREFERRED_ALIASES[key]
    strength = src.get("preference_strength")
    if strength is not None and (isinstance(strength, bool) or not isinstance(strength, (int, float))
                                 or strength not in (0, 1, 2)):
        raise RecordError(f"{field}.preference_strength", f"expected 0, 1 or 2, got {_short(strength)}")
    score = src.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
        raise RecordError(f"{field}.score", f"expected a number, got {_short(score)}")
    return Label(preferred=preferred, preference_strength=None if strength is None else int(strength),
                 score=score)


def _record_id(record: Mapping[str, Any], meta: Mapping[str, Any], default_id: str | None) -> str:
    for key in ("id", "unique_id", "sample_id", "pair_id"):
        if record.get(key) is not None:
            return str(record[key])
    if meta.get("id") is not None:
        return str(meta["id"])
    if default_id is not None:
        return default_id
    # No id anywhere: a short content hash, stable across runs, so caching and resume still work.
    blob = json.dumps(record, sort_keys=True, default=str, ensure_ascii=False).encode()
    return "h" + hashlib.sha1(blob).hexdigest()[:12]


_RESERVED = {"id", "unique_id", "sample_id", "pair_id", "messages", "query", "prompt", "responses", "label",
             "metadata", "input", "output", "chosen", "rejected"}


def sample_from_record(record: Mapping[str, Any], *, default_id: str | None = None) -> Sample:
    """Build a :class:`Sample` from a record in any accepted shape; raise :class:`RecordError` otherwise."""
    if not isinstance(record, Mapping):
        raise RecordError("<row>", f"expected a JSON object, got {type(record).__name__}")
    meta = _metadata(record.get("metadata"))
    extra = {k: v for k, v in record.items() if k not in _RESERVED}
    # A null counts as absent: parquet (and pandas-made JSON) give every row every column, null where unset.
    present = {k for k, v in record.items() if v is not None}
    def need(*names: str) -> str:  # the first of ``names`` the record has, else a "missing" error for the first
        found = next((n for n in names if n in present), None)
        if found is None:
            raise _missing(names[0], record)
        return found

    if "input" in present or "output" in present:  # RM-Gallery pairwise record
        messages = _messages(record[need("input")], "input")
        responses = _responses(record[need("output")], "output")
        label = _label(record.get("label"), meta, "label")
    elif "chosen" in present or "rejected" in present:
        key = need("prompt", "messages", "query")
        messages = _messages(record[key], key)
        responses = (_response(record[need("chosen")], "chosen"), _response(record[need("rejected")], "rejected"))
        label = _label(record.get("label"), meta, "label") or Label(preferred="A")
    else:
        key = need("messages", "query", "prompt")
        messages = _messages(record[key], key)
        responses = _responses(record[need("responses")], "responses")
        label = _label(record.get("label"), meta, "label")
    try:
        return Sample(id=_record_id(record, meta, default_id), messages=messages, responses=responses,
                      label=label, metadata={**extra, **meta})
    except ValidationError as e:  # defensive: every field was checked above
        err = e.errors()[0]
        raise RecordError(".".join(str(p) for p in err["loc"]) or "<row>", err["msg"]) from None
