"""Shared fixtures: an in-process stub server and samples built from the real RewardBench rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rm_gallery.client import OpenAIChatModel
from rm_gallery.testing.stub_server import StubServer

ROOT = Path(__file__).resolve().parents[1]


def _find_shared_data() -> Path:
    """The real benchmark data beside the checkout (``../shared/data``); ``RM_GALLERY_SHARED_DATA`` overrides."""
    env = os.environ.get("RM_GALLERY_SHARED_DATA")
    candidates = [Path(env)] if env else [ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data",
                                          Path("/work/shared/data")]
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_DATA = _find_shared_data()
REWARDBENCH = SHARED_DATA / "rewardbench" / "rewardbench_llmbar_hep.jsonl"
RMBENCH = SHARED_DATA / "rm-bench"


def skip_or_fail(reason: str) -> None:
    """Skip locally; under scripts/test.sh (CI) a missing real component fails, so nothing passes by skipping."""
    if os.environ.get("RM_GALLERY_REQUIRE_REAL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
async def stub():
    async with StubServer(record=True) as srv:
        yield srv


@pytest.fixture
async def make_model():
    """Build a client for a base_url with fast retries; closes every client at the end of the test."""
    made: list[OpenAIChatModel] = []

    def factory(base_url, **kw):
        from rm_gallery.client import RetryPolicy

        kw.setdefault("retry", RetryPolicy(max_retries=3, base=0.01, max_backoff=0.05))
        kw.setdefault("timeout", 5.0)
        m = OpenAIChatModel("stub-judge", base_url=base_url, **kw)
        made.append(m)
        return m

    yield factory
    for m in made:
        await m.aclose()


@pytest.fixture(scope="session")
def rewardbench_rows() -> list[dict]:
    if not REWARDBENCH.exists():
        skip_or_fail(f"shared data not found at {REWARDBENCH} (set RM_GALLERY_SHARED_DATA)")
    with open(REWARDBENCH) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def short_rewardbench_rows(rewardbench_rows) -> list[dict]:
    """Rows short enough for the tiny model's context (its small vocabulary spends many tokens per word)."""
    return [r for r in rewardbench_rows if len(r["prompt"]) + len(r["chosen"]) + len(r["rejected"]) < 1500]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The project's tiny random Qwen2-style model, built once per test session (needs torch + transformers)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from rm_gallery.local.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


# -- the real vLLM server (integration tests) ---------------------------------------------------------

#: Name the tiny model is served under.
TINY_SERVED_NAME = "tiny"


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """Python of the vLLM venv (scripts/setup_vllm_env.sh); skips locally when it is not set up."""
    from rm_gallery.local.vllm_server import default_vllm_python

    python = default_vllm_python()
    if not python.exists():
        skip_or_fail(f"vLLM venv not found at {python}; run scripts/setup_vllm_env.sh")
    return python


@pytest.fixture(scope="session")
def vllm_server(tiny_model_dir: Path, vllm_python: Path):
    """One vLLM server per test session serving the tiny model as ``"tiny"`` (float32, for exact logprobs).

    On teardown it checks that the server's whole process group is gone.
    """
    from rm_gallery.local.vllm_server import VLLMServer, process_group_alive

    server = VLLMServer(tiny_model_dir, python=vllm_python, served_model_name=TINY_SERVED_NAME, dtype="float32",
                        max_model_len=4096, startup_timeout=300)
    with server:
        pgid = server.pgid
        yield server
    assert pgid is not None and not process_group_alive(pgid), "vLLM process group survived stop()"


@pytest.fixture(scope="session")
def vllm_judge(vllm_server):
    """The served tiny judge: ``.base_url`` and ``.model_name`` (alias of ``vllm_server``)."""
    return vllm_server


# -- a local Ray cluster (distributed grading) ----------------------------------------------------------


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray cluster started by the tests (``ray.init(num_cpus=2)``), once per session; its GCS address."""
    try:
        import ray
    except ImportError:
        skip_or_fail("Ray is not installed: pip install 'rm_gallery[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


# -- the built-in real judge, SmolLM2-135M-Instruct, on vLLM (integration tests) ----------------------------------
# (added by the demo work; a session-wide fixture: one server for every test that needs the real model)


@pytest.fixture(scope="session")
def smollm2_server(vllm_python: Path):
    """One vLLM server per test session serving the built-in real judge (``rm-gallery build-model smollm2``).

    Served under its built-in served name (``smollm2-135m-instruct``), float32 as the built-in model is built.
    """
    from rm_gallery.local.models import BUILTIN, resolve_model
    from rm_gallery.local.smollm2 import ModelBuildError
    from rm_gallery.local.vllm_server import VLLMServer

    try:
        model_dir = resolve_model("smollm2")
    except (ModelBuildError, ImportError) as exc:
        skip_or_fail(f"the built-in SmolLM2 judge could not be built ({exc}); run scripts/setup_real_judge.sh")
    server = VLLMServer(model_dir, python=vllm_python, served_model_name=BUILTIN["smollm2"].served_name,
                        dtype="float32", max_model_len=2048, startup_timeout=300)
    with server:
        yield server
