"""The ``rm-gallery`` command line. Every user error is one line on stderr and a non-zero exit code."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error to print as one line (``error: ...``) before exiting with ``code``."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _user_errors() -> tuple[type[BaseException], ...]:
    from rm_gallery.client.errors import EndpointUnreachable
    from rm_gallery.config import ConfigError
    from rm_gallery.graders.registry import UnknownGrader
    from rm_gallery.loaders import DataError
    from rm_gallery.prompts import TemplateError
    from rm_gallery.results_io import ResultsFileError

    return (DataError, ConfigError, TemplateError, UnknownGrader, ResultsFileError, EndpointUnreachable)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_kv(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key] = _parse_value(value)
    return out


def report_interrupt(args: argparse.Namespace, done: str) -> None:
    """After Ctrl-C: say what is saved and print the exact command that resumes the run."""
    resume_cmd = shlex.join(["rm-gallery", *(a for a in sys.argv[1:] if a != "--overwrite")])
    if "--resume" not in sys.argv:
        resume_cmd += " --resume"
    print(f"\ninterrupted; {done}.\nresume with: {resume_cmd}", file=sys.stderr)
    args.interrupt_reported = True


async def check_models(models: Iterable[Any]) -> None:
    """Fail fast (EndpointUnreachable) when a model's endpoint does not answer at all."""
    for m in models:
        check = getattr(m, "check_reachable", None)
        if check is not None:
            await check()


async def close_models(models: Iterable[Any]) -> None:
    for m in models:
        close = getattr(m, "aclose", None)
        if close is not None:
            await close()


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Flags that build the judge model; the same names as the ``model:`` keys in config files."""
    g = p.add_argument_group("judge model")
    g.add_argument("--model", help="model name on the server (or a local path with --backend transformers)")
    g.add_argument("--base-url", action="append", dest="base_url",
                   help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeat for replicas)")
    g.add_argument("--api-key-env", default=None, help="environment variable holding the API key")
    g.add_argument("--backend", choices=("openai", "transformers"), default="openai")
    g.add_argument("--transport", choices=("auto", "http11", "aiohttp", "openai"), default="auto",
                   help="HTTP client: auto = lean HTTP/1.1 for http://, aiohttp for https:// (default)")
    g.add_argument("--system-role", choices=("native", "merge"), default="native",
                   help="merge: fold system text into the first user turn (for models without a system role)")
    g.add_argument("--timeout", type=float, default=120.0, help="seconds per request attempt")
    g.add_argument("--max-retries", type=int, default=5)
    g.add_argument("--rps", type=float, default=None, help="requests per second limit")


def model_spec(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {"model": args.model, "backend": args.backend}
    if args.backend == "openai":
        spec.update(transport=args.transport, system_role=args.system_role, timeout=args.timeout,
                    max_retries=args.max_retries, requests_per_second=args.rps)
        if args.base_url:
            spec["base_url"] = args.base_url if len(args.base_url) > 1 else args.base_url[0]
        if args.api_key_env:
            spec["api_key_env"] = args.api_key_env
    return spec


# -- grade --------------------------------------------------------------------------------------------


def _add_grade(sub: Any) -> None:
    p = sub.add_parser("grade", help="grade a data file (json, jsonl, parquet) with one or more graders",
                       description="Grade every sample of DATA; results stream to --out as they complete.")
    p.add_argument("data", help="data file: .json, .jsonl or .parquet")
    p.add_argument("--grader", action="append", help="registered grader name (repeatable)")
    p.add_argument("--config", help="YAML/JSON config with graders, model, aggregators and runner settings")
    p.add_argument("--param", action="append", help="sampling parameter KEY=VALUE (JSON value), e.g. temperature=0")
    p.add_argument("--grader-arg", action="append", help="grader keyword argument KEY=VALUE (JSON value)")
    p.add_argument("--template", help="path of a .j2 template overriding the grader's own")
    p.add_argument("--out", help="results JSONL (default: results/<data>.<graders>.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue a previous run into the same --out")
    p.add_argument("--retry-errors", action="store_true",
                   help="with --resume, grade again the pairs that ended in an api_error or a timeout")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--cache", default=os.environ.get("RM_GALLERY_CACHE", "~/.cache/rm_gallery/responses.sqlite"))
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--limit", type=int, help="grade only the first N samples")
    p.add_argument("--on-error", choices=("raise", "skip"), default="raise",
                   help="malformed input rows: stop with an error (default) or skip them and report")
    p.add_argument("--no-progress", action="store_true")
    add_model_arguments(p)
    from rm_gallery.distributed.cli import add_ray_arguments

    add_ray_arguments(p)
    p.set_defaults(func=cmd_grade)


def config_data(args: argparse.Namespace) -> dict[str, Any]:
    """The config mapping (as in a config file) that --config and the --grader/--model flags describe."""
    from rm_gallery.config import read_config_file

    data: dict[str, Any] = read_config_file(args.config) if args.config else {}
    if args.model:
        data["model"] = model_spec(args)
    if args.grader:
        extra = parse_kv(args.grader_arg, "--grader-arg")
        params = parse_kv(args.param, "--param")
        graders = data.setdefault("graders", {})
        for name in args.grader:
            entry: dict[str, Any] = {"grader": name, **extra}
            if params:
                entry["params"] = params
            if args.template:
                entry["template"] = args.template
            graders[name] = entry
    if not data.get("graders"):
        raise CLIError("no grader chosen: pass --grader NAME (see `rm-gallery graders`) or --config FILE")
    return data


def _build_graders(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Graders, aggregators and runner settings from --config and/or --grader flags."""
    from rm_gallery.config import build_config

    cfg = build_config(config_data(args), source=args.config or "command line")
    return cfg.graders, cfg.aggregators, cfg.runner


def _print_skipped(skipped: list[str], summary_file: str | None) -> None:
    """The first 20 skipped rows on stderr, one line each."""
    for line in skipped[:20]:
        print(f"skipped: {line}", file=sys.stderr)
    if len(skipped) > 20:
        see = f" (see {summary_file})" if summary_file else ""
        print(f"skipped: ... and {len(skipped) - 20} more{see}", file=sys.stderr)


def _check_data(data_path: Path, args: argparse.Namespace) -> None:
    """Validate every row before the judge is contacted: bad data is reported as such, even behind a dead URL,
    and a run never stops half-way on row N. One streaming pass, no Sample kept (a few seconds per 100k rows)."""
    import time

    from rm_gallery.loaders import check_samples

    start = time.monotonic()
    report = check_samples(data_path, on_error=args.on_error, limit=args.limit)
    if report.rows == 0 and args.limit != 0:  # never a silent 0: say there is nothing to grade, and why
        _print_skipped(report.skipped, None)
        why = f"all {len(report.skipped)} rows were malformed and skipped" if report.skipped else "it has no records"
        raise CLIError(f"{data_path}: no samples graded: {why}")
    took = time.monotonic() - start
    if took > 2 and not args.no_progress:
        print(f"checked {report.rows} rows of {data_path} in {took:.0f}s", file=sys.stderr)


async def _grade(args: argparse.Namespace) -> int:
    from rm_gallery.loaders import LoadReport, detect_format, iter_samples
    from rm_gallery.runner import GradingRunner, models_of

    data_path = Path(args.data)
    if not data_path.exists():
        raise CLIError(f"{data_path}: no such file")
    detect_format(data_path)
    graders, aggregators, runner_cfg = _build_graders(args)
    out = Path(args.out) if args.out else Path("results") / f"{data_path.stem}.{'+'.join(graders)}.jsonl"
    if args.retry_errors and not args.resume:
        raise CLIError("--retry-errors re-grades failed pairs of a previous run: use it with --resume")
    if out.exists() and out.stat().st_size and not (args.resume or args.overwrite):
        raise CLIError(f"{out} already exists: pass --resume to continue it or --overwrite to replace it")
    _check_data(data_path, args)
    models = {id(m): m for c in graders.values() for m in models_of(c.grader)}
    try:
        await check_models(models.values())
    except BaseException:  # unreachable, or Ctrl-C: close the clients' sessions before saying so
        await close_models(models.values())
        raise
    report = LoadReport()
    samples = iter_samples(data_path, on_error=args.on_error, report=report, limit=args.limit)
    runner_cfg.setdefault("concurrency", args.concurrency)
    runner = GradingRunner(graders, aggregators=aggregators, output=out,
                           resume=args.resume or bool(runner_cfg.pop("resume", False)),
                           retry_errors=args.retry_errors or bool(runner_cfg.pop("retry_errors", False)),
                           cache=None if args.no_cache else runner_cfg.pop("cache", args.cache),
                           progress=False if args.no_progress else None,
                           **{k: v for k, v in runner_cfg.items() if k != "cache"})
    try:
        async for _ in runner.astream(samples):
            pass
    except (KeyboardInterrupt, asyncio.CancelledError):
        report_interrupt(args, f"{runner.summary.samples} samples done, every finished result is in {out}")
        raise
    finally:
        await close_models(models.values())
        if runner.cache is not None:
            runner.cache.close()
    summary = runner.summary.to_dict() | {"data": str(data_path), "results": str(out),
                                          "skipped_rows": report.skipped}
    Path(str(out) + ".summary.json").write_text(json.dumps(summary, indent=2))
    print(runner.summary.table())
    _print_skipped(report.skipped, f"{out}.summary.json")
    print(f"results: {out}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    if args.ray is not None:
        from rm_gallery.distributed.cli import grade_with_ray

        return grade_with_ray(args)
    try:
        return asyncio.run(_grade(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        if not getattr(args, "interrupt_reported", False):
            print("\ninterrupted before grading started", file=sys.stderr)
        return EXIT_INTERRUPTED


# -- graders ------------------------------------------------------------------------------------------


def _add_graders(sub: Any) -> None:
    p = sub.add_parser("graders", help="list registered graders (built-in and plugins)")
    p.add_argument("-v", "--verbose", action="store_true", help="also show each grader's keyword arguments")
    p.set_defaults(func=cmd_graders)


def cmd_graders(args: argparse.Namespace) -> int:
    from rm_gallery.graders.registry import list_graders

    specs = list_graders()
    width = max(len(s.name) for s in specs)
    for s in specs:
        print(f"{s.name.ljust(width)}  {s.description}")
        if args.verbose:
            print(f"{' ' * width}  args: {', '.join(s.parameters())}  ({s.source})")
    return 0


# -- entry point --------------------------------------------------------------------------------------

#: Subcommand installers defined here.
SUBCOMMANDS: list[Callable[[Any], None]] = [_add_grade, _add_graders]
#: Subsystems that install their own subcommands with ``install(subparsers)``. They must keep heavy
#: imports (torch, datasets, matplotlib) inside their command functions so ``--help`` stays instant.
SUBCOMMAND_MODULES = ("rm_gallery.local.cli", "rm_gallery.benchmarks.cli", "rm_gallery.training.cli",
                      "rm_gallery.metaeval.cli", "rm_gallery.distributed.cli")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(prog="rm-gallery", description="LLM judges: grade, benchmark, train.")
    sub = parser.add_subparsers(dest="command", required=True)
    for install in SUBCOMMANDS:
        install(sub)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.install(sub)
    return parser


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C until the block ends, then raise it: an interrupt that lands inside a module's import can
    crash an extension's initialisation (a Rust panic in pydantic-core) or make CPython exit by SIGINT later."""
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        with _sigint_deferred():  # building the parser imports every subsystem
            parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling: one line, no traceback
        if not getattr(args, "interrupt_reported", False):
            print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CLIError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.code
    except _user_errors() as e:
        from rm_gallery.client.errors import EndpointUnreachable

        print(f"error: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE if isinstance(e, EndpointUnreachable) else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
