"""PaTaRM's primary rubrics per task domain (data files with score bands) and a simple domain router.

PaTaRM (arXiv 2510.24235v1, abstract) "employs a task-adaptive rubric system that flexibly generates
evaluation criteria for both global task consistency and instance-specific fine-grained reasoning": the
primary rubrics here are the global part, the 1-3 rubrics the judge writes in ``<generate_rubrics>`` the
instance-specific part. Only the paper's first page is stored on this machine; its appendix (the rubric text)
and Figure 10 (the prompt) could not be read, so each file's ``source`` block marks what is the paper's.

The paper's domains are chat, math, code and safety ("Both modes use task-adaptive rubrics for math, code,
chat, and safety tasks.", the authors' model card). ``instruction_following`` is an rm_gallery extension,
used only when asked for by name; the router sends instruction-following prompts to the paper's chat rubric.
Each file's ``source`` block says which parts are the paper's (see the comments at the top of each file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from rm_gallery.types import Sample

#: The task domains of PaTaRM's primary rubrics.
PAPER_DOMAINS = ("chat", "math", "code", "safety")
DOMAINS = (*PAPER_DOMAINS, "instruction_following")
SCALE = range(0, 11)


@dataclass(frozen=True)
class Rubric:
    name: str
    description: str
    bands: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class DomainRubrics:
    domain: str
    description: str
    primary: tuple[Rubric, ...]
    #: Provenance per part (domain, names, bands, wording): "paper" or "rm_gallery".
    source: tuple[tuple[str, str], ...] = ()


def band_scores(band: str) -> range:
    """The integer scores a band such as ``"6-7"`` or ``"0"`` covers."""
    low, _, high = band.partition("-")
    return range(int(low), int(high or low) + 1)


def _check_bands(domain: str, rubric: Rubric) -> None:
    covered = sorted(v for band, _ in rubric.bands for v in band_scores(band))
    if covered != list(SCALE):
        raise ValueError(f"rubrics/{domain}.yaml: rubric {rubric.name!r}: bands must cover 0-10 once each, "
                         f"got {[b for b, _ in rubric.bands]}")


@cache
def load_rubrics(domain: str) -> DomainRubrics:
    """The primary rubrics shipped for ``domain`` (``rm_gallery/prompts/rubrics/<domain>.yaml``)."""
    import yaml

    if domain not in DOMAINS:
        raise ValueError(f"unknown rubric domain {domain!r} (known: {', '.join(DOMAINS)})")
    text = (resources.files("rm_gallery.prompts") / "rubrics" / f"{domain}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    primary = tuple(Rubric(r["name"], r["description"], tuple((b["range"], b["description"]) for b in r["bands"]))
                    for r in data["primary"])
    for rubric in primary:
        _check_bands(domain, rubric)
    source = tuple((k, str(v)) for k, v in (data.get("source") or {}).items())
    return DomainRubrics(data["domain"], data["description"], primary, source)


# Benchmark subset and source names that fix the domain (RewardBench, RM-Bench, HelpSteer-style tags).
# LLMBar and IFEval-style prompts go to the paper's chat rubric (RewardBench files LLMBar under Chat Hard).
_SUBSET_PREFIXES = (("hep-", "code"), ("math", "math"), ("refusals", "safety"), ("xstest", "safety"),
                    ("donotanswer", "safety"), ("safety", "safety"), ("llmbar", "chat"),
                    ("ifeval", "chat"), ("code", "code"), ("chat", "chat"), ("alpacaeval", "chat"),
                    ("mt-bench", "chat"))
_CODE = re.compile(r"```|\bdef |\bfunction\b|\bclass \w+|#include|\bpython\b|\bjavascript\b|\bjava\b|\bc\+\+|"
                   r"\brust\b|\bgolang\b|\bsql\b|\bregex\b|\bcompile|\bimplement\w*\b", re.IGNORECASE)
_MATH = re.compile(r"\\frac|\\sqrt|\$[^$]+\$|\b(solve|calculate|compute|equation|integral|derivative|probability|"
                   r"prove|theorem)\b|\d+\s*[-+*/^=]\s*\d+", re.IGNORECASE)
_SAFETY = re.compile(r"\b(kill|weapon|bomb|explosive|poison|hack|steal|drugs?|suicide|self-harm|malware|"
                     r"illegal|attack|hurt)\b", re.IGNORECASE)


def route_domain(sample: Sample) -> str:
    """The rubric domain: ``metadata["domain"]`` if set (any of :data:`DOMAINS`), else one of the paper's
    domains from the subset name or keyword cues in the query (chat when nothing else fits)."""
    meta = sample.metadata
    explicit = meta.get("domain") or meta.get("task_domain")
    if isinstance(explicit, str) and explicit in DOMAINS:
        return explicit
    for key in ("subset", "source", "task_category"):
        value = meta.get(key)
        if isinstance(value, str):
            low = value.lower()
            for prefix, domain in _SUBSET_PREFIXES:
                if low.startswith(prefix):
                    return domain
    query = sample.query
    if _CODE.search(query):
        return "code"
    if _MATH.search(query):
        return "math"
    if _SAFETY.search(query):
        return "safety"
    return "chat"
