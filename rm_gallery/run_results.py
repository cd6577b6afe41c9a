"""What a run returns: per-sample results (in input order) and the run summary."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rm_gallery.types import Result, Usage


@dataclass
class SampleResult:
    """Everything graded for one sample: results by grader name and aggregates by aggregator name."""

    index: int
    sample_id: str
    results: dict[str, Result]
    aggregates: dict[str, Result] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Result:
        return self.results[name] if name in self.results else self.aggregates[name]


class RunResults(list[SampleResult]):
    """Per-sample results in input order; ``results["grader"]`` gives that grader's column (OpenJudge style)."""

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return [r[key] for r in self]
        return super().__getitem__(key)


@dataclass
class RunSummary:
    """What a run did: outcomes by kind per grader, parse-failure rate, tokens, requests, wall time."""

    samples: int = 0
    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0
    retries: int = 0
    #: Failed request attempts by HTTP status or error kind (429, 500, timeout, api_error...), retried or not.
    failures: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    resumed: int = 0
    #: Pairs graded again on resume because their stored result was an api_error or a timeout.
    retried: int = 0
    wall_s: float = 0.0

    def count(self, grader: str, result: Result) -> None:
        self.outcomes.setdefault(grader, Counter())[result.kind] += 1
        self.prompt_tokens += result.usage.prompt_tokens
        self.completion_tokens += result.usage.completion_tokens

    @property
    def usage(self) -> Usage:
        return Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)

    @property
    def parse_failure_rate(self) -> float:
        total = sum(sum(c.values()) for c in self.outcomes.values())
        failed = sum(c.get("parse_error", 0) for c in self.outcomes.values())
        return failed / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "outcomes": {g: dict(c) for g, c in self.outcomes.items()},
            "parse_failure_rate": round(self.parse_failure_rate, 6),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "requests": self.requests,
            "retries": self.retries,
            "failures": dict(self.failures),
            "cache_hits": self.cache_hits,
            "resumed": self.resumed,
            "retried": self.retried,
            "wall_s": round(self.wall_s, 3),
        }

    def table(self) -> str:
        """A plain-text table for terminals and logs."""
        kinds = sorted({k for c in self.outcomes.values() for k in c})
        rows = [["grader", *kinds, "total"]]
        for g, c in self.outcomes.items():
            rows.append([g, *(str(c.get(k, 0)) for k in kinds), str(sum(c.values()))])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        rate = self.samples / self.wall_s if self.wall_s else 0.0
        lines.append("")
        lines.append(f"samples {self.samples}  wall {self.wall_s:.2f}s ({rate:.0f}/s)  "
                     f"parse failures {self.parse_failure_rate:.1%}  requests {self.requests}  "
                     f"retries {self.retries}  cache hits {self.cache_hits}  resumed {self.resumed}  "
                     + (f"retried {self.retried}  " if self.retried else "")
                     + (f"failed attempts {dict(sorted(self.failures.items()))}  " if self.failures else "") +
                     f"tokens {self.prompt_tokens}+{self.completion_tokens}")
        return "\n".join(lines)
