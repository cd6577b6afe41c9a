"""Subcommands for local inference: ``demo`` (the main job), ``serve``, ``build-model`` and ``build-tiny-model``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import Any


def _cmd_demo(args: argparse.Namespace) -> int:
    from rm_gallery.loaders import load_samples
    from rm_gallery.local import demo, demo_report
    from rm_gallery.local.smollm2 import ModelBuildError
    from rm_gallery.local.vllm_server import VLLMServerError

    samples = load_samples(args.data or demo.bundled_pairs())
    with ExitStack() as stack:
        try:
            judge = demo.prepare_model(args, stack)
        except (VLLMServerError, ModelBuildError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        constrain = judge.random_weights if args.constrain is None else args.constrain
        results = asyncio.run(demo.grade_pairs(judge, samples, args, constrain))
    summary = demo_report.summarise(samples, results)
    info = demo.report_info(judge, args, samples, results, summary["judgments"])
    report = demo_report.write_report(args.out, summary, info)
    print(report.read_text())
    print(f"report: {report}\nresults: {args.out / 'results.jsonl'}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from rm_gallery.local.vllm_server import run

    return run(args)


def _cmd_build(args: argparse.Namespace) -> int:
    from rm_gallery.local.tiny_model import run

    return run(args)


def _cmd_build_model(args: argparse.Namespace) -> int:
    from rm_gallery.local.smollm2 import run

    return run(args)


def install(sub: Any) -> None:
    from rm_gallery.local import demo, smollm2, tiny_model, vllm_server

    p = sub.add_parser("demo", help="the main job: grade the bundled labelled pairs and write a report",
                       description=demo.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_arguments(p)
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("serve", help="serve a local model folder with vLLM on CPU")
    vllm_server.add_arguments(p)
    p.set_defaults(func=_cmd_serve)
    p = sub.add_parser("build-model", help="build a built-in model folder: smollm2 (the real default judge, "
                                           "SmolLM2-135M-Instruct) or tiny (random weights); cached, offline")
    smollm2.add_arguments(p)
    p.set_defaults(func=_cmd_build_model)
    p = sub.add_parser("build-tiny-model", help="build the tiny random test model (offline, seconds)")
    tiny_model.add_arguments(p)
    p.set_defaults(func=_cmd_build)
